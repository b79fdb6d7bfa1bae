"""Limits Yespo documents (vendor-specs.md, section 3; all confirmed)."""

#: characters Yespo refuses in eventTypeKey and keyValue: < ; ’ \ / | " ` ' ^ ? ! , >
FORBIDDEN_CHARS = frozenset("<;’\\/|\"`'^?!,>")
EVENT_TYPE_KEY_MAX = 100
KEY_VALUE_MAX = 300
#: one event body, as sent
EVENT_BODY_MAX_BYTES = 20 * 1024

PAST_EVENTS_PER_REQUEST = 500
ORDERS_PER_REQUEST = 1000
CONTACTS_PER_REQUEST = 3000

#: requests per second per endpoint (reference/API/rate-limits.md): the destination's
#: default limit and its "event" and "past_events" buckets (the import command uses the latter)
RATE_EVENTS = 350
RATE_PAST_EVENTS = 100
RATE_OTHER = 200
