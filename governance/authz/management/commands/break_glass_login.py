"""Print a one-time login link for the emergency local administrator (only with BREAK_GLASS_ENABLED)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from governance.authz import break_glass


class Command(BaseCommand):
    help = "Issue a one-time break-glass login link (requires BREAK_GLASS_ENABLED=true); audited."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="Who is breaking the glass (recorded in the audit log).")
        parser.add_argument("--reason", required=True, help="Why (recorded in the audit log).")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="The portal's external URL.")

    def handle(self, *args, email: str, reason: str, base_url: str, **options):
        if not break_glass.enabled():
            raise CommandError("Break-glass is disabled; set BREAK_GLASS_ENABLED=true for the portal to use it.")
        if "@" not in email or not reason.strip():
            raise CommandError("Give the e-mail of the person breaking the glass and a reason.")
        token = break_glass.issue_token(email=email, reason=reason.strip())
        path = reverse("authz:break_glass_login", kwargs={"token": token})
        self.stdout.write(
            f"One-time login link (valid {break_glass.link_minutes()} minutes, "
            f"session {break_glass.session_minutes()} minutes):"
        )
        self.stdout.write(base_url.rstrip("/") + path)
