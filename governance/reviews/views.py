"""The reviewer's pages: my campaigns, the inbox, decisions (one, bulk), delegation, sign-off,
and the campaign report.

Views parse, authorize, call a service, render. A campaign is fetched through
`selectors.campaign_for_user` (404 unless the user reviews in it or administers or audits
reviews); an item's own check (is it routed to me, is it about me) is the service's.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from governance.authz import mfa
from governance.authz.capabilities import Capability
from governance.authz.decorators import authenticated, requires, requires_mfa
from governance.reviews import selectors, services
from governance.reviews.models import Campaign, Decision, ItemKind, Recommendation, ReviewItem, Risk

CHOICES = {"risks": Risk.choices, "kinds": ItemKind.choices, "recommendations": Recommendation.choices}


@require_GET
@authenticated
def inbox(request: HttpRequest) -> HttpResponse:
    campaigns = selectors.my_campaigns(request.user)
    admin_campaigns = (
        list(Campaign.objects.order_by("-launched_at")[:20]) if selectors.is_campaign_admin(request.user) else []
    )
    return render(request, "reviews/inbox.html", {"campaigns": campaigns, "admin_campaigns": admin_campaigns})


@require_GET
@authenticated
def campaign_inbox(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.campaign_for_inbox(request.user, campaign_id)
    filters = selectors.InboxFilters.from_query(request.GET)
    page = selectors.inbox_page(campaign, request.user, filters, after=request.GET.get("after", ""))
    if not page.total and not selectors.may_oversee(request.user):
        raise Http404("No such campaign.")
    context = {"campaign": campaign, "page": page, "filters": filters, "query": filters.as_query(), **CHOICES}
    if request.htmx and request.GET.get("after"):
        return render(request, "reviews/_rows.html", context)
    return render(request, "reviews/campaign.html", context)


@require_POST
@authenticated
def decide(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """One item's decision; the item is a form field, checked by the service (is it mine)."""
    campaign = selectors.campaign_for_user(request.user, campaign_id)
    item_id = request.POST.get("item", "")
    item = ReviewItem.objects.filter(campaign=campaign, pk=int(item_id) if item_id.isdigit() else 0).first()
    if item is None or item.reviewer_email not in selectors.my_emails(request.user):
        if request.htmx:
            return HttpResponse("This item is not yours to decide.", status=400)
        messages.error(request, "This item is not yours to decide.")
        return redirect(reverse("reviews:campaign_inbox", args=[campaign.pk]))
    version = request.POST.get("version", "")
    error = conflict = ""
    try:
        item = services.decide_item(
            item_id=item.pk,
            decision=request.POST.get("decision", ""),
            justification=request.POST.get("justification", ""),
            actor=request.user,
            expected_version=int(version) if version.isdigit() else None,
            request=request,
        )
    except services.ConflictError as exc:
        conflict, item = str(exc), exc.item
    except services.ReviewError as exc:
        error = str(exc)
        item.refresh_from_db()
    status = 409 if conflict else (400 if error else 200)
    if request.htmx:
        context = {
            "item": item,
            "error": error or conflict,
            "typed": request.POST.get("justification", ""),
            "campaign": item.campaign,
        }
        return render(request, "reviews/_item.html", context, status=status)
    if error or conflict:
        messages.error(request, error or conflict)
    return redirect(reverse("reviews:campaign_inbox", args=[item.campaign_id]))


@require_POST
@authenticated
def bulk_decide(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.campaign_for_user(request.user, campaign_id)
    filters = selectors.InboxFilters.from_query(request.POST)
    items = filters.apply(selectors.reviewer_items(campaign, selectors.my_emails(request.user)))
    chosen = [int(pk) for pk in request.POST.getlist("item") if pk.isdigit()]
    if chosen:
        items = items.filter(pk__in=chosen)
    try:
        count = services.decide_bulk(
            campaign=campaign,
            items=items,
            decision=request.POST.get("decision", ""),
            justification=request.POST.get("justification", ""),
            actor=request.user,
            request=request,
        )
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        label = Decision(request.POST.get("decision")).label.lower()
        if count:
            messages.success(request, f"{count} item{'s' if count != 1 else ''} marked {label}.")
        else:  # an auditor, or items decided or signed off meanwhile: nothing to tell as done
            messages.error(request, f"Nothing was marked {label}: none of these items is yours to decide now.")
    return redirect(reverse("reviews:campaign_inbox", args=[campaign.pk]) + _query(filters))


def _query(filters: selectors.InboxFilters) -> str:
    from urllib.parse import urlencode

    query = filters.as_query()
    return f"?{urlencode(query)}" if query else ""


@require_POST
@authenticated
def delegate(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.campaign_for_user(request.user, campaign_id)
    items = selectors.reviewer_items(campaign, selectors.my_emails(request.user)).filter(decision=Decision.NONE)
    chosen = [int(pk) for pk in request.POST.getlist("item") if pk.isdigit()]
    items = items.filter(pk__in=chosen) if chosen else selectors.InboxFilters.from_query(request.POST).apply(items)
    try:
        count = services.delegate_items(
            campaign=campaign,
            items=items,
            to_email=request.POST.get("to", ""),
            reason=request.POST.get("reason", ""),
            actor=request.user,
            request=request,
        )
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        if count:
            messages.success(request, f"{count} item{'s' if count != 1 else ''} delegated to {request.POST.get('to')}.")
        else:
            messages.error(request, "Nothing was delegated: none of these items is yours and still undecided.")
    return redirect(reverse("reviews:campaign_inbox", args=[campaign.pk]))


@require_http_methods(["GET", "POST"])
@authenticated
@requires_mfa
def sign_off(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.campaign_for_user(request.user, campaign_id)
    page = selectors.inbox_page(campaign, request.user, selectors.InboxFilters())
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            messages.error(request, "Tick the statement to sign it.")
        else:
            try:
                services.sign_off(
                    campaign=campaign, actor=request.user, mfa_methods=mfa.session_amr(request), request=request
                )
            except services.ReviewError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, "Signed. Your decisions are locked.")
                return redirect(reverse("reviews:campaign_inbox", args=[campaign.pk]))
    return render(request, "reviews/sign_off.html", {"campaign": campaign, "page": page})


@require_GET
@requires(Capability.AUDIT_VIEW)
def report(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.campaign_for_user(request.user, campaign_id)
    return render(request, "reviews/report.html", {"campaign": campaign, "report": selectors.report(campaign)})


@require_POST
@requires(Capability.REVIEWS_ADMIN)
@requires_mfa
def close(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.campaign_for_user(request.user, campaign_id)
    result = services.close_campaign(campaign=campaign, actor=request.user, reason="closed by an administrator")
    messages.success(
        request, f"Closed: {result['defaulted']} undecided items took the default; {result['revokes']} revokes queued."
    )
    return redirect(reverse("reviews:report", args=[campaign.pk]))
