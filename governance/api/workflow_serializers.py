"""Shapes of the workflow endpoints: campaigns and items, evidence packages, SCP change requests,
JIT requests, and the inputs their writes take. Inputs are parsed here; the services decide."""

from __future__ import annotations

from rest_framework import serializers

from governance.evidence.models import EvidencePackage
from governance.jit import selectors as jit_selectors
from governance.jit.models import AccessRequest, Grant
from governance.jit.models import Decision as JitDecision
from governance.reviews.models import Campaign, Decision, ReviewItem
from governance.scp.models import ChangeKind, ChangeRequest, PolicyType


class CampaignSerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = ["id", "name", "period", "status", "launched_at", "due_at", "closed_at", "item_count"]
        read_only_fields = fields


class ReviewItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReviewItem
        fields = [
            "id",
            "campaign_id",
            "kind",
            "aws_account_id",
            "account_name",
            "principal_arn",
            "principal_name",
            "principal_kind",
            "target_name",
            "target_arn",
            "via",
            "last_used",
            "risk",
            "recommendation",
            "recommendation_reason",
            "reviewer_email",
            "decision",
            "justification",
            "decided_at",
            "locked",
            "version",
        ]
        read_only_fields = fields


class ReviewDecisionInput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[Decision.KEEP, Decision.REVOKE])
    justification = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
    version = serializers.IntegerField(
        required=False, min_value=0, help_text="The item version you saw: a 409 if someone decided since."
    )


class EvidencePackageSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvidencePackage
        fields = [
            "id",
            "subject_type",
            "subject_id",
            "subject_repr",
            "status",
            "created_at",
            "created_by_name",
            "key_id",
            "manifest_sha256",
            "sha256",
            "size",
            "storage",
            "retain_until",
        ]
        read_only_fields = fields


class ChangeRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChangeRequest
        fields = [
            "id",
            "kind",
            "policy_type",
            "status",
            "aws_policy_id",
            "name",
            "target_id",
            "target_name",
            "reason",
            "author_name",
            "approved_at",
            "applied_at",
            "decided_note",
            "impact_status",
            "error",
        ]
        read_only_fields = fields


class ChangeProposalInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ChangeKind.choices)
    reason = serializers.CharField(max_length=4000)
    policy_id = serializers.CharField(
        required=False, default="", max_length=130, help_text="The AWS policy id (p-…); all kinds but create."
    )
    policy_type = serializers.ChoiceField(choices=PolicyType.choices, default=PolicyType.SCP)
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=128)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=512)
    document = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=10240, help_text="The policy JSON, as text."
    )
    target_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=68)


class NoteInput(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class AccessRequestSerializer(serializers.ModelSerializer):
    account_id = serializers.CharField(source="account.account_id", read_only=True)
    permission_set_arn = serializers.CharField(source="permission_set.arn", read_only=True)
    permission_set_name = serializers.CharField(source="permission_set.name", read_only=True)

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "kind",
            "policy_id",
            "requester_name",
            "account_id",
            "permission_set_arn",
            "permission_set_name",
            "starts_at",
            "duration_minutes",
            "justification",
            "ticket",
            "approvals_required",
            "status",
            "auto_approved",
            "break_glass",
            "decided_at",
            "created_at",
            "extends_grant_id",
        ]
        read_only_fields = fields
        extra_kwargs = {"extends_grant_id": {"source": "extends_id", "help_text": "The grant an extension extends."}}


class AccessRequestInput(serializers.Serializer):
    policy_id = serializers.IntegerField(min_value=1)
    account_id = serializers.RegexField(r"^[0-9]{12}$")
    permission_set_arn = serializers.CharField(max_length=2048)
    duration_minutes = serializers.IntegerField(min_value=1, max_value=100000)
    justification = serializers.CharField(max_length=2000)
    ticket = serializers.CharField(required=False, allow_blank=True, default="", max_length=128)
    starts_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class AccessDecisionInput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=JitDecision.choices)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AccessDecisionSerializer(serializers.Serializer):
    counted = serializers.BooleanField(help_text="False when your decision was already recorded (it counts once).")
    status = serializers.CharField()
    approvals = serializers.IntegerField()
    required = serializers.IntegerField()


class GrantSerializer(serializers.ModelSerializer):
    requester_name = serializers.CharField(source="requester.username", read_only=True)
    principal_arn = serializers.CharField(source="principal.arn", read_only=True)
    account_id = serializers.CharField(source="account.account_id", read_only=True)
    account_name = serializers.CharField(source="account.name", read_only=True)
    permission_set_arn = serializers.CharField(source="permission_set.arn", read_only=True)
    permission_set_name = serializers.CharField(source="permission_set.name", read_only=True)
    break_glass = serializers.BooleanField(source="request.break_glass", read_only=True)
    time_left_seconds = serializers.SerializerMethodField(
        help_text="Seconds until the grant ends; 0 once it has ended (or is being ended)."
    )
    ending = serializers.SerializerMethodField(help_text="Its end was asked for; the assignment is being deleted.")
    extension_pending = serializers.SerializerMethodField(help_text="An extension is waiting for a decision.")

    class Meta:
        model = Grant
        fields = [
            "id",
            "request_id",
            "policy_id",
            "requester_name",
            "principal_arn",
            "account_id",
            "account_name",
            "permission_set_arn",
            "permission_set_name",
            "break_glass",
            "status",
            "starts_at",
            "ends_at",
            "time_left_seconds",
            "ending",
            "extension_pending",
            "provisioned_at",
            "revoked_at",
            "end_reason",
            "ended_by_name",
            "last_error",
            "next_attempt_at",
            "drift",
            "sync_confirmed_at",
        ]
        read_only_fields = fields

    def get_time_left_seconds(self, grant: Grant) -> int:
        return jit_selectors.time_left_seconds(grant) if grant.is_live else 0

    def get_ending(self, grant: Grant) -> bool:
        return grant.is_live and grant.revoke_due_at is not None

    def get_extension_pending(self, grant: Grant) -> bool:
        return bool(getattr(grant, "extension_pending", False))


class ExtensionInput(serializers.Serializer):
    duration_minutes = serializers.IntegerField(
        min_value=1, max_value=100000, help_text="More minutes; the policy's maximum counts from now."
    )
    justification = serializers.CharField(max_length=2000)
    ticket = serializers.CharField(required=False, allow_blank=True, default="", max_length=128)
