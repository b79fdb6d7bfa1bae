"""Custobar: identify -> customers, delete -> customers (is_deleted), Order Completed -> sales,
other track events -> events. Uploads are batched: one POST per endpoint per batch."""
from __future__ import annotations

import logging
from functools import partial
from collections import Counter
from typing import Any, Iterator, Sequence

from destinations.base import Call, Destination, Outcome, OutcomeStatus, Prepared, not_attempted
from destinations.custobar.customers import customer_names, merge_customers
from destinations.ordering import Kinds, members, merge_units, plan_steps, same_customer, send_in_order, spread
from destinations.custobar.client import CustobarClient
from destinations.custobar.mapper import map_event
from destinations.custobar.settings import CustobarSettings
from destinations.custobar.upload import Endpoint, Upload
from destinations.errors import DeliveryError, RejectedEvent

log = logging.getLogger(__name__)

#: refusals of a multi-event upload that may be about one record: split the upload and send again
SPLIT_STATUSES = frozenset({400, 413, 422})

#: the kind of a delete: an upload to the customers endpoint of its own, after everything else
DELETE = "delete"
KINDS = Kinds(
    order=(Endpoint.CUSTOMERS.value, Endpoint.SALES.value, Endpoint.EVENTS.value, DELETE),
    profile=frozenset({Endpoint.CUSTOMERS.value, DELETE}),
    final=frozenset({DELETE}),
)
#: the batch items one record (or an order's rows) stands for, and the records
Unit = tuple[list[int], list[dict[str, Any]]]


class CustobarDestination(Destination):
    slug = "custobar"
    display_name = "Custobar"
    handles = frozenset({"identify", "track", "delete"})
    settings_schema = CustobarSettings
    max_batch_size = 500
    default_batch_size = 100
    # the vendor plugins' "default request limit" (not in Custobar's docs)
    default_rate_limit = "180/minute"

    def __init__(self, settings: dict[str, Any], **kw: Any) -> None:
        super().__init__(settings, **kw)
        self.client = CustobarClient(settings, self.throttle)

    def map(self, event: dict[str, Any]) -> Upload:
        return map_event(event, self.settings)

    def send(self, batch: Sequence[Prepared]) -> list[Outcome]:
        """One POST per endpoint (and per max_records_per_request records), customers first;
        each customer's calls in the order received (destinations/ordering.py). Deletes go in
        an upload of their own after the rest, so nothing about a customer follows its erasure."""
        self.count_left_out(batch)
        steps = plan_steps(batch, kind_of, KINDS)
        return send_in_order(batch, steps, partial(self.requests, batch), KINDS)

    def requests(self, batch: Sequence[Prepared], kind: str, indexes: list[int]) -> Iterator[Call]:
        endpoint = Endpoint.CUSTOMERS if kind == DELETE else Endpoint(kind)
        if endpoint is Endpoint.CUSTOMERS and kind != DELETE:
            # one record per customer, the newest value of each field: Custobar documents no
            # order for two records of one customer in an upload (one named by email only too)
            units = merge_units(indexes, lambda i: batch[i].payload.records, same_customer(customer_names), merge_customers)
        else:
            units = [([i], batch[i].payload.records) for i in indexes]
        for chunk in chunks(units, self.settings["max_records_per_request"]):
            yield members(chunk), partial(self.upload_units, endpoint, chunk)

    def upload_units(self, endpoint: Endpoint, units: list[Unit]) -> Outcome | list[Outcome] | None:
        return spread(units, self.upload(endpoint, units))

    def upload(self, endpoint: Endpoint, units: list[Unit]) -> Outcome | list[Outcome]:
        """Send these units' records in one request; one outcome, or one per unit.

        Custobar refuses a whole upload for one bad record, so a refused upload
        of several events is split in halves and each half sent again, until
        the good events are delivered and only the bad one is rejected.
        """
        records = [record for _, unit_records in units for record in unit_records]
        try:
            return self.client.upload(endpoint, records)
        except RejectedEvent as exc:
            if len(units) > 1 and exc.status in SPLIT_STATUSES:
                return self.split(endpoint, units)
            raise

    def split(self, endpoint: Endpoint, units: list[Unit]) -> list[Outcome]:
        """Each half of a refused upload sent again; once a half must be retried, the other waits."""
        middle = len(units) // 2
        outcomes: list[Outcome] = []
        for half in (units[:middle], units[middle:]):
            retrying = next((o for o in outcomes if o.status is OutcomeStatus.RETRY), None)
            if retrying:
                outcomes += [not_attempted(retrying)] * len(half)
                continue
            try:
                result = self.upload(endpoint, half)
            except DeliveryError as exc:
                result = Outcome.from_error(exc)
            outcomes += [result] * len(half) if isinstance(result, Outcome) else result
        return outcomes

    def tally(self, payload: Upload) -> dict[str, int]:
        """Traits with nowhere to go (no Custobar field, no company_prefix) show in the stats."""
        return {"left_out_traits": len(payload.left_out)} if payload.left_out else {}

    def count_left_out(self, batch: Sequence[Prepared]) -> None:
        """Log (names only, never values) the traits that had nowhere to go."""
        names = Counter(name for item in batch for name in item.payload.left_out)
        if names:
            log.info(
                "custobar: %d trait(s) left out, no Custobar field and no company_prefix: %s",
                sum(names.values()),
                ", ".join(sorted(names)),
            )

def kind_of(item: Prepared) -> str:
    return DELETE if item.event.get("type") == "delete" else item.payload.endpoint.value


def chunks(units: list[Unit], limit: int) -> Iterator[list[Unit]]:
    """Units in order, packed so a request carries at most ``limit`` records. A unit's
    records are never split; an order with more lines than ``limit`` goes alone."""
    chunk: list[Unit] = []
    size = 0
    for unit in units:
        count = len(unit[1])
        if chunk and size + count > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(unit)
        size += count
    if chunk:
        yield chunk
