"""`manage.py explain_access --principal ARN --action ACTION --resource ARN [--context KEY=VALUE ...]`.

Prints, as JSON, the decision for the request and the deciding statements of every layer (SCPs
level by level, RCPs level by level, identity policies, permissions boundary), from the inventory.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from governance.scp.explain import ExplainError, explain, parse_context


class Command(BaseCommand):
    help = "Would this principal be allowed this action on this resource? The decision and its statements, as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--principal", required=True, metavar="ARN", help="IAM user, role or role session ARN")
        parser.add_argument("--action", required=True, metavar="ACTION", help="service:Action, e.g. s3:GetObject")
        parser.add_argument("--resource", required=True, metavar="ARN", help="the resource ARN (or *)")
        parser.add_argument(
            "--context", action="append", default=[], metavar="KEY=VALUE", help="a request context key (repeatable)"
        )

    def handle(self, *args, principal: str, action: str, resource: str, context: list[str], **options):
        try:
            answer = explain(principal_arn=principal, action=action, resource=resource, context=parse_context(context))
        except ExplainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(answer.as_dict(), indent=2, default=str))
