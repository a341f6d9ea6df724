"""Query parameters of the list endpoints (django-filter: a bad value is a 400 naming the field)."""

from __future__ import annotations

import django_filters

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


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(max_length=64)
    object_type = django_filters.CharFilter(max_length=100)
    object_id = django_filters.CharFilter(max_length=512)
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = AuditEvent
        fields = ["action", "object_type", "object_id", "since"]
