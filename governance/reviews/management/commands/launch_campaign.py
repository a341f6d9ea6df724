"""`manage.py launch_campaign --template NAME [--period P]`: launch now; JSON summary last.

The summary's keys are a stable interface: campaign (its id), items, reviewers, accounts, seconds.
Outside production, `--template quarterly` creates the demo's quarterly template when it is
missing, so `demo_org` + `sync_aws` + `launch_campaign --template quarterly` works from nothing.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from governance.reviews import launch
from governance.reviews.models import CampaignTemplate
from governance.reviews.templates_demo import ensure_demo_template


class Command(BaseCommand):
    help = "Launch an access review campaign from a template; prints a JSON summary last."

    def add_arguments(self, parser):
        parser.add_argument("--template", required=True, help="The template's name.")
        parser.add_argument("--period", default=None, help="The period (default: the current quarter, 2026-Q4).")

    def handle(self, *args, **options):
        name = options["template"]
        template = CampaignTemplate.objects.filter(name=name).first()
        if template is None and name == "quarterly" and not settings.PRODUCTION:
            template = ensure_demo_template()
        if template is None:
            known = ", ".join(CampaignTemplate.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No campaign template named {name!r} (templates: {known}).")
        try:
            result = launch.launch(template=template, actor=None, period=options["period"])
        except launch.LaunchError as exc:
            raise CommandError(str(exc)) from exc
        if not result.created:
            self.stderr.write(f"{result.campaign.name} was already launched; nothing was created.")
        self.stdout.write(json.dumps(result.summary()))
