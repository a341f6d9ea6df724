"""Query parameters of the list endpoints (django-filter: a bad value is a 400 naming the field)."""

from __future__ import annotations

from datetime import UTC, timedelta

import django_filters
from django import forms

from governance.audit.models import AuditEvent
from governance.findings.models import Finding, FindingStatus, Severity
from governance.inventory.models import Account, AccountStatus, Principal, PrincipalKind
from governance.jit.models import LIVE_STATUSES, Grant, GrantStatus


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


class _StrictBooleanField(forms.NullBooleanField):
    """`true` or `false` (or absent); anything else is a 400 naming the field, not silently ignored
    (Django's select widget would read it as absent)."""

    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0"):
            return False
        raise forms.ValidationError("Give true or false.")

    def validate(self, value):
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = _StrictBooleanField


class GrantFilter(django_filters.FilterSet):
    """The grants page's and the history page's filters: live ones only, yours only, by status,
    account or requester."""

    live = StrictBooleanFilter(
        method="filter_live", help_text="true: only grants in effect (or being ended); false: only those over."
    )
    mine = StrictBooleanFilter(method="filter_mine", help_text="Only your own grants.")
    status = django_filters.ChoiceFilter(choices=GrantStatus.choices)
    account_id = django_filters.CharFilter(field_name="account__account_id", max_length=12)
    requester = django_filters.CharFilter(field_name="requester__username", max_length=150)

    class Meta:
        model = Grant
        fields = ["live", "mine", "status", "account_id", "requester"]

    def filter_live(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(status__in=LIVE_STATUSES) if value else queryset.exclude(status__in=LIVE_STATUSES)

    def filter_mine(self, queryset, name, value):
        return queryset.filter(requester=self.request.user) if value else queryset
