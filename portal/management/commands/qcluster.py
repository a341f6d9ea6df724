"""django-q2's `qcluster`, refusing to start on a configuration the system checks reject.

Django's own pre-command check would run too, but `--skip-checks` turns it off and it leaves out
the deployment checks; a task cluster runs the writer session and the syncs, so it starts only
when the checks pass (portal/startup.py).
"""

from __future__ import annotations

from django_q.management.commands import qcluster

from portal.startup import refuse_unsafe_start


class Command(qcluster.Command):
    requires_system_checks: list[str] = []

    def handle(self, *args, **options):
        refuse_unsafe_start("qcluster")
        return super().handle(*args, **options)
