"""Query parameters of the list endpoints (django-filter: a bad value is a 400 naming the field)."""

from __future__ import annotations

from datetime import UTC, timedelta

import django_filters
from django import forms

from governance.audit.models import AuditEvent
from governance.findings.models import Finding, FindingStatus, Severity
from governance.inventory.models import Account, AccountStatus, Principal, PrincipalKind


class AccountFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AccountStatus.choices)
    owner = django_filters.CharFilter()

    class Meta:
        model = Account
        fields = ["status", "owner"]


class PrincipalFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=PrincipalKind.choices)
    account_id = django_filters.CharFilter(field_name="account__account_id", max_length=12)
    owner = django_filters.CharFilter()

    class Meta:
        model = Principal
        fields = ["kind", "account_id", "owner"]


class FindingFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=FindingStatus.choices)
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    rule_id = django_filters.CharFilter(max_length=64)
    account_id = django_filters.CharFilter(field_name="account__account_id", max_length=12)

    class Meta:
        model = Finding
        fields = ["status", "severity", "rule_id", "account_id"]


# Real zones run from UTC-12 to UTC+14; Python accepts offsets up to a day, PostgreSQL refuses past 16 h.
_LARGEST_OFFSET = timedelta(hours=14)


class _UTCDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time, given in UTC: an offset no zone uses, or a time that leaves the calendar once
    moved to UTC, is a 400 naming the field, not a database error."""

    def to_python(self, value):
        parsed = super().to_python(value)
        offset = parsed.utcoffset() if parsed is not None else None
        if offset is None:
            return parsed
        if abs(offset) > _LARGEST_OFFSET:
            raise forms.ValidationError("The UTC offset must lie within 14 hours of UTC.")
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise forms.ValidationError("The time lies outside the supported range.") from exc


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = _UTCDateTimeField


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(max_length=64)
    object_type = django_filters.CharFilter(max_length=100)
    object_id = django_filters.CharFilter(max_length=512)
    since = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = AuditEvent
        fields = ["action", "object_type", "object_id", "since"]
