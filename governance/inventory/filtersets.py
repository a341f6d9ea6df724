"""The filter forms of the organization-wide lists (django-filter), one FilterSet per list.

A value that does not validate (an account id that is not 12 digits, a negative number of days)
makes the form invalid; the list then shows the form's error and no rows, never a 500.
"""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.core.validators import MinValueValidator, RegexValidator
from django.db.models import Q
from django.utils import timezone

from governance.inventory.models import AccessKey, AccessKeyStatus, AdminAccess, Principal, PrincipalKind

ACCOUNT_ID = RegexValidator(r"^\d{12}$", "An AWS account id is 12 digits.")
YES_NO = (("true", "yes"), ("false", "no"))


def _days_ago(days: int):
    return timezone.now() - timedelta(days=days)


class _AccountFilter(django_filters.FilterSet):
    account = django_filters.CharFilter(
        field_name="account__account_id", label="Account id", validators=[ACCOUNT_ID], max_length=12
    )

    def filter_unused(self, queryset, name, value):
        """Never used, or last used more than `value` days ago (`name` is the last-use column)."""
        return queryset.filter(Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__lt": _days_ago(int(value))}))

    def filter_nothing(self, queryset, name, value):
        """For a filter the list applies itself (a parsed trust policy, the entitlements it reads)."""
        return queryset


def _unused_for(column: str) -> django_filters.NumberFilter:
    return django_filters.NumberFilter(
        field_name=column, label="Unused for days", method="filter_unused", validators=[MinValueValidator(0)]
    )


class IamUserFilter(_AccountFilter):
    mfa = django_filters.BooleanFilter(field_name="mfa_enabled", label="MFA")
    console = django_filters.BooleanFilter(field_name="password_enabled", label="Console password")
    unused_for = _unused_for("last_used")

    class Meta:
        model = Principal
        fields: list[str] = []


class AccessKeyFilter(_AccountFilter):
    status = django_filters.ChoiceFilter(choices=AccessKeyStatus.choices, label="Status")
    older_than = django_filters.NumberFilter(
        label="Older than days", method="filter_older", validators=[MinValueValidator(0)]
    )
    unused_for = _unused_for("last_used_date")

    class Meta:
        model = AccessKey
        fields: list[str] = []

    def filter_older(self, queryset, name, value):
        return queryset.filter(created__lt=_days_ago(int(value)))


TRUST_CHOICES = (
    ("outside", "outside the organization, or anyone"),
    ("anyone", "anyone (*)"),
    ("aws", "AWS accounts and principals"),
    ("service", "AWS services"),
    ("federated", "federated (SAML, OIDC)"),
)


class RoleFilter(_AccountFilter):
    # Applied in Python on each page's candidates (governance.inventory.trust), not here.
    trust = django_filters.ChoiceFilter(choices=TRUST_CHOICES, label="Trusts", method="filter_nothing")
    unused_for = _unused_for("last_used")

    class Meta:
        model = Principal
        fields: list[str] = []


class AdminPowerFilter(_AccountFilter):
    kind = django_filters.ChoiceFilter(choices=PrincipalKind.choices, label="Kind")
    level = django_filters.ChoiceFilter(
        choices=[c for c in AdminAccess.choices if c[0]], label="Power", method="filter_nothing"
    )

    class Meta:
        model = Principal
        fields: list[str] = []
