"""Organization-policy pages: the tree with each node's SCPs and RCPs, an account's effective policies,
and "would this request be allowed here?".

Views parse, authorize (the decorators; accounts through the scoped selectors, so an account the user
may not see answers 404), call a selector or service, render.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from governance.authz.capabilities import Capability, visible_principals
from governance.authz.decorators import requires
from governance.scp import selectors
from governance.scp.explain import ExplainError, explain, parse_context


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
