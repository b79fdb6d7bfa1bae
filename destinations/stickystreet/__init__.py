"""Sticky Street loyalty: identify -> batch customer import, "Order Completed" -> activity, delete -> customer_delete."""
from __future__ import annotations

from functools import partial
from typing import Any, Iterator, Sequence

from destinations.base import Call, Destination, Outcome, OutcomeStatus, Prepared, not_attempted, send_calls
from destinations.stickystreet.client import StickyStreetClient
from destinations.stickystreet.mapper import map_event
from destinations.stickystreet.profiles import Import, import_form, plan_imports
from destinations.stickystreet.settings import StickyStreetSettings
from router.errors import RejectedEvent, RetryableError


class StickyStreetDestination(Destination):
    slug = "stickystreet"
    display_name = "Sticky Street"
    aliases = ("StickyStreet", "Sticky Street Loyalty", "Sticky Street API")
    handles = frozenset({"identify", "track", "delete"})
    settings_schema = StickyStreetSettings
    # the vendor publishes no batch or rate limit: conservative defaults, raise them per instance
    max_batch_size = 1000
    default_batch_size = 100
    default_rate_limit = "60/minute"

    def __init__(self, settings: dict[str, Any], **kw: Any) -> None:
        super().__init__(settings, **kw)
        self.client = StickyStreetClient(settings, self.throttle)

    def map(self, event: dict[str, Any]) -> dict[str, Any]:
        return map_event(event, self.settings)

    def send(self, batch: Sequence[Prepared]) -> list[Outcome]:
        return send_calls(len(batch), self.calls(batch))

    def send_one(self, item: Prepared) -> Outcome:
        if item.payload["type"] == "customers_batch":
            return self.send([item])[0]
        return self.client.call(item.payload)

    def calls(self, batch: Sequence[Prepared]) -> Iterator[Call]:
        """The calls a batch needs, in order: the customers imported together, then the
        activity recorded for them; a delete ends that run, so a customer deleted
        and then identified again in one batch ends up existing."""
        rows: list[tuple[int, dict[str, str]]] = []
        activities: list[int] = []
        for i, item in enumerate(batch):
            kind = item.payload["type"]
            if kind == "customers_batch":
                rows.append((i, item.payload["customer"]))
            elif kind == "record_activity":
                activities.append(i)
            else:
                yield from self.run(batch, rows, activities)
                rows, activities = [], []
                yield [i], partial(self.client.call, item.payload)
        yield from self.run(batch, rows, activities)

    def run(self, batch: Sequence[Prepared], rows: list[tuple[int, dict[str, str]]], activities: list[int]) -> Iterator[Call]:
        plan = plan_imports(
            rows,
            delimiter=self.settings["delimiter"],
            blank_is_change=self.settings["overwrite_duplicates"] == "update",
        )
        for i, reason in plan.refused.items():
            yield [i], partial(Outcome.from_error, RejectedEvent(reason))
        for imp in plan.imports:
            yield imp.indexes, partial(self.import_customers, imp)
        for i in activities:
            yield [i], partial(self.client.call, batch[i].payload)

    def import_customers(self, imp: Import) -> list[Outcome]:
        try:
            outcome = self.client.call(import_form(imp, self.settings))
        except RejectedEvent as exc:
            return self.isolate(imp, exc)
        return [outcome] * len(imp)

    def isolate(self, imp: Import, error: RejectedEvent) -> list[Outcome]:
        """Sticky Street refused a whole import: re-send its halves to find the customer it was about.

        The vendor answers per call, not per customer, so one bad row refuses
        them all. Splitting stops when both halves are refused too (then the
        refusal is not about one customer: credentials, campaigns...), so a
        general error costs two more calls and one bad customer about 2·log2(n).
        """
        if len(imp) == 1 or not self.settings["split_refused_batches"]:
            return [Outcome.from_error(error)] * len(imp)
        halves = imp.halves()
        results: list[Outcome | RejectedEvent] = []
        for half in halves:
            try:
                results.append(self.client.call(import_form(half, self.settings)))
            except RejectedEvent as exc:
                results.append(exc)
            except RetryableError as exc:
                results.append(Outcome.from_error(exc))
                break
        general = len(results) == 2 and all(isinstance(r, RejectedEvent) for r in results)
        outcomes: list[Outcome] = []
        # a half left unsent (after a retry) pairs with None and waits behind that retry
        for half, result in zip(halves, results + [None]):
            retrying = next((o for o in outcomes if o.status is OutcomeStatus.RETRY), None)
            if retrying or result is None:
                outcomes += [not_attempted(retrying or outcomes[-1])] * len(half)
            elif isinstance(result, Outcome):
                outcomes += [result] * len(half)
            elif general:
                outcomes += [Outcome.from_error(result)] * len(half)
            else:
                outcomes += self.isolate(half, result)
        return outcomes

