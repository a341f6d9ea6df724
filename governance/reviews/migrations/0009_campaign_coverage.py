# What each closed campaign reviewed per AWS account (items, undecided), counted at close so that the
# compliance pages never read the items (services.close_campaign writes it from now on). The campaigns
# closed before this migration get theirs here, from their items as they stand: closed, they cannot
# change any more (0008).
#
# On PostgreSQL the database keeps the counts as written, as 0008 keeps what they count: a row is
# never updated or deleted, and none is written for a campaign that is not closed (whose items could
# still change). SQLite, the embedded demo database, has the services' checks only.

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, Q

from governance.reviews.migrations._postgres import on_postgresql

GUARD = """
CREATE FUNCTION reviews_coverage_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
      MESSAGE = format('the coverage of campaign %s was counted at its close: it cannot change', OLD.campaign_id);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM reviews_campaign c WHERE c.id = NEW.campaign_id AND c.status = 'closed') THEN
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
      MESSAGE = format('campaign %s is not closed: its coverage is counted when it closes', NEW.campaign_id);
  END IF;
  RETURN NEW;
END
$$
"""

INSTALL = [
    GUARD,
    "CREATE TRIGGER reviews_coverage_kept BEFORE INSERT OR UPDATE OR DELETE ON reviews_coverage FOR EACH ROW "
    "EXECUTE FUNCTION reviews_coverage_kept()",
]

UNINSTALL = [
    "DROP TRIGGER IF EXISTS reviews_coverage_kept ON reviews_coverage",
    "DROP FUNCTION IF EXISTS reviews_coverage_kept()",
]


def backfill(apps, schema_editor):
    """One grouped read of the closed campaigns' items; the rows are few (campaigns x accounts)."""
    ReviewItem = apps.get_model("reviews", "ReviewItem")
    CampaignCoverage = apps.get_model("reviews", "CampaignCoverage")
    rows = (
        ReviewItem.objects.using(schema_editor.connection.alias)
        .filter(campaign__status="closed")
        .order_by()
        .values_list("campaign_id", "aws_account_id")
        .annotate(items=Count("id"), undecided=Count("id", filter=Q(decision="")))
    )
    CampaignCoverage.objects.using(schema_editor.connection.alias).bulk_create(
        (
            CampaignCoverage(campaign_id=campaign_id, aws_account_id=aws_id, items=items, undecided=undecided)
            for campaign_id, aws_id, items, undecided in rows.iterator()
        ),
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [("reviews", "0008_closed_campaign_guard")]

    operations = [
        migrations.CreateModel(
            name="CampaignCoverage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("aws_account_id", models.CharField(max_length=12)),
                ("items", models.PositiveIntegerField()),
                ("undecided", models.PositiveIntegerField()),
                (
                    "campaign",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="coverage",
                        to="reviews.campaign",
                    ),
                ),
            ],
            options={
                "db_table": "reviews_coverage",
                "constraints": [
                    models.UniqueConstraint(fields=("campaign", "aws_account_id"), name="reviews_coverage_account_once")
                ],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        on_postgresql(INSTALL, UNINSTALL),
    ]
