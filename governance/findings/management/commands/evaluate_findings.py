"""`manage.py evaluate_findings`: run the rules now; a one-line JSON summary is the last line."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from governance.findings import services


class Command(BaseCommand):
    help = "Run the findings rules now and print a JSON summary (rules, open, new, resolved, by_rule, seconds)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--account",
            action="append",
            dest="accounts",
            metavar="ID",
            help="Limit account rules to this AWS account id (repeatable); organization rules still run.",
        )
        parser.add_argument("--rule", action="append", dest="rules", metavar="RULE_ID", help="Run only this rule.")

    def handle(self, *args, accounts=None, rules=None, **options):
        for account in accounts or []:
            if not (account.isdigit() and len(account) == 12):
                raise CommandError(f"--account {account!r} is not a 12-digit AWS account id.")
        try:
            run = services.evaluate(account_ids=accounts, rule_ids=rules)
        except services.FindingsError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(services.Summary(run).as_dict(), sort_keys=False))
