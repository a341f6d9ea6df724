"""Read-only shapes of what the API returns; no logic here (selectors pick the rows)."""

from __future__ import annotations

from rest_framework import serializers

from governance.audit.models import AuditEvent
from governance.findings.models import Finding
from governance.inventory.models import Account, Principal, SyncRun


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    roles = serializers.ListField(child=serializers.CharField())
    capabilities = serializers.ListField(child=serializers.CharField())
    owned_account_ids = serializers.ListField(child=serializers.CharField())
    token = serializers.CharField(help_text="The prefix of the token this request used.")
    token_expires_at = serializers.DateTimeField()


class AccountSerializer(serializers.ModelSerializer):
    parent_ou_id = serializers.CharField(source="parent.ou_id", default=None, read_only=True)

    class Meta:
        model = Account
        fields = [
            "account_id",
            "name",
            "email",
            "status",
            "owner",
            "is_management",
            "parent_ou_id",
            "tags",
            "joined_at",
        ]
        read_only_fields = fields


class PrincipalSerializer(serializers.ModelSerializer):
    account_id = serializers.CharField(source="account.account_id", default=None, read_only=True)

    class Meta:
        model = Principal
        fields = [
            "id",
            "arn",
            "kind",
            "name",
            "account_id",
            "owner",
            "created",
            "last_used",
            "mfa_enabled",
            "password_enabled",
            "password_last_used",
            "tags",
        ]
        read_only_fields = fields


class FindingSerializer(serializers.ModelSerializer):
    account_id = serializers.CharField(source="account.account_id", default=None, read_only=True)
    principal_arn = serializers.CharField(source="principal.arn", default=None, read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "rule_id",
            "severity",
            "status",
            "account_id",
            "principal_arn",
            "resource_type",
            "resource_arn",
            "resource_name",
            "message",
            "evidence",
            "first_seen",
            "last_seen",
            "resolved_at",
        ]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "sequence",
            "created_at",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "request_id",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


class SyncRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncRun
        fields = [
            "id",
            "status",
            "trigger",
            "started_at",
            "finished_at",
            "accounts_total",
            "accounts_done",
            "accounts_failed",
            "api_calls",
            "changes",
            "seconds",
            "errors",
        ]
        read_only_fields = fields
