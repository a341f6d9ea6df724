"""A web worker's start: load what requests need, then keep it out of the cyclic collector's way.

A full collection walks every object the process holds. In a worker that is mostly what start-up
loaded (Django, the apps, every view module, the IAM catalog): about 150,000 objects, a 50-100 ms
pause in the middle of whichever request set it off (the reviews inbox's p95 over 20 requests was
one such pause). Loaded once and frozen (`gc.freeze`), they are never walked again; what requests
make is collected as before. gunicorn calls this in each worker after loading the application
(`post_worker_init` in deploy/gunicorn.conf.py).
"""

from __future__ import annotations

import gc


def warm_and_freeze() -> int:
    """Import every view (the URLconf), collect once, freeze what is left; returns how many
    objects are frozen."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - resolving the patterns imports every view module
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
