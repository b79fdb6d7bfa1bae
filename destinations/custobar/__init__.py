"""Custobar: identify -> customers, delete -> customers (is_deleted), Order Completed -> sales,
other track events -> events. Uploads are batched: one POST per endpoint per batch."""
from __future__ import annotations

import logging
from functools import partial
from collections import Counter
from typing import Any, Iterator, Sequence

from destinations.base import Destination, Outcome, OutcomeStatus, Prepared, group_by, not_attempted, send_calls
from destinations.custobar.client import CustobarClient
from destinations.custobar.mapper import map_event
from destinations.custobar.settings import CustobarSettings
from destinations.custobar.upload import Endpoint, Upload
from router.errors import DeliveryError, RejectedEvent

log = logging.getLogger(__name__)

#: refusals of a multi-event upload that may be about one record: split the upload and send again
SPLIT_STATUSES = frozenset({400, 413, 422})


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
        """One POST per endpoint (and per max_records_per_request records); an outcome per event."""
        self.count_left_out(batch)
        return send_calls(len(batch), (
            (chunk, partial(self.upload, endpoint, chunk, batch))
            for endpoint, indexes in group_by(batch, lambda item: item.payload.endpoint).items()
            for chunk in chunks(indexes, batch, self.settings["max_records_per_request"])
        ))

    def upload(self, endpoint: Endpoint, indexes: list[int], batch: Sequence[Prepared]) -> Outcome | list[Outcome]:
        """Send these events' records in one request.

        Custobar refuses a whole upload for one bad record, so a refused upload
        of several events is split in halves and each half sent again, until
        the good events are delivered and only the bad one is rejected.
        """
        records = [record for i in indexes for record in batch[i].payload.records]
        try:
            return self.client.upload(endpoint, records)
        except RejectedEvent as exc:
            if len(indexes) > 1 and exc.status in SPLIT_STATUSES:
                return self.split(endpoint, indexes, batch)
            raise

    def split(self, endpoint: Endpoint, indexes: list[int], batch: Sequence[Prepared]) -> list[Outcome]:
        """Each half of a refused upload sent again; once a half must be retried, the other waits."""
        middle = len(indexes) // 2
        outcomes: list[Outcome] = []
        for half in (indexes[:middle], indexes[middle:]):
            retrying = next((o for o in outcomes if o.status is OutcomeStatus.RETRY), None)
            if retrying:
                outcomes += [not_attempted(retrying)] * len(half)
                continue
            try:
                result = self.upload(endpoint, half, batch)
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

def chunks(indexes: list[int], batch: Sequence[Prepared], limit: int) -> Iterator[list[int]]:
    """Events in order, packed so a request carries at most ``limit`` records. An event's
    records are never split; an order with more lines than ``limit`` goes alone."""
    chunk: list[int] = []
    size = 0
    for i in indexes:
        count = len(batch[i].payload.records)
        if chunk and size + count > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(i)
        size += count
    if chunk:
        yield chunk
