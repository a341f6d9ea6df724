"""`manage.py setup_schedules`: write the schedules declared in code to django-q2, idempotently."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize

from portal.schedules import MANAGED_PREFIX, ScheduleDeclarationError, sync_schedules


class Command(BaseCommand):
    help = (
        f"Insert or update the django-q2 schedules declared in each app's tasks.SCHEDULES (named {MANAGED_PREFIX}...)"
        " and remove the ones no longer declared; schedules created by hand are left alone."
    )

    def handle(self, *args, **options) -> None:
        try:
            result = sync_schedules()
        except ScheduleDeclarationError as exc:
            raise CommandError(str(exc)) from None
        for name in result.created:
            self.stdout.write(f"created {name}")
        for name, fields in result.updated:
            self.stdout.write(f"updated {name} ({', '.join(fields)})")
        for name in result.removed:
            self.stdout.write(f"removed {name}")
        total = len(result.created) + len(result.updated) + len(result.unchanged)
        if result.changed:
            self.stdout.write(
                f"{len(result.created)} created, {len(result.updated)} updated, {len(result.removed)} removed,"
                f" {len(result.unchanged)} unchanged."
            )
        else:
            self.stdout.write(f"No changes: {total} schedule{pluralize(total)} up to date.")
