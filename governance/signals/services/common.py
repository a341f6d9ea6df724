"""Lookups the refreshes share: the organization's accounts and principals by their AWS names."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from governance.inventory.models import Account, Principal
from governance.signals.models import ActionLastUsed

BATCH = 1000


def accounts_in_scope(account_ids: Iterable[str] | None = None) -> list[Account]:
    """Present, active accounts (all, or those AWS ids), management account first."""
    queryset = Account.objects.present().filter(status="ACTIVE").order_by("-is_management", "account_id")
    if account_ids is not None:
        queryset = queryset.filter(account_id__in=list(account_ids))
    return list(queryset)


def reader_account_id(account: Account) -> str:
    """What a reader needs to reach the account: "" for the management account (own credentials)."""
    return "" if account.is_management else account.account_id


def principal_pks(arns: Iterable[str]) -> dict[str, int]:
    wanted = sorted({a for a in arns if a})
    found: dict[str, int] = {}
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start : start + BATCH]
        found.update(Principal.objects.filter(arn__in=chunk).values_list("arn", "pk"))
    return found


def account_pks(account_ids: Iterable[str]) -> dict[str, int]:
    return dict(Account.objects.filter(account_id__in=sorted(set(account_ids))).values_list("account_id", "pk"))


def record_usage(
    usage: dict[tuple[int, str, str], datetime], *, source: str, principals: dict[str, int] | None = None
) -> int:
    """Upsert (account pk, principal ARN, action) -> last use, keeping the later of stored and new.

    One read of the stored rows for the keys, one upsert: the later date wins whichever source
    (CloudTrail or last accessed) reported it.
    """
    if not usage:
        return 0
    principals = principals if principals is not None else principal_pks(arn for _, arn, _ in usage)
    keys = list(usage)
    stored: dict[tuple[int, str, str], datetime] = {}
    for start in range(0, len(keys), BATCH):
        chunk = keys[start : start + BATCH]
        rows = ActionLastUsed.objects.filter(
            account_id__in={k[0] for k in chunk},
            action__in={k[2] for k in chunk},
            principal_arn__in={k[1] for k in chunk},
        ).values_list("account_id", "principal_arn", "action", "last_used_at")
        stored.update({(a, p, act): at for a, p, act, at in rows})
    rows = []
    for key, when in usage.items():
        if key in stored and stored[key] >= when:
            continue
        account_pk, arn, action = key
        rows.append(
            ActionLastUsed(
                account_id=account_pk,
                principal_arn=arn,
                principal_id=principals.get(arn),
                action=action,
                last_used_at=when,
                source=source,
            )
        )
    ActionLastUsed.objects.bulk_create(
        rows,
        batch_size=BATCH,
        update_conflicts=True,
        unique_fields=["account", "principal_arn", "action"],
        update_fields=["last_used_at", "source", "principal"],
    )
    return len(rows)
