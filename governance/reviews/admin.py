"""Campaign templates and campaigns in the governance admin; actions call the services.

Templates are edited here (`reviews.admin`); launching, closing and approving remediation are
actions that call `launch.launch`, `services.close_campaign` and `remediation.approve`, and need
a recent MFA login. Items are read-only: people decide them in the portal's inbox; the one item
action records the ticket a manual campaign's revoke was done under (`remediation.record_ticket`).
What a close counted per account (coverage, which the compliance pages read) is read-only too.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.urls import reverse
from django.utils.html import format_html

from governance.authz import mfa
from governance.authz.admin_site import ReadOnlyAdmin
from governance.authz.capabilities import Capability
from governance.reviews import launch, remediation, services
from governance.reviews.models import Campaign, CampaignCoverage, CampaignTemplate, ReviewItem


def _fresh(modeladmin, request) -> bool:
    if mfa.is_fresh(request):
        return True
    modeladmin.message_user(request, "This action needs a recent MFA login: log in again at the IdP.", messages.ERROR)
    return False


@admin.register(CampaignTemplate)
class CampaignTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "trigger", "due_days", "close_action", "remediation_mode", "recurrence_cron", "active")
    list_filter = ("trigger", "active", "remediation_mode")
    search_fields = ("name", "description")
    view_capability = Capability.REVIEWS_ADMIN
    change_capability = Capability.REVIEWS_ADMIN
    actions = ["launch_now"]

    @admin.action(description="Launch for the current period")
    def launch_now(self, request, queryset):
        if not _fresh(self, request):
            return
        for template in queryset:
            try:
                result = launch.launch(template=template, actor=request.user)
            except launch.LaunchError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            verb = "Launched" if result.created else "Already launched:"
            self.message_user(
                request, f"{verb} {result.campaign.name} ({result.items} items, {result.reviewers} reviewers)."
            )


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ("name", "status", "item_count", "launched_at", "due_at", "remediation_mode", "report")
    list_filter = ("status", "template")
    view_capability = Capability.REVIEWS_ADMIN
    change_capability = Capability.REVIEWS_ADMIN
    actions = ["close", "approve_remediation", "retry_remediation"]
    exclude = ("manifest",)

    def has_change_permission(self, request, obj=None):
        return obj is None  # actions on the list, no edit form

    @admin.display(description="Report")
    def report(self, obj: Campaign) -> str:
        return format_html('<a href="{}">Open the report</a>', reverse("reviews:report", args=[obj.pk]))

    @admin.action(description="Close now (undecided items take the default)")
    def close(self, request, queryset):
        if not _fresh(self, request):
            return
        for campaign in queryset:
            result = services.close_campaign(campaign=campaign, actor=request.user, reason="closed in the admin")
            self.message_user(request, f"{campaign}: {result['defaulted']} defaulted, {result['revokes']} revokes.")

    @admin.action(description="Approve remediation (revokes run as you)")
    def approve_remediation(self, request, queryset):
        if not _fresh(self, request):
            return
        for campaign in queryset:
            try:
                count = remediation.approve(campaign=campaign, actor=request.user, request=request)
            except remediation.RemediationError as exc:
                self.message_user(request, f"{campaign}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{campaign}: {count} revokes approved and queued.")

    @admin.action(description="Retry failed remediation now")
    def retry_remediation(self, request, queryset):
        if not _fresh(self, request):
            return
        for campaign in queryset:
            count = remediation.retry_failed(campaign=campaign, actor=request.user, request=request)
            self.message_user(request, f"{campaign}: {count} failed revokes queued again.")


@admin.register(CampaignCoverage)
class CampaignCoverageAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "aws_account_id", "items", "undecided")
    list_filter = ("campaign",)
    search_fields = ("aws_account_id",)
    list_select_related = ("campaign",)
    view_capability = Capability.REVIEWS_ADMIN
    actions = None


class TicketActionForm(ActionForm):
    ticket = forms.CharField(
        required=False, max_length=128, label="Ticket", help_text="For “Record the ticket reference”."
    )


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnlyAdmin):
    list_display = (
        "principal_name",
        "target_name",
        "kind",
        "aws_account_id",
        "reviewer_email",
        "decision",
        "remediation_status",
    )
    list_filter = ("kind", "decision", "remediation_status", "risk")
    search_fields = ("principal_name", "target_name", "reviewer_email", "aws_account_id")
    list_select_related = ("campaign",)
    show_full_result_count = False
    view_capability = Capability.REVIEWS_ADMIN
    change_capability = Capability.REVIEWS_ADMIN
    action_form = TicketActionForm
    actions = ["record_ticket"]

    def has_change_permission(self, request, obj=None):
        return obj is None  # the ticket action on the list; no edit form

    @admin.action(description="Record the ticket reference (manual remediation done by hand)")
    def record_ticket(self, request, queryset):
        if not _fresh(self, request):
            return
        ticket = request.POST.get("ticket", "")
        try:
            count = remediation.record_ticket(items=queryset, ticket=ticket, actor=request.user, request=request)
        except remediation.RemediationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"Ticket {ticket.strip()} recorded on {count} item(s).")
