"""The API's workflow endpoints: review campaigns and decisions, evidence packages, SCP change
requests, JIT requests, decisions and grants.

Every write calls the service the page calls (`decide_item`, `propose_change`, `approve_change`,
`apply_change`, `submit_request`, `decide_request`, `cancel_request`, `request_extension`,
`end_grant`), so four-eyes, no self-review, eligibility and the writer gate hold here exactly as
there; the service's refusal becomes a 4xx with its message.
Writes need a token created after an MFA login (the API's step-up), accept `Idempotency-Key`, and
find their objects through the same scopes as the pages (outside them: 404).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import filters, idempotency
from governance.api import workflow_serializers as s
from governance.api.pagination import KeysetPagination
from governance.api.permissions import requires, requires_any
from governance.authz.capabilities import Capability
from governance.evidence import selectors as evidence_selectors
from governance.evidence.models import EvidencePackage
from governance.inventory.models import Policy
from governance.jit import eligibility
from governance.jit import selectors as jit_selectors
from governance.jit import services as jit_services
from governance.jit.models import AccessRequest, Grant, RequestStatus
from governance.reviews import selectors as review_selectors
from governance.reviews import services as review_services
from governance.reviews.models import Campaign, ReviewItem
from governance.scp import services as scp_services
from governance.scp.models import ChangeRequest

IDEMPOTENCY = OpenApiParameter(
    idempotency.HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Retry-safe writes: the same key (per token) acts once and replays the first answer;"
        " a retry while the first is still running waits for its answer (up to 30 s, then a 409);"
        " a retry after a request that failed runs afresh."
    ),
)
REFUSED = {
    400: OpenApiResponse(description="Refused by the service; `detail` says why. Nothing was written."),
    403: OpenApiResponse(description="Missing a capability, a token without MFA, or four-eyes."),
    404: OpenApiResponse(description="No such object within your reach."),
}

CONFLICT = OpenApiResponse(description="Someone decided the item since the version you saw; theirs stands.")


class TokenFromMfaLogin(BasePermission):
    message = "API writes need a token created after an MFA login; create a new one at /api/tokens/."

    def has_permission(self, request, view) -> bool:
        return request.method in ("GET", "HEAD", "OPTIONS") or bool(getattr(request.auth, "created_with_mfa", False))


def writes(*needed: Capability) -> list[type[BasePermission]]:
    return [requires(*needed), TokenFromMfaLogin]


def writes_with_any(*needed: Capability) -> list[type[BasePermission]]:
    return [requires_any(*needed), TokenFromMfaLogin]


def refused(message: str, status: int = 400) -> Response:
    return Response({"detail": message}, status=status)


# --- access reviews -------------------------------------------------------------------------------


def _campaigns(user) -> QuerySet:
    if not getattr(user, "is_authenticated", False):  # the schema generator's fake request
        return Campaign.objects.none()
    return review_selectors.visible_campaigns(user)


class CampaignList(generics.ListAPIView):
    """Review campaigns you review in (campaign admins and auditors: all), newest first."""

    serializer_class = s.CampaignSerializer
    permission_classes = [requires()]
    pagination_class = KeysetPagination

    def get_queryset(self) -> QuerySet:
        return _campaigns(self.request.user)


class CampaignDetail(generics.RetrieveAPIView):
    serializer_class = s.CampaignSerializer
    permission_classes = [requires()]

    def get_queryset(self) -> QuerySet:
        return _campaigns(self.request.user)


class CampaignItemList(generics.ListAPIView):
    """A campaign's items routed to you (campaign admins and auditors: every item)."""

    serializer_class = s.ReviewItemSerializer
    permission_classes = [requires()]
    pagination_class = KeysetPagination

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return ReviewItem.objects.none()
        campaign = _campaigns(self.request.user).filter(pk=self.kwargs["campaign_id"]).first()
        if campaign is None:
            raise Http404("No such campaign.")
        return review_selectors.visible_items(self.request.user, campaign)


class ReviewDecision(APIView):
    permission_classes = writes()

    @extend_schema(
        request=s.ReviewDecisionInput,
        parameters=[IDEMPOTENCY],
        responses={200: s.ReviewItemSerializer, 409: CONFLICT, **REFUSED},
        summary="Keep or revoke one item routed to you (as the campaign page does)",
    )
    def post(self, request: Request, item_id: int) -> Response:
        body = s.ReviewDecisionInput(data=request.data)
        body.is_valid(raise_exception=True)
        emails = review_selectors.my_emails(request.user)
        if not ReviewItem.objects.filter(pk=item_id, reviewer_email__in=emails).exists():
            raise Http404("No such item of yours.")

        def write() -> Response:
            try:
                item = review_services.decide_item(
                    item_id=item_id,
                    decision=body.validated_data["decision"],
                    justification=body.validated_data["justification"],
                    expected_version=body.validated_data.get("version"),
                    actor=request.user,
                    request=request,
                )
            except review_services.ConflictError as exc:
                return Response({"detail": str(exc), "item": s.ReviewItemSerializer(exc.item).data}, status=409)
            except review_services.ReviewError as exc:
                return refused(str(exc))
            return Response(s.ReviewItemSerializer(item).data)

        return idempotency.once(request, write)


# --- evidence -------------------------------------------------------------------------------------


class EvidencePagination(KeysetPagination):
    ordering = "-created_at"


class _VisiblePackages:
    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # the schema is built without a user
            return EvidencePackage.objects.none()
        return evidence_selectors.visible_packages(self.request.user)


class EvidencePackageList(_VisiblePackages, generics.ListAPIView):
    """Stored evidence packages the user may read (a campaign's only if they may open the campaign),
    newest first; download and verify them on the evidence page."""

    serializer_class = s.EvidencePackageSerializer
    permission_classes = [requires(Capability.EVIDENCE_EXPORT)]
    pagination_class = EvidencePagination


class EvidencePackageDetail(_VisiblePackages, generics.RetrieveAPIView):
    serializer_class = s.EvidencePackageSerializer
    permission_classes = [requires(Capability.EVIDENCE_EXPORT)]


# --- SCP and RCP change requests ------------------------------------------------------------------


def _change_answer(call) -> Response:
    try:
        change = call()
    except scp_services.FourEyesError as exc:
        return refused(str(exc), status=403)
    except scp_services.ChangeError as exc:
        return refused(str(exc))
    return Response(s.ChangeRequestSerializer(change).data)


class ChangeRequestList(generics.ListCreateAPIView):
    """SCP and RCP change requests, newest first; POST proposes one (nothing is sent to AWS)."""

    serializer_class = s.ChangeRequestSerializer
    pagination_class = KeysetPagination

    def get_permissions(self):
        needed = Capability.SCP_PROPOSE if self.request.method == "POST" else Capability.SCP_VIEW
        return [p() for p in (writes(needed) if self.request.method == "POST" else [requires(needed)])]

    def get_queryset(self) -> QuerySet:
        return ChangeRequest.objects.all()

    @extend_schema(
        request=s.ChangeProposalInput,
        parameters=[IDEMPOTENCY],
        responses={201: s.ChangeRequestSerializer, **REFUSED},
        summary="Propose a change (as the policy editor does); another policy admin approves it",
    )
    def post(self, request: Request) -> Response:
        body = s.ChangeProposalInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        policy = None
        if data["policy_id"]:
            policy = Policy.objects.present().filter(aws_policy_id=data["policy_id"]).first()

        def write() -> Response:
            answer = _change_answer(
                lambda: scp_services.propose_change(
                    actor=request.user,
                    kind=data["kind"],
                    reason=data["reason"],
                    policy=policy,
                    policy_type=data["policy_type"],
                    name=data["name"],
                    description=data["description"],
                    document_text=data["document"],
                    target_id=data["target_id"],
                    request=request,
                )
            )
            if answer.status_code == 200:
                answer.status_code = 201
            return answer

        return idempotency.once(request, write)


class ChangeRequestDetail(generics.RetrieveAPIView):
    serializer_class = s.ChangeRequestSerializer
    permission_classes = [requires(Capability.SCP_VIEW)]

    def get_queryset(self) -> QuerySet:
        return ChangeRequest.objects.all()


class _ChangeAction(APIView):
    """A policy admin's step on a change request; `act` calls the scp service."""

    permission_classes = writes(Capability.SCP_APPROVE)
    in_one_transaction = True  # see idempotency.once

    def post(self, request: Request, change_id: int) -> Response:
        body = s.NoteInput(data=request.data)
        body.is_valid(raise_exception=True)
        change = ChangeRequest.objects.filter(pk=change_id).first()
        if change is None:
            raise Http404("No such change request.")
        return idempotency.once(
            request,
            lambda: _change_answer(lambda: self.act(change, body.validated_data["note"])),
            in_one_transaction=self.in_one_transaction,
        )


_CHANGE_ACTION = {
    "request": s.NoteInput,
    "parameters": [IDEMPOTENCY],
    "responses": {200: s.ChangeRequestSerializer, **REFUSED},
}


class ChangeApprove(_ChangeAction):
    @extend_schema(**_CHANGE_ACTION, summary="Approve (four-eyes: not the author; the impact must be done)")
    def post(self, request: Request, change_id: int) -> Response:
        return super().post(request, change_id)

    def act(self, change: ChangeRequest, note: str) -> ChangeRequest:
        return scp_services.approve_change(change=change, actor=self.request.user, note=note, request=self.request)


class ChangeReject(_ChangeAction):
    @extend_schema(**_CHANGE_ACTION, summary="Reject, with a note saying why")
    def post(self, request: Request, change_id: int) -> Response:
        return super().post(request, change_id)

    def act(self, change: ChangeRequest, note: str) -> ChangeRequest:
        return scp_services.reject_change(change=change, actor=self.request.user, note=note, request=self.request)


class ChangeApply(_ChangeAction):
    in_one_transaction = False  # "applying" commits before the AWS call, as on the page

    @extend_schema(**_CHANGE_ACTION, summary="Apply an approved change through the writer role")
    def post(self, request: Request, change_id: int) -> Response:
        return super().post(request, change_id)

    def act(self, change: ChangeRequest, note: str) -> ChangeRequest:
        return scp_services.apply_change(change=change, actor=self.request.user, request=self.request)


# --- just-in-time access --------------------------------------------------------------------------


class AccessRequestList(generics.ListCreateAPIView):
    """Your JIT requests, newest first; POST asks for a permission set on an account."""

    serializer_class = s.AccessRequestSerializer
    pagination_class = KeysetPagination

    def get_permissions(self):
        if self.request.method == "POST":
            return [p() for p in writes(Capability.JIT_REQUEST)]
        return [requires(Capability.JIT_REQUEST)()]

    def get_queryset(self) -> QuerySet:
        return AccessRequest.objects.filter(requester=self.request.user).select_related("account", "permission_set")

    @extend_schema(
        request=s.AccessRequestInput,
        parameters=[IDEMPOTENCY],
        responses={201: s.AccessRequestSerializer, **REFUSED},
        summary="Request access (as the request form does); break-glass and auto-approval grant at once",
    )
    def post(self, request: Request) -> Response:
        body = s.AccessRequestInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        picked = eligibility.choice_named(
            request.user, data["policy_id"], data["account_id"], data["permission_set_arn"]
        )

        def write() -> Response:
            if picked is None:
                return refused("No eligibility policy of yours covers that permission set on that account.")
            try:
                created = jit_services.submit_request(
                    actor=request.user,
                    policy=picked.policy,
                    account=picked.account,
                    permission_set=picked.permission_set,
                    duration_minutes=data["duration_minutes"],
                    justification=data["justification"],
                    ticket=data["ticket"],
                    starts_at=data["starts_at"],
                    request=request,
                )
            except jit_services.JitError as exc:
                return refused(exc.message)
            return Response(s.AccessRequestSerializer(created).data, status=201)

        return idempotency.once(request, write)


class AccessRequestDecision(APIView):
    permission_classes = writes(Capability.JIT_APPROVE)

    @extend_schema(
        request=s.AccessDecisionInput,
        parameters=[IDEMPOTENCY],
        responses={200: s.AccessDecisionSerializer, **REFUSED},
        summary="Approve or deny a request routed to you (the same person counts once)",
    )
    def post(self, request: Request, request_id: int) -> Response:
        body = s.AccessDecisionInput(data=request.data)
        body.is_valid(raise_exception=True)
        found = jit_selectors.request_for_approver_or_404(request.user, request_id)

        def write() -> Response:
            try:
                outcome = jit_services.decide_request(
                    actor=request.user,
                    access_request=found,
                    decision=body.validated_data["decision"],
                    comment=body.validated_data["comment"],
                    request=request,
                )
            except jit_services.JitError as exc:
                return refused(exc.message)
            return Response(s.AccessDecisionSerializer(outcome).data)

        return idempotency.once(request, write)


class AccessRequestDetail(APIView):
    permission_classes = [requires(Capability.JIT_REQUEST)]

    @extend_schema(
        responses={200: s.AccessRequestSerializer, 404: REFUSED[404]},
        summary="One of your requests (as the request page shows it)",
    )
    def get(self, request: Request, request_id: int) -> Response:
        found = jit_selectors.request_for_requester_or_404(request.user, request_id)
        return Response(s.AccessRequestSerializer(found).data)


class AccessRequestCancel(APIView):
    permission_classes = writes(Capability.JIT_REQUEST)

    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY],
        responses={
            200: s.AccessRequestSerializer,
            409: OpenApiResponse(description="Already cancelled; `request` is as it stands."),
            **REFUSED,
        },
        summary="Withdraw a pending request of yours (as the request page does)",
    )
    def post(self, request: Request, request_id: int) -> Response:
        found = jit_selectors.request_for_requester_or_404(request.user, request_id)

        def write() -> Response:
            # The service absorbs a second cancel silently (the page's double submit); a script is told.
            # Told from the row as it stands under the service's lock, not as it was read above: of
            # two cancels at once, the second waits for the first and is answered 409.
            with transaction.atomic():
                status = AccessRequest.objects.select_for_update().values_list("status", flat=True).get(pk=found.pk)
                if status == RequestStatus.CANCELLED:
                    found.refresh_from_db(fields=["status", "decided_at"])
                    return Response(
                        {
                            "detail": f"Request #{found.pk} is already cancelled.",
                            "request": s.AccessRequestSerializer(found).data,
                        },
                        status=409,
                    )
                try:
                    cancelled = jit_services.cancel_request(actor=request.user, access_request=found, request=request)
                except jit_services.JitError as exc:
                    return refused(exc.message)
            found.status, found.decided_at = cancelled.status, cancelled.decided_at
            return Response(s.AccessRequestSerializer(found).data)

        return idempotency.once(request, write)


class GrantList(generics.ListAPIView):
    """JIT grants of any status, newest first: yours, or everyone's for JIT administrators and
    auditors (as the grants and history pages scope them); `?live=true` is what the grants page shows."""

    serializer_class = s.GrantSerializer
    permission_classes = [requires()]
    filterset_class = filters.GrantFilter
    pagination_class = KeysetPagination

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return Grant.objects.none()
        return jit_selectors.with_extension_pending(jit_selectors.visible_grants(self.request.user))


class GrantDetail(generics.RetrieveAPIView):
    """One grant within your reach, with the seconds it has left."""

    serializer_class = s.GrantSerializer
    permission_classes = [requires()]

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return Grant.objects.none()
        return jit_selectors.with_extension_pending(jit_selectors.visible_grants(self.request.user))


NOT_YOURS = {403: OpenApiResponse(description="Missing a capability, a token without MFA, or someone else's grant.")}


class GrantExtend(APIView):
    permission_classes = writes(Capability.JIT_REQUEST)

    @extend_schema(
        request=s.ExtensionInput,
        parameters=[IDEMPOTENCY],
        responses={201: s.AccessRequestSerializer, **REFUSED, **NOT_YOURS},
        summary="Ask for more time on your grant (as the extend page does); it is approved like a new request",
    )
    def post(self, request: Request, grant_id: int) -> Response:
        body = s.ExtensionInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        grant = jit_selectors.grant_for_viewer_or_404(request.user, grant_id)

        def write() -> Response:
            if grant.requester_id != request.user.pk:  # an overseer sees it, but only its holder extends it
                return refused("Only the person holding the grant can ask to extend it.", status=403)
            try:
                extension = jit_services.request_extension(
                    actor=request.user,
                    grant=grant,
                    duration_minutes=data["duration_minutes"],
                    justification=data["justification"],
                    ticket=data["ticket"],
                    request=request,
                )
            except jit_services.JitError as exc:
                return refused(exc.message)
            return Response(s.AccessRequestSerializer(extension).data, status=201)

        return idempotency.once(request, write)


class GrantEnd(APIView):
    # The holder ends their own grant as the grants page lets them (`jit.request`); a JIT
    # administrator ends anyone's, as the admin's "end now" does. The service decides which.
    permission_classes = writes_with_any(Capability.JIT_REQUEST, Capability.JIT_ADMIN)

    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY],
        responses={
            200: s.GrantSerializer,
            409: OpenApiResponse(description="The grant has already ended or is being ended; `grant` is as it stands."),
            **REFUSED,
            **NOT_YOURS,
        },
        summary="End a grant now (its holder, or a JIT administrator); the assignment is deleted right after",
    )
    def post(self, request: Request, grant_id: int) -> Response:
        grant = jit_selectors.grant_for_viewer_or_404(request.user, grant_id)

        def write() -> Response:
            # Whether it was over already, from the row under the service's lock (not as read above):
            # of two ends at once, the second waits for the first and is answered 409.
            with transaction.atomic():
                locked = Grant.objects.select_for_update().get(pk=grant.pk)
                already_over = not locked.is_live or locked.revoke_due_at is not None
                try:
                    jit_services.end_grant(actor=request.user, grant=locked, request=request)
                except jit_services.JitError as exc:
                    return refused(exc.message, status=403)
            current = jit_selectors.grant_for_viewer_or_404(request.user, grant_id)
            if already_over:  # the service changed nothing (the page's double submit); a script is told
                how = "is already being ended" if current.is_live else "has already ended"
                body = {"detail": f"Grant #{current.pk} {how}.", "grant": s.GrantSerializer(current).data}
                return Response(body, status=409)
            return Response(s.GrantSerializer(current).data)

        return idempotency.once(request, write)
