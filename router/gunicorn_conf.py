"""gunicorn settings of the web process (``gunicorn_command`` passes ``-c python:router.gunicorn_conf``).

The garbage collector: a /v1/batch request holds a few thousand new dicts and lists (its parsed
body, the loaded events) and frees them all when it ends. With the default threshold (700 more
container allocations than frees) each such request ran several collections that walked every
live event again, a few percent of ingest's CPU; at 7,000 a request of 100 ~1 KB events runs none,
and what it left as garbage is still collected soon after. The objects loaded with the app
(modules, config, Flask) are frozen out of the collector's walks: they live as long as the worker.
"""
from __future__ import annotations

import gc
from typing import Any

#: gen-0 threshold (gc.set_threshold); the older generations keep their defaults
GEN0_THRESHOLD = 7000


def post_worker_init(worker: Any) -> None:
    """After the worker loaded the app, before it serves."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
