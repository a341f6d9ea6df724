"""A long-running process refuses to start on a configuration the system checks reject.

`manage.py check` (and Django's own check before `migrate`) is one step of a deployment that an
operator may skip or run with other settings; the processes that serve and work are what must not
run misconfigured. gunicorn runs `python -m portal.startup gunicorn` from its `on_starting` hook
(deploy/gunicorn.conf.py), in a child process so that its master never imports Django and a HUP
still reloads the code; the task cluster runs `refuse_unsafe_start` from its own `qcluster`
command (portal/management/commands/qcluster.py), where `--skip-checks` no longer exists.

Production runs the deployment checks too. Errors refuse the start with each check's id, message
and hint; warnings are printed and the process starts.
"""

from __future__ import annotations

import io
import os
import sys

EXIT_REFUSED = 3


def refuse_unsafe_start(process: str) -> None:
    """Runs the system checks; on an error prints why and exits with EXIT_REFUSED."""
    import django
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    try:
        django.setup()
        report = io.StringIO()
        call_command("check", deploy=settings.PRODUCTION, stdout=report, stderr=report)
    except ImproperlyConfigured as exc:
        _refuse(process, str(exc))
    except SystemCheckError as exc:
        _refuse(process, str(exc).strip())
    warnings = report.getvalue().strip()
    if warnings and "no issues" not in warnings:
        print(warnings, file=sys.stderr, flush=True)


def _refuse(process: str, reason: str) -> None:
    print(f"Refusing to start {process}: the configuration fails Django's system checks.\n{reason}", file=sys.stderr)
    sys.stderr.flush()
    raise SystemExit(EXIT_REFUSED)


if __name__ == "__main__":
    refuse_unsafe_start(sys.argv[1] if len(sys.argv) > 1 else "the portal")
