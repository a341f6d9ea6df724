"""Reads for the reviews pages and for other apps (the evidence package, the API, JIT).

Other apps read campaigns through these functions, never through the models' internals:
`visible_campaigns`, `campaign_for_user`, `visible_items`, `my_emails`, `signoffs_for_export`, `report`,
`closed_coverage`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, Q, QuerySet
from django.http import Http404

from governance.authz.capabilities import Capability, capabilities
from governance.reviews.models import Campaign, CampaignCoverage, CampaignStatus, Decision, ReviewItem, SignOff

PAGE_SIZE = 50


def my_emails(user: Any) -> set[str]:
    """The addresses items are routed to for this user: their IdP e-mail and their Identity
    Center user's primary e-mail (the two are the same unless the IdP and SCIM disagree)."""
    from governance.inventory.models import Principal

    cached = getattr(user, "_review_emails", None)
    if cached is not None:
        return cached
    emails = {user.email.strip().lower()} if getattr(user, "email", "") else set()
    arn = capabilities(user).identity_center_user_arn if user.is_authenticated else ""
    if arn:
        found = Principal.objects.present().filter(arn=arn).values_list("email", flat=True).first()
        if found:
            emails.add(found.strip().lower())
    user._review_emails = emails
    return emails


def my_principal_arns(user: Any) -> set[str]:
    caps = capabilities(user)
    return {caps.identity_center_user_arn} if caps.identity_center_user_arn else set()


def is_campaign_admin(user: Any) -> bool:
    return capabilities(user).has(Capability.REVIEWS_ADMIN)


def my_campaigns(user: Any) -> list[dict[str, Any]]:
    """Campaigns with items for this user, newest first, with their progress (one query)."""
    emails = my_emails(user)
    if not emails:
        return []
    rows = (
        ReviewItem.objects.filter(reviewer_email__in=emails)
        .values("campaign_id", "campaign__name", "campaign__status", "campaign__due_at")
        .annotate(total=Count("id"), decided=Count("id", filter=~Q(decision=Decision.NONE)))
        .order_by("-campaign_id")
    )
    return [
        {
            "id": r["campaign_id"],
            "name": r["campaign__name"],
            "status": r["campaign__status"],
            "due_at": r["campaign__due_at"],
            "total": r["total"],
            "decided": r["decided"],
            "percent": int(100 * r["decided"] / r["total"]) if r["total"] else 100,
        }
        for r in rows
    ]


def campaign_for_inbox(user: Any, campaign_id: int) -> Campaign:
    """The campaign for its inbox page; who may see it is decided by `inbox_page`'s count."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign


def may_oversee(user: Any) -> bool:
    caps = capabilities(user)
    return caps.has(Capability.REVIEWS_ADMIN) or caps.has(Capability.AUDIT_VIEW)


def campaign_for_user(user: Any, campaign_id: int) -> Campaign:
    """The campaign, if the user reviews in it or administers reviews; 404 otherwise."""
    campaign = Campaign.objects.filter(pk=campaign_id).select_related("template").first()
    if campaign is None:
        raise Http404("No such campaign.")
    if may_oversee(user) or reviewer_items(campaign, my_emails(user)).exists():
        return campaign
    raise Http404("No such campaign.")


def visible_campaigns(user: Any) -> QuerySet:
    """The campaigns `campaign_for_user` lets this user open, as a query (the API lists them)."""
    if may_oversee(user):
        return Campaign.objects.all()
    mine = ReviewItem.objects.filter(reviewer_email__in=my_emails(user)).values("campaign_id")
    return Campaign.objects.filter(pk__in=mine)


def visible_items(user: Any, campaign: Campaign) -> QuerySet:
    """A campaign's items this user may see: every item for overseers, else those routed to them."""
    if may_oversee(user):
        return ReviewItem.objects.filter(campaign=campaign)
    return reviewer_items(campaign, my_emails(user))


@dataclass
class InboxFilters:
    risk: str = ""
    kind: str = ""
    recommendation: str = ""
    account: str = ""
    undecided: bool = False

    @classmethod
    def from_query(cls, query: Any) -> InboxFilters:
        return cls(
            risk=query.get("risk", ""),
            kind=query.get("kind", ""),
            recommendation=query.get("recommendation", ""),
            account=query.get("account", ""),
            undecided=query.get("undecided", "") in ("1", "on", "true"),
        )

    def apply(self, items: QuerySet) -> QuerySet:
        if self.risk:
            items = items.filter(risk=self.risk)
        if self.kind:
            items = items.filter(kind=self.kind)
        if self.recommendation:
            items = items.filter(recommendation=self.recommendation)
        if self.account:
            items = items.filter(aws_account_id=self.account)
        if self.undecided:
            items = items.filter(decision=Decision.NONE)
        return items

    def as_query(self) -> dict[str, str]:
        values = {
            "risk": self.risk,
            "kind": self.kind,
            "recommendation": self.recommendation,
            "account": self.account,
            "undecided": "1" if self.undecided else "",
        }
        return {k: v for k, v in values.items() if v}


def reviewer_items(campaign: Campaign, emails: set[str]) -> QuerySet:
    return ReviewItem.objects.filter(campaign=campaign, reviewer_email__in=emails)


@dataclass
class InboxPage:
    items: list[ReviewItem]
    next_cursor: str
    total: int
    decided: int
    signed: bool
    groups: list[tuple[str, list[ReviewItem]]] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return int(100 * self.decided / self.total) if self.total else 100


def _cursor(item: ReviewItem) -> str:
    return f"{item.aws_account_id}|{item.principal_name}|{item.pk}"


def _after(items: QuerySet, cursor: str) -> QuerySet:
    # account ids hold no "|"; a principal's name might, so it is whatever lies between.
    account, _, rest = cursor.partition("|")
    name, _, pk_text = rest.rpartition("|")
    if not pk_text.isdigit():
        return items
    pk = int(pk_text)
    return items.filter(
        Q(aws_account_id__gt=account)
        | Q(aws_account_id=account, principal_name__gt=name)
        | Q(aws_account_id=account, principal_name=name, pk__gt=pk)
    )


def inbox_page(campaign: Campaign, user: Any, filters: InboxFilters, *, after: str = "") -> InboxPage:
    """One page of the user's items, grouped by account and principal; keyset-paginated on
    (account, principal name, id), which the inbox index serves. Two queries: the progress
    (with whether the user signed) and the page."""
    emails = my_emails(user)
    mine = reviewer_items(campaign, emails)
    # Counts of a column the inbox index holds (decision is included in it): an index-only scan.
    progress = mine.aggregate(
        total=Count("decision"),
        decided=Count("decision", filter=~Q(decision=Decision.NONE)),
        signed=Count(
            "decision", filter=Q(Exists(SignOff.objects.filter(campaign=campaign, reviewer_email__in=emails)))
        ),
    )
    page = filters.apply(mine)
    if after:
        page = _after(page, after)
    rows = list(page.order_by("aws_account_id", "principal_name", "id")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    signed = bool(progress["signed"])
    groups: list[tuple[str, list[ReviewItem]]] = []
    for item in rows:
        label = f"{item.account_name} ({item.aws_account_id})" if item.aws_account_id else "Organization"
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(item)
    return InboxPage(
        items=rows,
        next_cursor=_cursor(rows[-1]) if more and rows else "",
        total=progress["total"],
        decided=progress["decided"],
        signed=signed,
        groups=groups,
    )


def report(campaign: Campaign) -> dict[str, Any]:
    """Progress per reviewer and per account, and the decision totals, for the report page."""
    items = ReviewItem.objects.filter(campaign=campaign).order_by()
    decided = ~Q(decision=Decision.NONE)
    per_reviewer = list(
        items.values("reviewer_email")
        .annotate(
            total=Count("id"),
            decided=Count("id", filter=decided),
            revoked=Count("id", filter=Q(decision=Decision.REVOKE)),
        )
        .order_by("reviewer_email")
    )
    signed = set(SignOff.objects.filter(campaign=campaign).values_list("reviewer_email", flat=True))
    for row in per_reviewer:
        row["signed"] = row["reviewer_email"] in signed
        row["percent"] = int(100 * row["decided"] / row["total"]) if row["total"] else 100
    per_account = list(
        items.values("aws_account_id", "account_name")
        .annotate(
            total=Count("id"),
            decided=Count("id", filter=decided),
            revoked=Count("id", filter=Q(decision=Decision.REVOKE)),
        )
        .order_by("account_name")
    )
    totals = items.aggregate(
        total=Count("id"),
        keep=Count("id", filter=Q(decision=Decision.KEEP)),
        revoke=Count("id", filter=Q(decision=Decision.REVOKE)),
        undecided=Count("id", filter=Q(decision=Decision.NONE)),
        flagged=Count("id", filter=Q(flagged=True)),
        verified=Count("id", filter=~Q(verified_at=None)),
    )
    return {
        "per_reviewer": per_reviewer,
        "per_account": per_account,
        "totals": totals,
        "chart": {
            "labels": [r["reviewer_email"] for r in per_reviewer],
            "decided": [r["decided"] for r in per_reviewer],
            "undecided": [r["total"] - r["decided"] for r in per_reviewer],
        },
        "open": campaign.status == CampaignStatus.OPEN,
    }


# For other apps (evidence package, API, compliance) ---------------------------------------------


def signoffs_for_export(campaign: Campaign) -> list[dict[str, Any]]:
    return list(
        SignOff.objects.filter(campaign=campaign)
        .order_by("signed_at", "id")
        .values("reviewer_email", "statement", "signed_at", "items", "mfa_methods")
    )


@dataclass(frozen=True)
class Coverage:
    """A closed campaign's review of one AWS account (CampaignCoverage), with the campaign's period."""

    aws_account_id: str
    campaign_id: int
    period: str
    undecided: int


def closed_coverage(aws_account_ids: set[str], *, since: Any) -> list[Coverage]:
    """The reviews of these accounts by campaigns closed at or after `since`, newest close first
    (then the newer campaign): one query over the coverage counted at close, never the items."""
    rows = (
        CampaignCoverage.objects.filter(
            campaign__status=CampaignStatus.CLOSED,
            campaign__closed_at__gte=since,
            aws_account_id__in=aws_account_ids,
        )
        .order_by("-campaign__closed_at", "-campaign_id")
        .values_list("aws_account_id", "campaign_id", "campaign__period", "undecided")
    )
    return [Coverage(*row) for row in rows]
