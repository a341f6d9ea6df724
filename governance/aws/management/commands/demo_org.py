"""`manage.py demo_org [--accounts N] [--seed S]`: seed the local AWS emulator with the demo organization."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.aws import demo
from governance.aws.demo import layout


class Command(BaseCommand):
    help = (
        "Create the demo AWS organization, flaws included, in the local emulator that AWS_ENDPOINT_URL points at. "
        "Refuses anything that is not a loopback address; does nothing when an organization already exists."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--accounts",
            type=int,
            default=layout.MIN_ACCOUNTS,
            help=f"accounts including the management account ({layout.MIN_ACCOUNTS} to {layout.MAX_ACCOUNTS})",
        )
        parser.add_argument("--seed", type=int, default=42, help="the same seed builds the same organization")

    def handle(self, *args: object, accounts: int, seed: int, **options: object) -> None:
        try:
            org = demo.build(accounts=accounts, seed=seed)
        except demo.DemoOrgExists as exists:
            self.stdout.write(str(exists))
            summary = {"created": False, "accounts": exists.accounts}
            self.stdout.write(json.dumps(summary))
            return
        except demo.DemoOrgError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Demo organization {org.organization_id} created in {org.summary['seconds']} s: "
            f"management account {org.management_account_id}, {len(org.accounts)} accounts."
        )
        self.stdout.write(json.dumps({"created": True, **org.summary}))
