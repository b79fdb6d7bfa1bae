"""What destination filters cost per event in the worker: `python bench/filters_cost.py` (CPU only, no Redis)."""
import timeit
from router.filters import compile_filters
from router.transforms import stage
rules = compile_filters([
    {"if": {"event": {"equals": "Internal Ping"}}, "then": "drop"},
    {"if": {"properties.plan": {"in": ["free", "trial"]}}, "then": {"sample": 10}},
    {"then": {"drop_properties": ["ssn"]}},
    {"if": {"type": {"equals": "identify"}}, "then": {"allow_properties": ["email", "plan"]}},
])
ev = {"type": "track", "event": "Order Completed", "userId": "u2", "messageId": "m",
      "properties": {"plan": "pro", "revenue": 120, "ssn": "123", "products": [{"sku": "a", "price": 1}] * 5},
      "context": {"ip": "1.2.3.4", "library": {"name": "x", "version": "1"}}}
n = 50000
for label, r in (("issue example, 4 rules", rules), ("no filters", None)):
    t = min(timeit.repeat(lambda: stage(ev, r, None), number=n, repeat=5))
    print(f"{label}: {t / n * 1e6:.2f} us per event")
