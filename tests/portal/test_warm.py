"""A gunicorn worker freezes its start-up objects out of the cyclic collector's full collections."""

from __future__ import annotations

import gc
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_worker_hook_freezes_what_start_up_loaded(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the config module sets a default
    hooks = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert gc.get_freeze_count() == 0
    walked_before = len(gc.get_objects())  # what a full collection walks
    try:
        hooks["post_worker_init"](None)
        frozen = gc.get_freeze_count()
        assert frozen > 10_000
        # A full collection now walks only what was made after the freeze.
        assert len(gc.get_objects()) < walked_before - frozen // 2
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
