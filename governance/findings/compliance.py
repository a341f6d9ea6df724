"""The compliance mapping (compliance.toml, reviewed by hand) and pass/fail per control per account.

A control fails on an account while an open finding of one of its rules is on that account;
organization-wide findings (Identity Center permission sets) fail it for the organization. Suppressed
findings are accepted risks and do not fail a control; the page says how many there are.

A control whose `evidence` names "access_review" also needs, on each account, a campaign that covered
the account (has items for it) closed in the last ACCESS_REVIEW_MAX_AGE_DAYS with every item of that
account decided (or defaulted at close); without one it fails there, with the reason.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from governance.findings import rules as registry
from governance.findings.models import FindingStatus

MAPPING_FILE = Path(__file__).with_name("compliance.toml")
ACCESS_REVIEW = "access_review"


class MappingError(ValueError):
    """compliance.toml names something that does not exist; the message says what."""


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    rules: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    note: str = ""

    @property
    def evaluated(self) -> bool:
        return bool(self.rules)

    @property
    def needs_review(self) -> bool:
        return ACCESS_REVIEW in self.evidence


@dataclass(frozen=True)
class Framework:
    slug: str
    name: str
    section: str
    source: str
    controls: tuple[Control, ...] = field(default_factory=tuple)


def parse(text: str) -> dict[str, Framework]:
    """The mapping from TOML text; raises MappingError for unknown rules or malformed entries."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"compliance mapping is not valid TOML: {exc}") from None
    known = {r.id for r in registry.all_rules()}
    frameworks = {}
    for slug, raw in (data.get("frameworks") or {}).items():
        controls = []
        for item in raw.get("controls") or []:
            unknown = [rule for rule in item.get("rules", []) if rule not in known]
            if unknown:
                raise MappingError(f"{slug} {item.get('id')}: unknown rules {', '.join(unknown)}")
            controls.append(
                Control(
                    id=str(item["id"]),
                    title=str(item["title"]),
                    rules=tuple(item.get("rules", [])),
                    evidence=tuple(item.get("evidence", [])),
                    note=str(item.get("note", "")),
                )
            )
        frameworks[slug] = Framework(
            slug=slug,
            name=raw["name"],
            section=raw.get("section", ""),
            source=raw.get("source", ""),
            controls=tuple(controls),
        )
    return frameworks


@cache
def frameworks() -> dict[str, Framework]:
    return parse(MAPPING_FILE.read_text(encoding="utf-8"))


def controls_for_rule(rule_id: str) -> list[tuple[Framework, Control]]:
    return [(fw, c) for fw in frameworks().values() for c in fw.controls if rule_id in c.rules]


@dataclass(frozen=True)
class ReviewEvidence:
    """An account's access review evidence: the campaign that satisfied it, or why none did."""

    met: bool
    reason: str = ""
    campaign_id: int | None = None
    period: str = ""


def review_evidence(accounts: dict[int, str], *, now=None) -> dict[int, ReviewEvidence]:
    """Per account pk (-> its 12-digit id): the newest campaign closed within ACCESS_REVIEW_MAX_AGE_DAYS
    that covered it with no item of the account undecided; else the reason it fails.

    One small query for all the accounts, over what each campaign's close counted per account
    (reviews.selectors.closed_coverage), not over the campaigns' items.
    """
    from governance.reviews.selectors import closed_coverage

    days = settings.ACCESS_REVIEW_MAX_AGE_DAYS
    cutoff = (now or timezone.now()) - timedelta(days=days)
    # Newest first: a clean campaign satisfies the account; otherwise the newest one's gap is the reason.
    by_account: dict[str, ReviewEvidence] = {}
    for row in closed_coverage(set(accounts.values()), since=cutoff):
        held = by_account.get(row.aws_account_id)
        if held is not None and (held.met or row.undecided):
            continue
        if row.undecided:
            n = row.undecided
            reason = f"the review of {row.period} left {n} item{'s' if n != 1 else ''} undecided"
            by_account[row.aws_account_id] = ReviewEvidence(False, reason, row.campaign_id, row.period)
        else:
            by_account[row.aws_account_id] = ReviewEvidence(True, "", row.campaign_id, row.period)
    missing = ReviewEvidence(False, f"no closed access review of this account in the last {days} days")
    return {pk: by_account.get(aws_id, missing) for pk, aws_id in accounts.items()}


@dataclass
class ControlRow:
    control: Control
    # account pk (None: organization-wide) -> open findings of the control's rules there
    failing: dict[int | None, int]
    suppressed: int
    # account pk -> its access review evidence (only for controls that need it)
    reviews: dict[int, ReviewEvidence] = field(default_factory=dict)

    def status_for(self, account_pk: int | None) -> str:
        if not self.control.evaluated and not (self.control.needs_review and account_pk is not None):
            return "not_evaluated"
        if self.failing.get(account_pk):
            return "fail"
        if self.control.needs_review and account_pk is not None:
            evidence = self.reviews.get(account_pk)
            if evidence is None or not evidence.met:  # fail closed: no evidence read is no evidence
                return "fail"
        return "pass"


def matrix(
    framework: Framework, findings, account_pks: list[int] | None, *, accounts: dict[int, str] | None = None
) -> list[ControlRow]:
    """Pass or fail per control per account, from two grouped queries over the visible findings and,
    when `accounts` (pk -> 12-digit id) is given and a control needs access reviews, one over the
    campaigns' coverage (review_evidence)."""
    rule_ids = {rule for control in framework.controls for rule in control.rules}
    scoped = findings.filter(rule_id__in=rule_ids)
    open_counts: dict[str, dict[int | None, int]] = defaultdict(dict)
    open_rows = scoped.filter(status=FindingStatus.OPEN)
    if account_pks is not None:
        open_rows = open_rows.filter(Q(account_id__in=account_pks) | Q(account__isnull=True))
    rows = open_rows.order_by().values_list("rule_id", "account_id").annotate(n=Count("id"))
    for rule_id, account_pk, n in rows:
        open_counts[rule_id][account_pk] = n
    suppressed = dict(
        scoped.filter(status=FindingStatus.SUPPRESSED).order_by().values_list("rule_id").annotate(n=Count("id"))
    )
    reviews: dict[int, ReviewEvidence] = {}
    if accounts and any(control.needs_review for control in framework.controls):
        reviews = review_evidence(accounts)
    result = []
    for control in framework.controls:
        failing: dict[int | None, int] = defaultdict(int)
        for rule in control.rules:
            for account_pk, n in open_counts.get(rule, {}).items():
                failing[account_pk] += n
        result.append(
            ControlRow(
                control=control,
                failing=dict(failing),
                suppressed=sum(suppressed.get(rule, 0) for rule in control.rules),
                reviews=reviews if control.needs_review else {},
            )
        )
    return result


def summary(framework: Framework, findings, reviews: dict[int, ReviewEvidence] | None = None) -> dict[str, Any]:
    """Counts for the index; `reviews` (review_evidence over the visible accounts, read once for every
    framework) fails a control needing reviews when any of those accounts lacks them."""
    rows = matrix(framework, findings, None)
    reviews_missing = any(not evidence.met for evidence in (reviews or {}).values())
    evaluated = [row for row in rows if row.control.evaluated or (row.control.needs_review and reviews)]
    failing = sum(1 for row in evaluated if row.failing or (row.control.needs_review and reviews_missing))
    return {"controls": len(rows), "evaluated": len(evaluated), "failing": failing}
