from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from governance.authz.admin_site import ReadOnlyAdmin
from governance.authz.models import IdentityLink, LinkStatus, User

# The governance admin is not a database editor: Django groups grant nothing here (rights come
# from AWS), and allauth's rows hold IdP client secrets, tokens and raw claims that no portal
# administrator needs to browse. Their own apps register them; this site drops them again.
NOT_ADMINISTERED = (
    "auth.group",
    "account.emailaddress",
    "socialaccount.socialapp",
    "socialaccount.socialtoken",
    "socialaccount.socialaccount",
)
for _model in [m for m in admin.site._registry if m._meta.label_lower in NOT_ADMINISTERED]:
    admin.site.unregister(_model)


@admin.register(IdentityLink)
class IdentityLinkAdmin(ReadOnlyAdmin):
    """Who is linked to which Identity Center user, and who is not (to be fixed in AWS)."""

    list_display = ["user", "status_badge", "aws_user_name", "aws_email", "candidate_list", "checked_at"]
    list_filter = ["status"]
    search_fields = ["user__username", "user__email", "aws_user_name", "aws_email", "principal_arn"]
    list_select_related = ["user"]
    ordering = ["status", "user__username"]
    readonly_fields = [f.name for f in IdentityLink._meta.fields]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: IdentityLink) -> str:
        css = "ok" if obj.status == LinkStatus.LINKED else "warning"
        return format_html('<span class="badge {}">{}</span>', css, obj.get_status_display())

    @admin.display(description="matching Identity Center users")
    def candidate_list(self, obj: IdentityLink) -> str:
        return format_html_join(", ", "{}", ((arn,) for arn in obj.candidates)) or "—"


@admin.register(User)
class UserAdmin(ReadOnlyAdmin):
    """Portal users as the IdP created them; rights are not edited here but in AWS."""

    list_display = ["username", "email", "link_status", "last_login", "is_active", "break_glass_until"]
    list_filter = ["is_active", "identity_link__status"]
    search_fields = ["username", "email"]
    list_select_related = ["identity_link"]
    fields = ["username", "email", "first_name", "last_name", "is_active", "last_login", "date_joined"]
    readonly_fields = fields

    @admin.display(description="AWS link", ordering="identity_link__status")
    def link_status(self, obj: User) -> str:
        link = getattr(obj, "identity_link", None)
        return link.get_status_display() if link else "not checked yet"
