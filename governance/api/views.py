"""The REST API (`/api/v1/`): token-authenticated, every answer decided by `capabilities(user)`.

Reads go through the same scopes as the pages (`scoped`, `visible_accounts`, `visible_findings`):
an object outside the caller's reach is a 404, never a 403. Lists are keyset-paginated
(`?cursor=`), newest first. Writes call the same services as the pages.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import filters, serializers
from governance.api.pagination import KeysetPagination
from governance.api.permissions import requires
from governance.audit.models import AuditEvent
from governance.authz.capabilities import Capability, capabilities, scoped, visible_accounts, visible_principals
from governance.findings.models import Finding
from governance.inventory.models import SyncRun


class MeView(APIView):
    permission_classes = [requires()]

    @extend_schema(responses=serializers.MeSerializer, summary="Who the token acts for, and what they may do")
    def get(self, request: Request) -> Response:
        caps = capabilities(request.user)
        body = {
            "email": request.user.email,
            "roles": sorted(caps.roles),
            "capabilities": sorted(caps.capabilities),
            "owned_account_ids": sorted(caps.owned_account_ids),
            "token": f"gpt_{request.auth.prefix}",
            "token_expires_at": request.auth.expires_at,
        }
        return Response(serializers.MeSerializer(body).data)


class AccountList(generics.ListAPIView):
    """Accounts of the organization the caller may see (owners: the accounts they own)."""

    serializer_class = serializers.AccountSerializer
    permission_classes = [requires(Capability.INVENTORY_VIEW)]
    filterset_class = filters.AccountFilter
    pagination_class = KeysetPagination

    def get_queryset(self) -> QuerySet:
        return visible_accounts(self.request.user).present().select_related("parent")


class AccountDetail(generics.RetrieveAPIView):
    serializer_class = serializers.AccountSerializer
    permission_classes = [requires(Capability.INVENTORY_VIEW)]
    lookup_field = "account_id"
    lookup_value_regex = r"[0-9]{12}"

    def get_queryset(self) -> QuerySet:
        return visible_accounts(self.request.user).present().select_related("parent")


class PrincipalList(generics.ListAPIView):
    """IAM and Identity Center principals the caller may see."""

    serializer_class = serializers.PrincipalSerializer
    permission_classes = [requires(Capability.INVENTORY_VIEW)]
    filterset_class = filters.PrincipalFilter
    pagination_class = KeysetPagination

    def get_queryset(self) -> QuerySet:
        return visible_principals(self.request.user).present().select_related("account")


class PrincipalDetail(generics.RetrieveAPIView):
    serializer_class = serializers.PrincipalSerializer
    permission_classes = [requires(Capability.INVENTORY_VIEW)]

    def get_queryset(self) -> QuerySet:
        return visible_principals(self.request.user).present().select_related("account")


class FindingList(generics.ListAPIView):
    """Findings the caller may see, newest first."""

    serializer_class = serializers.FindingSerializer
    permission_classes = [requires(Capability.FINDINGS_VIEW)]
    filterset_class = filters.FindingFilter
    pagination_class = KeysetPagination

    def get_queryset(self) -> QuerySet:
        return scoped(self.request.user, Finding).select_related("account", "principal")


class FindingDetail(generics.RetrieveAPIView):
    serializer_class = serializers.FindingSerializer
    permission_classes = [requires(Capability.FINDINGS_VIEW)]

    def get_queryset(self) -> QuerySet:
        return scoped(self.request.user, Finding).select_related("account", "principal")


class AuditPagination(KeysetPagination):
    ordering = "-sequence"


class AuditEventList(generics.ListAPIView):
    """The audit trail, newest first (verify the chain with `manage.py verify_audit_log`)."""

    serializer_class = serializers.AuditEventSerializer
    permission_classes = [requires(Capability.AUDIT_VIEW)]
    filterset_class = filters.AuditEventFilter
    pagination_class = AuditPagination

    def get_queryset(self) -> QuerySet:
        return AuditEvent.objects.all()


class SyncRunList(generics.ListAPIView):
    """Inventory sync runs, newest first."""

    serializer_class = serializers.SyncRunSerializer
    permission_classes = [requires(Capability.INVENTORY_VIEW_ALL)]
    pagination_class = KeysetPagination

    def get_queryset(self) -> QuerySet:
        return SyncRun.objects.all()
