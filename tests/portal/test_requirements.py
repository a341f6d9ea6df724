"""The production install carries the runtime set only, and the portal starts from it.

`requirements.txt` pins what production installs; `requirements-dev.txt` adds the emulator, test,
lint and browser tools on top. A production start is simulated in a subprocess that cannot
import any package only the dev file brings (an import hook refuses them), so a module that
imports moto, pytest or Flask at import time fails here, not on an operator's server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

from tests.portal.test_settings import PRODUCTION

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = {"moto", "pytest", "pytest-django", "pytest-xdist", "pytest-playwright", "playwright", "hypothesis",
            "ruff", "oidc-provider-mock", "flask"}  # fmt: skip


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r"):
            continue
        name, _, version = line.partition("==")
        assert version, f"{path.name}: {line!r} is not pinned with =="
        pins[_canonical(name)] = version
    return pins


RUNTIME = _pins(ROOT / "requirements.txt")
DEV = _pins(ROOT / "requirements-dev.txt")


def test_it_keeps_emulator_test_and_lint_tools_out_of_the_runtime_set():
    assert set(DEV) >= DEV_ONLY
    assert not DEV_ONLY & set(RUNTIME)
    assert not set(RUNTIME) & set(DEV), "a package is pinned twice"
    assert (ROOT / "requirements-dev.txt").read_text().count("-r requirements.txt") == 1


def test_it_pins_everything_the_runtime_set_pulls_in():
    """Installing requirements.txt alone resolves to exactly its pins: nothing comes in unpinned."""
    wanted_extras: dict[str, set[str]] = {}
    for line in (ROOT / "requirements.in").read_text().splitlines():
        if line.split("#", 1)[0].strip():
            requirement = Requirement(line.split("#", 1)[0].strip())
            wanted_extras[_canonical(requirement.name)] = set(requirement.extras)
    assert set(wanted_extras) <= set(RUNTIME)
    missing = set()
    for name in RUNTIME:
        distribution = metadata.distribution(name)
        assert distribution.version == RUNTIME[name], f"{name} installed at {distribution.version}"
        for raw in distribution.requires or ():
            requirement = Requirement(raw)
            if requirement.marker is not None and not any(
                requirement.marker.evaluate({**default_environment(), "extra": extra})
                for extra in {"", *wanted_extras.get(name, ())}
            ):
                continue
            if _canonical(requirement.name) not in RUNTIME:
                missing.add(f"{requirement.name} (needed by {name})")
    assert not missing, f"requirements.txt lacks {sorted(missing)}"


_BLOCKER = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not part of the production install")
sys.meta_path.insert(0, Blocker())
sys.argv = [sys.argv[0], *sys.argv[2:]]
"""

_IMPORT_ALL = """
import importlib, pkgutil, django
django.setup()
import governance, portal
for package in (governance, portal):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if module.name not in DEV_MODULES:
            importlib.import_module(module.name)
from django.core.management import call_command
call_command("check", "--deploy", "--fail-level", "WARNING")
print("started without dev packages")
"""

# Modules that exist only for `make run` and the tests, and say so in their docstrings.
DEV_MODULES = {"portal.demo_idp"}


def _dev_only_modules() -> set[str]:
    """Top-level import names of the distributions that only requirements-dev.txt brings."""
    names = set()
    for module, distributions in metadata.packages_distributions().items():
        if all(_canonical(d) in DEV for d in distributions):
            names.add(module)
    return names - {"_pytest_django_test"}


def test_it_starts_in_production_without_any_dev_package():
    blocked = _dev_only_modules()
    assert {"moto", "pytest", "flask", "hypothesis"} <= blocked
    program = _BLOCKER + f"DEV_MODULES = {sorted(DEV_MODULES)!r}\n" + _IMPORT_ALL
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **PRODUCTION}
    result = subprocess.run(
        [sys.executable, "-c", program, ",".join(sorted(blocked))],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "started without dev packages" in result.stdout


def test_the_blocker_really_refuses_a_dev_package():
    program = _BLOCKER + "import moto\n"
    result = subprocess.run(
        [sys.executable, "-c", program, "moto"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "not part of the production install" in result.stderr
