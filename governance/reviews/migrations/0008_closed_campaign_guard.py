# What was decided stays decided: on PostgreSQL the database refuses to change a locked review item
# (signed off, or closed with its campaign) or a closed campaign, whoever asks, as the services do.
#
# No item is added to a closed campaign: a row trigger on INSERT (every partition's, the DEFAULT one
# included, which a full launch's bare table gets only when attached, after its rows are in: the
# launch's million rows never call it, and reviews_item_partition_create makes a table only for an
# open campaign). A locked item may still go through remediation (its remediation_* fields, remediated_at,
# verified_at) and lose its decider when that user is deleted (decided_by to NULL, as Django's
# SET_NULL does); nothing else of it changes, and it is never deleted. A closed campaign may still
# have its remediation approved (remediation_approved_at/_by) and lose a deleted user
# (launched_by, remediation_approved_by to NULL); it is never reopened or deleted. Row triggers
# with a WHEN on the old row: an update of items that are not locked (a launch's providers, open
# decisions) never calls the function. On the partitioned reviews_item (0007) each partition, and
# each one a launch attaches later, gets the trigger from the parent. SQLite, the embedded demo
# database, has the services' checks only.

from django.db import migrations

from governance.reviews.migrations._postgres import on_postgresql

ITEM = """
CREATE FUNCTION reviews_item_locked_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  -- Both as the parent's row type: on a partition NEW and OLD are the partition's.
  allowed reviews_item;
  before reviews_item;
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
      MESSAGE = format('review item %s is locked (signed off or closed): it cannot be deleted', OLD.id);
  END IF;
  allowed := NEW;
  allowed.remediation_status := OLD.remediation_status;
  allowed.remediation_request_id := OLD.remediation_request_id;
  allowed.remediation_error := OLD.remediation_error;
  allowed.remediation_attempts := OLD.remediation_attempts;
  allowed.remediation_next_at := OLD.remediation_next_at;
  allowed.remediation_ticket := OLD.remediation_ticket;
  allowed.remediated_at := OLD.remediated_at;
  allowed.verified_at := OLD.verified_at;
  IF NEW.decided_by_id IS NULL THEN
    allowed.decided_by_id := OLD.decided_by_id;
  END IF;
  before := OLD;
  IF allowed IS DISTINCT FROM before THEN
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
      MESSAGE = format('review item %s is locked (signed off or closed): only its remediation may change', OLD.id);
  END IF;
  RETURN NEW;
END
$$
"""

CAMPAIGN = """
CREATE FUNCTION reviews_campaign_closed_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  allowed reviews_campaign;
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
      MESSAGE = format('campaign %s is closed: it cannot be deleted', OLD.id);
  END IF;
  allowed := NEW;
  allowed.remediation_approved_at := OLD.remediation_approved_at;
  allowed.remediation_approved_by_id := OLD.remediation_approved_by_id;
  IF NEW.launched_by_id IS NULL THEN
    allowed.launched_by_id := OLD.launched_by_id;
  END IF;
  IF allowed IS DISTINCT FROM OLD THEN
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
      MESSAGE = format('campaign %s is closed: only its remediation approval may change', OLD.id);
  END IF;
  RETURN NEW;
END
$$
"""

ADDED = """
CREATE FUNCTION reviews_item_closed_campaign_refused() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM reviews_campaign c WHERE c.id = NEW.campaign_id AND c.status = 'closed') THEN
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
      MESSAGE = format('campaign %s is closed: no item can be added to it', NEW.campaign_id);
  END IF;
  RETURN NEW;
END
$$
"""

INSTALL = [
    ADDED,
    "CREATE TRIGGER reviews_item_closed_campaign_refused BEFORE INSERT ON reviews_item FOR EACH ROW "
    "EXECUTE FUNCTION reviews_item_closed_campaign_refused()",
    ITEM,
    "CREATE TRIGGER reviews_item_locked_kept BEFORE UPDATE OR DELETE ON reviews_item FOR EACH ROW "
    "WHEN (OLD.locked) EXECUTE FUNCTION reviews_item_locked_kept()",
    CAMPAIGN,
    "CREATE TRIGGER reviews_campaign_closed_kept BEFORE UPDATE OR DELETE ON reviews_campaign FOR EACH ROW "
    "WHEN (OLD.status = 'closed') EXECUTE FUNCTION reviews_campaign_closed_kept()",
]

UNINSTALL = [
    "DROP TRIGGER IF EXISTS reviews_campaign_closed_kept ON reviews_campaign",
    "DROP FUNCTION IF EXISTS reviews_campaign_closed_kept()",
    "DROP TRIGGER IF EXISTS reviews_item_locked_kept ON reviews_item",
    "DROP FUNCTION IF EXISTS reviews_item_locked_kept()",
    "DROP TRIGGER IF EXISTS reviews_item_closed_campaign_refused ON reviews_item",
    "DROP FUNCTION IF EXISTS reviews_item_closed_campaign_refused()",
]


class Migration(migrations.Migration):
    dependencies = [("reviews", "0007_item_partitioned_by_campaign")]

    operations = [on_postgresql(INSTALL, UNINSTALL)]
