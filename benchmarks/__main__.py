"""`make bench`: runs every benchmarks/bench_*.py and writes one JSON file per benchmark.

Each module defines `run() -> dict` returning its figures (and its target, where it has one).
Results go to benchmarks/results/<name>.json and a combined summary to stdout.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    wanted = set(argv)
    RESULTS.mkdir(exist_ok=True)
    summary = {}
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    for name in names:
        if wanted and name not in wanted and name.removeprefix("bench_") not in wanted:
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        started = time.perf_counter()
        result = module.run()
        result.setdefault("wall_seconds", round(time.perf_counter() - started, 3))
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        summary[name] = result
        print(json.dumps({name: result}, default=str), flush=True)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
