"""What the mapper makes of one Segment event: records for one Custobar upload endpoint."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Endpoint(str, enum.Enum):
    """An upload endpoint; the value is also the key of the JSON wrapper (``{"customers": [...]}``)."""

    CUSTOMERS = "customers"
    SALES = "sales"
    EVENTS = "events"


@dataclass(frozen=True)
class Upload:
    """The records one event becomes. An order is one sale row per product line, and its
    rows always travel in the same request so the event has one outcome."""

    endpoint: Endpoint
    records: list[dict[str, Any]]
    #: traits that have no Custobar field and went nowhere (no company_prefix configured)
    left_out: tuple[str, ...] = field(default=())
