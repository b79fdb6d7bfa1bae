"""Custobar: identify -> customers, delete -> customers (is_deleted), Order Completed -> sales,
other track events -> events. Uploads are batched: one POST per endpoint per batch."""
from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Iterator, Sequence

from destinations.base import Destination, Outcome, Prepared, group_by, not_attempted
from destinations.custobar.client import CustobarClient
from destinations.custobar.mapper import map_event
from destinations.custobar.settings import CustobarSettings
from destinations.custobar.upload import Endpoint, Upload
from router.errors import RejectedEvent, RetryableError, Throttled

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
        outcomes: list[Outcome | None] = [None] * len(batch)
        try:
            for endpoint, indexes in group_by(batch, lambda item: item.payload.endpoint).items():
                for chunk in chunks(indexes, batch, self.settings["max_records_per_request"]):
                    self.upload(endpoint, chunk, batch, outcomes)
        except Throttled as exc:
            # our own limiter: what wasn't sent waits, without spending an attempt
            return [o or Outcome.from_error(exc) for o in outcomes]
        except RetryableError as exc:
            # Custobar is down or over its limit: the rest waits without spending attempts
            return [o or not_attempted(exc) for o in outcomes]
        return outcomes  # type: ignore[return-value]

    def upload(self, endpoint: Endpoint, indexes: list[int], batch: Sequence[Prepared], outcomes: list[Outcome | None]) -> None:
        """Send these events' records in one request and settle their outcomes.

        Custobar refuses a whole upload for one bad record, so a refused upload
        of several events is split in halves and each half sent again, until
        the good events are delivered and only the bad one is rejected.
        """
        records = [record for i in indexes for record in batch[i].payload.records]
        try:
            outcome = self.client.upload(endpoint, records)
        except Throttled:
            raise
        except RetryableError as exc:
            for i in indexes:
                outcomes[i] = Outcome.from_error(exc)
            raise
        except RejectedEvent as exc:
            if len(indexes) > 1 and exc.status in SPLIT_STATUSES:
                middle = len(indexes) // 2
                self.upload(endpoint, indexes[:middle], batch, outcomes)
                self.upload(endpoint, indexes[middle:], batch, outcomes)
                return
            outcome = Outcome.from_error(exc)
        for i in indexes:
            outcomes[i] = outcome

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
