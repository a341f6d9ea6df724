"""Just-in-time access pages: request, my requests, the approver inbox, active grants (time left,
live), history. Views parse, authorize, call a service or selector, render.

Requesters (`jit.request`) reach only their own requests and grants; approvers (`jit.approve`) the
requests routed to them; anything else answers 404. Deciding needs a fresh MFA login.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from governance.authz import mfa
from governance.authz.capabilities import Capability, capabilities
from governance.authz.decorators import authenticated, requires, requires_mfa
from governance.jit import eligibility, selectors, services
from governance.jit.forms import DecisionForm, ExtensionForm, RequestForm
from governance.jit.models import GrantStatus


def render_jit(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    """Render with what the section tabs need to know about the user."""
    caps = capabilities(request.user)
    context["jit_caps"] = {
        "request": caps.has(Capability.JIT_REQUEST),
        "approve": caps.has(Capability.JIT_APPROVE),
        "history": caps.has(Capability.AUDIT_VIEW),
    }
    return render(request, template, context, status=status)


def _cursors(request: HttpRequest) -> dict[str, str]:
    return {"after": request.GET.get("after", ""), "before": request.GET.get("before", "")}


@require_GET
@requires(Capability.JIT_REQUEST)
def my_requests(request: HttpRequest) -> HttpResponse:
    page = selectors.my_requests(request.user, **_cursors(request))
    return render_jit(request, "jit/my_requests.html", {"page": page, "section": "mine"})


@require_http_methods(["GET", "POST"])
@requires(Capability.JIT_REQUEST)
def new_request(request: HttpRequest) -> HttpResponse:
    form = RequestForm(request.POST or None, user=request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            picked = form.cleaned_data["picked"]
            try:
                if picked is None:
                    raise services.JitError("You are no longer eligible for that access; choose again.")
                if picked.policy.break_glass and not mfa.is_fresh(request):
                    # Break-glass grants itself at once: the same step-up as every other approval.
                    return mfa.step_up_redirect(request)
                created = services.submit_request(
                    actor=request.user,
                    policy=picked.policy,
                    account=picked.account,
                    permission_set=picked.permission_set,
                    duration_minutes=form.cleaned_data["duration_minutes"],
                    justification=form.cleaned_data["justification"],
                    ticket=form.cleaned_data["ticket"],
                    starts_at=form.cleaned_data["starts_at"],
                    request=request,
                )
            except services.JitError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _submitted_message(created))
                return redirect("jit:request", request_id=created.pk)
        status = 400
    return render_jit(request, "jit/request_form.html", {"form": form, "section": "new"}, status=status)


def _submitted_message(created) -> str:
    if created.break_glass:
        return "Break-glass access granted; everyone has been told and it will be reviewed."
    if created.auto_approved:
        return "Approved automatically; the access is being granted."
    return f"Request #{created.pk} sent to its approvers."


@require_GET
@requires(Capability.JIT_REQUEST)
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    found = selectors.request_for_requester_or_404(request.user, request_id)
    grant = getattr(found, "grant", None) if found.extends_id is None else found.extends
    return render_jit(request, "jit/request_detail.html", {"r": found, "grant": grant, "section": "mine"})


@require_POST
@requires(Capability.JIT_REQUEST)
def cancel_request(request: HttpRequest, request_id: int) -> HttpResponse:
    found = selectors.request_for_requester_or_404(request.user, request_id)
    try:
        services.cancel_request(actor=request.user, access_request=found, request=request)
        messages.success(request, f"Request #{found.pk} cancelled.")
    except services.JitError as exc:
        messages.error(request, exc.message)
    return redirect("jit:request", request_id=found.pk)


@require_GET
@requires(Capability.JIT_APPROVE)
def inbox(request: HttpRequest) -> HttpResponse:
    context = {
        "waiting": selectors.inbox(request.user),
        "decided": selectors.recently_decided(request.user),
        "section": "inbox",
    }
    return render_jit(request, "jit/inbox.html", context)


@require_GET
@requires(Capability.JIT_APPROVE)
def review_request(request: HttpRequest, request_id: int) -> HttpResponse:
    found = selectors.request_for_approver_or_404(request.user, request_id)
    return _review(request, found, DecisionForm())


def _review(request: HttpRequest, found, form: DecisionForm, status: int = 200) -> HttpResponse:
    allowed, why = eligibility.may_decide(request.user, found)
    mine = next((a for a in found.approvals.all() if a.approver_id == request.user.pk), None)
    context = {
        "r": found,
        "form": form,
        "may_decide": allowed and found.status == "pending" and mine is None,
        "why_not": why,
        "mine": mine,
        "section": "inbox",
    }
    return render_jit(request, "jit/review.html", context, status=status)


@require_POST
@requires(Capability.JIT_APPROVE)
@requires_mfa
def decide(request: HttpRequest, request_id: int) -> HttpResponse:
    found = selectors.request_for_approver_or_404(request.user, request_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _review(request, found, form, status=400)
    try:
        outcome = services.decide_request(
            actor=request.user,
            access_request=found,
            decision=form.cleaned_data["decision"],
            comment=form.cleaned_data["comment"],
            request=request,
        )
    except services.JitError as exc:
        form.add_error(None, exc.message)
        return _review(request, found, form, status=400)
    if not outcome.counted:
        messages.info(request, "Your decision was already recorded; it counts once.")
    elif outcome.status == "approved":
        messages.success(request, f"Request #{found.pk} approved; the access is being granted.")
    elif outcome.status == "pending":
        messages.success(request, f"Approval {outcome.approvals} of {outcome.required} recorded.")
    else:
        messages.success(request, f"Request #{found.pk} {outcome.status}.")
    return redirect(reverse("jit:inbox"))


@require_GET
@authenticated
def active_grants(request: HttpRequest) -> HttpResponse:
    context = {
        "grants": selectors.active_grants(request.user),
        "all": selectors.sees_all_grants(request.user),
        "section": "grants",
    }
    template = "jit/_partials/grants_table.html" if request.htmx else "jit/grants.html"
    return render_jit(request, template, context)


@require_http_methods(["GET", "POST"])
@requires(Capability.JIT_REQUEST)
def extend_grant(request: HttpRequest, grant_id: int) -> HttpResponse:
    grant = selectors.grant_for_holder_or_404(request.user, grant_id)
    form = ExtensionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if grant.policy.break_glass and not mfa.is_fresh(request):
            return mfa.step_up_redirect(request)  # a break-glass extension approves itself too
        if form.is_valid():
            try:
                extension = services.request_extension(
                    actor=request.user,
                    grant=grant,
                    duration_minutes=form.cleaned_data["duration_minutes"],
                    justification=form.cleaned_data["justification"],
                    ticket=form.cleaned_data["ticket"],
                    request=request,
                )
            except services.JitError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Extension request #{extension.pk} sent for approval.")
                return redirect("jit:request", request_id=extension.pk)
        status = 400
    return render_jit(request, "jit/extend.html", {"grant": grant, "form": form, "section": "grants"}, status=status)


@require_POST
@requires(Capability.JIT_REQUEST)
def end_grant(request: HttpRequest, grant_id: int) -> HttpResponse:
    grant = selectors.grant_for_holder_or_404(request.user, grant_id)
    try:
        services.end_grant(actor=request.user, grant=grant, request=request)
        messages.success(request, "Ending now: the assignment is being deleted in AWS.")
    except services.JitError as exc:
        messages.error(request, exc.message)
    return redirect("jit:grants")


@require_GET
@requires(Capability.AUDIT_VIEW)
def history(request: HttpRequest) -> HttpResponse:
    filters = {k: request.GET.get(k, "").strip() for k in ("status", "account", "requester")}
    page = selectors.history(request.user, **filters, **_cursors(request))
    context = {
        "page": page,
        "filters": filters,
        "statuses": GrantStatus.choices,
        "section": "history",
        "is_admin": capabilities(request.user).has(Capability.JIT_ADMIN),
    }
    return render_jit(request, "jit/history.html", context)
