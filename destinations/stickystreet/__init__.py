"""Sticky Street loyalty: identify -> batch customer import, "Order Completed" -> activity, delete -> customer_delete."""
from __future__ import annotations

from functools import partial
from typing import Any, Iterator, Sequence

from destinations.base import Call, Destination, Outcome, OutcomeStatus, Prepared, not_attempted
from destinations.ordering import Kinds, members, merge_units, plan_steps, send_in_order, spread
from destinations.stickystreet.client import StickyStreetClient
from destinations.stickystreet.mapper import map_event
from destinations.stickystreet.profiles import Import, import_form, plan_imports
from destinations.stickystreet.settings import StickyStreetSettings

#: the order of a batch's calls: customers exist before the activity recorded for them
KINDS = Kinds(
    order=("customers_batch", "record_activity", "customer_delete"),
    profile=frozenset({"customers_batch", "customer_delete"}),
    final=frozenset({"customer_delete"}),
)


def merge_rows(older: dict[str, str], newer: dict[str, str]) -> dict[str, str]:
    """One customer's rows as one: the newer value of each column wins, the others are kept."""
    return {**older, **newer}
from destinations.errors import RejectedEvent, RetryableError


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
        """Customers first, then activity, then deletes, each customer's calls in the order
        received (see destinations/ordering.py)."""
        steps = plan_steps(batch, lambda item: item.payload["type"], KINDS)
        return send_in_order(batch, steps, partial(self.requests, batch), KINDS)

    def send_one(self, item: Prepared) -> Outcome:
        if item.payload["type"] == "customers_batch":
            return self.send([item])[0]
        return self.client.call(item.payload)

    def requests(self, batch: Sequence[Prepared], kind: str, indexes: list[int]) -> Iterator[Call]:
        if kind != "customers_batch":
            for i in indexes:
                yield [i], partial(self.client.call, batch[i].payload)
            return
        # one row per customer: with overwrite_duplicates=update an older row in another
        # import could otherwise land after the newer one
        units = merge_units(indexes, lambda i: batch[i].payload["customer"], lambda row: row["code"], merge_rows)
        plan = plan_imports(
            list(enumerate(row for _, row in units)),
            delimiter=self.settings["delimiter"],
            blank_is_change=self.settings["overwrite_duplicates"] == "update",
        )
        for n, reason in plan.refused.items():
            yield units[n][0], partial(Outcome.from_error, RejectedEvent(reason))
        for imp in plan.imports:
            chosen = [units[n] for n in imp.indexes]
            yield members(chosen), partial(self.import_units, imp, chosen)

    def import_units(self, imp: Import, units: list[tuple[list[int], dict[str, str]]]) -> Any:
        return spread(units, self.import_customers(imp))

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

