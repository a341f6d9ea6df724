"""Organization-policy pages: the tree with each node's SCPs and RCPs, an account's effective policies,
and "would this request be allowed here?".

Views parse, authorize (the decorators; accounts through the scoped selectors, so an account the user
may not see answers 404), call a selector or service, render.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from governance.authz.capabilities import Capability, capabilities, visible_principals
from governance.authz.decorators import requires, requires_mfa
from governance.aws.errors import AwsError
from governance.scp import diagnostics, selectors, services
from governance.scp.effective import FULL_ACCESS_NAMES
from governance.scp.explain import ExplainError, explain, parse_context
from governance.scp.models import ChangeKind, ChangeRequest, ChangeStatus


@require_GET
@requires(Capability.SCP_VIEW)
def org_tree(request: HttpRequest) -> HttpResponse:
    return render(request, "scp/org_tree.html", {"tree": selectors.org_tree(request.user), "section": "tree"})


def _explain_form(request: HttpRequest) -> dict:
    return {
        "principal": request.GET.get("principal", "").strip(),
        "action": request.GET.get("action", "").strip(),
        "resource": request.GET.get("resource", "").strip() or "*",
        "context": request.GET.get("context", ""),
    }


def _explain(request: HttpRequest, form: dict) -> tuple[dict | None, str]:
    if not form["principal"] or not form["action"]:
        return None, ""
    lines = [line.strip() for line in form["context"].splitlines() if line.strip()]
    try:
        answer = explain(
            principal_arn=form["principal"],
            action=form["action"],
            resource=form["resource"],
            context=parse_context(lines),
            principals=visible_principals(request.user),
        )
    except ExplainError as exc:
        return None, str(exc)
    return answer.as_dict(), ""


@require_GET
@requires(Capability.SCP_VIEW)
def account_chain(request: HttpRequest, account_id: str) -> HttpResponse:
    chain = selectors.account_chain(request.user, account_id)
    form = _explain_form(request)
    if not form["principal"]:
        form["principal"] = f"arn:aws:iam::{chain.account.account_id}:role/"
    answer, error = _explain(request, form)
    context = {"chain": chain, "form": form, "answer": answer, "error": error, "section": "tree"}
    template = "scp/_partials/explain.html" if request.htmx else "scp/account.html"
    return render(request, template, context)


# Policies and change requests -------------------------------------------------------------------


def _problems(exc: services.ChangeError) -> list:
    return [p.as_dict() if hasattr(p, "as_dict") else p for p in exc.problems]


@require_GET
@requires(Capability.SCP_VIEW)
def policy_list(request: HttpRequest) -> HttpResponse:
    policies = selectors.org_policies(kind=request.GET.get("kind") or None)
    return render(request, "scp/policies.html", {"policies": policies, "section": "policies"})


@require_GET
@requires(Capability.SCP_VIEW)
def policy_detail(request: HttpRequest, scp_id: int) -> HttpResponse:
    policy = selectors.policy_for_user(request.user, scp_id)
    caps = capabilities(request.user)
    drift = selectors.drift_of(request.user, policy)
    context = {
        "policy": policy,
        "document_text": selectors.pretty(policy.document),
        "versions": selectors.policy_versions(policy),
        "attachments": selectors.policy_attachments(policy),
        "changes": list(ChangeRequest.objects.filter(aws_policy_id=policy.aws_policy_id).select_related("author")[:20]),
        "drift": drift,
        "drift_authors": selectors.drift_authors(policy, drift),
        "can_propose": caps.has(Capability.SCP_PROPOSE),
        "aws_owned": policy.name == FULL_ACCESS_NAMES.get(policy.kind),
        "section": "policies",
    }
    return render(request, "scp/policy.html", context)


def _editor_context(request: HttpRequest, *, policy=None, text: str = "", kind: str = "scp", errors=None) -> dict:
    base = selectors.pretty(policy.document) if policy is not None else ""
    found = diagnostics.diagnose(text, kind) if text.strip() else []
    return {
        "policy": policy,
        "kind": policy.kind if policy is not None else kind,
        "text": text,
        "base_text": base,
        "diagnostics": [d.as_dict() for d in found],
        "summary": diagnostics.summary(found, text=text, kind=policy.kind if policy else kind)
        if text.strip()
        else None,
        "rows": selectors.side_by_side(base, text) if policy is not None and text.strip() else [],
        "form": request.POST if request.method == "POST" else {},
        "errors": errors or [],
        "section": "policies",
    }


@require_http_methods(["GET", "POST"])
@requires(Capability.SCP_PROPOSE)
def policy_new(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("policy_type") or request.GET.get("type") or "scp"
    kind = kind if kind in diagnostics.KINDS else "scp"
    if request.method == "POST":
        try:
            change = services.propose_change(
                actor=request.user,
                kind=ChangeKind.CREATE,
                policy_type=kind,
                name=request.POST.get("name", ""),
                description=request.POST.get("description", ""),
                document_text=request.POST.get("document", ""),
                reason=request.POST.get("reason", ""),
                request=request,
            )
        except services.ChangeError as exc:
            context = _editor_context(request, text=request.POST.get("document", ""), kind=kind, errors=[str(exc)])
            return render(request, "scp/editor.html", context, status=400)
        messages.success(request, f"Change request #{change.pk} is waiting for another policy admin's approval.")
        return redirect("scp:change", change_id=change.pk)
    template = {"Version": "2012-10-17", "Statement": [{"Sid": "", "Effect": "Deny", "Action": [], "Resource": "*"}]}
    return render(request, "scp/editor.html", _editor_context(request, text=selectors.pretty(template), kind=kind))


@require_http_methods(["GET", "POST"])
@requires(Capability.SCP_PROPOSE)
def policy_edit(request: HttpRequest, scp_id: int) -> HttpResponse:
    policy = selectors.policy_for_user(request.user, scp_id)
    if request.method == "POST":
        text = request.POST.get("document", "")
        try:
            change = services.propose_change(
                actor=request.user,
                kind=ChangeKind.UPDATE,
                policy=policy,
                document_text=text,
                reason=request.POST.get("reason", ""),
                request=request,
            )
        except services.ChangeError as exc:
            return render(
                request,
                "scp/editor.html",
                _editor_context(request, policy=policy, text=text, errors=[str(exc)]),
                status=400,
            )
        messages.success(request, f"Change request #{change.pk} is waiting for another policy admin's approval.")
        return redirect("scp:change", change_id=change.pk)
    return render(
        request, "scp/editor.html", _editor_context(request, policy=policy, text=selectors.pretty(policy.document))
    )


@require_POST
@requires(Capability.SCP_PROPOSE)
def policy_validate(request: HttpRequest) -> HttpResponse:
    """The editor's live check (htmx): diagnostics and the diff against the current version."""
    policy = None
    if request.POST.get("scp_id"):
        try:
            policy = selectors.policy_for_user(request.user, int(request.POST["scp_id"]))
        except ValueError:
            policy = None
    kind = request.POST.get("policy_type", "scp")
    context = _editor_context(request, policy=policy, text=request.POST.get("document", ""), kind=kind)
    return render(request, "scp/_partials/diagnostics.html", context)


@require_POST
@requires(Capability.SCP_PROPOSE)
def policy_propose(request: HttpRequest, scp_id: int) -> HttpResponse:
    """Attach, detach, delete, adopt AWS's version, or go back to an earlier version: each a change request."""
    policy = selectors.policy_for_user(request.user, scp_id)
    kind = request.POST.get("kind", "")
    reason = request.POST.get("reason", "")
    try:
        if kind == "rollback":
            version = selectors.version_for(policy, request.POST.get("version", ""))
            change = services.propose_rollback(
                actor=request.user, policy=policy, version=version, reason=reason, request=request
            )
        elif kind == "revert":
            version = selectors.approved_versions().get(policy.aws_policy_id)
            change = services.propose_rollback(
                actor=request.user, policy=policy, version=version, reason=reason, request=request
            )
        else:
            change = services.propose_change(
                actor=request.user,
                kind=kind,
                policy=policy,
                reason=reason,
                target_id=request.POST.get("target_id", ""),
                request=request,
            )
    except services.ChangeError as exc:
        messages.error(request, str(exc))
        return redirect("scp:policy", scp_id=policy.pk)
    messages.success(request, f"Change request #{change.pk} is waiting for another policy admin's approval.")
    return redirect("scp:change", change_id=change.pk)


@require_GET
@requires(Capability.SCP_VIEW)
def change_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "open")
    if status not in ("", "open", *ChangeStatus.values):
        status = "open"
    try:
        after = int(request.GET.get("after", "") or 0) or None
    except ValueError:
        after = None
    rows, next_after = selectors.change_page(status=status, after=after)
    context = {
        "changes": rows,
        "next_after": next_after,
        "status": status,
        "statuses": ChangeStatus.choices,
        "section": "changes",
    }
    return render(request, "scp/changes.html", context)


def _change_context(request: HttpRequest, change) -> dict:
    caps = capabilities(request.user)
    before = selectors.pretty(change.base_document)
    after = change.document_text if change.document_text else selectors.pretty(change.document)
    return {
        "change": change,
        "rows": selectors.side_by_side(before, after) if change.document is not None else [],
        "statements": selectors.statement_changes(change.base_document, change.document),
        "is_author": change.author_id == request.user.pk,
        "can_approve": caps.has(Capability.SCP_APPROVE),
        "stuck_minutes": services.STUCK_AFTER_MINUTES,
        "audit": selectors.change_history(change),
        "section": "changes",
    }


@require_GET
@requires(Capability.SCP_VIEW)
def change_detail(request: HttpRequest, change_id: int) -> HttpResponse:
    change = selectors.change_for_user(request.user, change_id)
    return render(request, "scp/change.html", _change_context(request, change))


@require_GET
@requires(Capability.SCP_VIEW)
def change_impact(request: HttpRequest, change_id: int) -> HttpResponse:
    """The impact panel; polled by htmx while the analysis runs."""
    change = selectors.change_for_user(request.user, change_id)
    return render(request, "scp/_partials/impact.html", {"change": change})


def _decide(request: HttpRequest, change_id: int, action) -> HttpResponse:
    change = selectors.change_for_user(request.user, change_id)
    try:
        result = action(change)
    except services.ChangeError as exc:
        messages.error(request, str(exc))
    except AwsError as exc:
        messages.error(request, f"AWS could not be read: {exc}")
    else:
        messages.success(request, f"Change request #{result.pk}: {result.get_status_display()}.")
        if result.error:
            messages.warning(request, result.error)
    return redirect("scp:change", change_id=change.pk)


@require_POST
@requires(Capability.SCP_APPROVE)
@requires_mfa
def change_approve(request: HttpRequest, change_id: int) -> HttpResponse:
    note = request.POST.get("note", "")
    return _decide(
        request, change_id, lambda c: services.approve_change(change=c, actor=request.user, note=note, request=request)
    )


@require_POST
@requires(Capability.SCP_APPROVE)
@requires_mfa
def change_apply(request: HttpRequest, change_id: int) -> HttpResponse:
    return _decide(request, change_id, lambda c: services.apply_change(change=c, actor=request.user, request=request))


@require_POST
@requires(Capability.SCP_APPROVE)
@requires_mfa
def change_reconcile(request: HttpRequest, change_id: int) -> HttpResponse:
    return _decide(
        request, change_id, lambda c: services.reconcile_applying(change=c, actor=request.user, request=request)
    )


@require_POST
@requires(Capability.SCP_APPROVE)
def change_reject(request: HttpRequest, change_id: int) -> HttpResponse:
    note = request.POST.get("note", "")
    return _decide(
        request, change_id, lambda c: services.reject_change(change=c, actor=request.user, note=note, request=request)
    )


@require_POST
@requires(Capability.SCP_PROPOSE)
def change_cancel(request: HttpRequest, change_id: int) -> HttpResponse:
    return _decide(request, change_id, lambda c: services.cancel_change(change=c, actor=request.user, request=request))


@require_POST
@requires(Capability.SCP_PROPOSE)
def change_rebase(request: HttpRequest, change_id: int) -> HttpResponse:
    return _decide(request, change_id, lambda c: services.rebase_change(change=c, actor=request.user, request=request))
