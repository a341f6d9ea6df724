"""Shapes of the workflow endpoints: campaigns and items, evidence packages, SCP change requests,
JIT requests, and the inputs their writes take. Inputs are parsed here; the services decide."""

from __future__ import annotations

from rest_framework import serializers

from governance.evidence.models import EvidencePackage
from governance.jit.models import AccessRequest
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
        ]
        read_only_fields = fields


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
