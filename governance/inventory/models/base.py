"""What every synced row shares: a natural key, a content hash and its presence in AWS."""

from __future__ import annotations

from django.db import models


def bulk_reference(to, **kwargs) -> models.ForeignKey:
    """A foreign key on a table the sync fills in bulk (per-account IAM, policy versions).

    It has no per-row constraint trigger: migration 0005 installs statement-level checks
    (`governance.inventory.references`) that verify every reference a statement writes in one
    indexed anti-join, and refuse to delete a row that is still referenced. A first sync of a
    large organization writes millions of such references; a trigger per row and column was
    about a third of its database time.
    """
    return models.ForeignKey(to, on_delete=models.PROTECT, db_constraint=False, **kwargs)


class SyncedQuerySet(models.QuerySet):
    def present(self):
        return self.filter(removed_at__isnull=True)

    def removed(self):
        return self.filter(removed_at__isnull=False)


class Synced(models.Model):
    """A row copied from AWS.

    `key` is a digest of the row's natural key (an ARN, or the parts that name it) so one
    indexed column answers "is this row already here" for every model; `content_hash` is a digest
    of the synced values, so ingest compares hashes instead of columns and writes only what
    changed. `scope` names the part of AWS one read covers ("org", "iam:<account id>", "sso",
    "aws" for the global AWS managed policies): a row missing from its scope's read is removed.
    Rows are never deleted: a row AWS no longer returns gets `removed_at`, and clears it
    when it comes back. `last_seen` is the last sync that wrote the row (insert, change, removal
    or return); an unchanged row was present at every later successful sync of its account
    (`SyncAccountRun`), which is how a no-change sync writes nothing.
    """

    key = models.CharField(max_length=32, editable=False)
    scope = models.CharField(max_length=64, editable=False)
    content_hash = models.CharField(max_length=32, editable=False)
    first_seen = models.DateTimeField(editable=False)
    last_seen = models.DateTimeField(editable=False)
    removed_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = SyncedQuerySet.as_manager()

    class Meta:
        abstract = True
        # One index answers both "what does this scope hold" (a prefix scan) and "is this key
        # here"; keyed by scope first, one account's rows sit together in it, so a sync touches
        # a few index pages rather than random ones across millions of keys.
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="%(app_label)s_%(class)s_scope_key")]

    @property
    def is_present(self) -> bool:
        return self.removed_at is None
