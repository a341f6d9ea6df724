"""Configuration mistakes in authorization become system checks with ids."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

from governance.authz.capabilities import Role

ASSIGNABLE_ROLES = {Role.AUDITOR.value, Role.POLICY_ADMIN.value, Role.CAMPAIGN_ADMIN.value}


@register()
def check_authz_settings(app_configs=None, **kwargs):
    problems = []
    role_map = getattr(settings, "GOVERNANCE_ROLE_MAP", None)
    if not isinstance(role_map, dict) or not all(isinstance(k, str) and k for k in role_map):
        problems.append(
            Error(
                "GOVERNANCE_ROLE_MAP must be a JSON object mapping permission-set names to portal roles.",
                id="authz.E001",
            )
        )
    else:
        unknown = sorted({str(v) for v in role_map.values()} - ASSIGNABLE_ROLES)
        if unknown:
            problems.append(
                Error(
                    f"GOVERNANCE_ROLE_MAP names unknown roles: {', '.join(unknown)}.",
                    hint=f"Use one of: {', '.join(sorted(ASSIGNABLE_ROLES))}.",
                    id="authz.E002",
                )
            )
    for kind, config in (getattr(settings, "SOCIALACCOUNT_PROVIDERS", None) or {}).items():
        for app in (config or {}).get("APPS", []):
            app_settings = app.get("settings") or {}
            if app_settings.get("link_claim") and not app_settings.get("link_issuer"):
                problems.append(
                    Error(
                        f"Provider {app.get('provider_id')!r} ({kind}) links on claim "
                        f"{app_settings['link_claim']!r} but names no issuer.",
                        hint="Set the ExternalIds Issuer that SCIM provisioning writes for this IdP "
                        "(OIDC_<ID>_LINK_ISSUER / SAML_<ID>_LINK_ISSUER).",
                        id="authz.E003",
                    )
                )
    if getattr(settings, "BREAK_GLASS_ENABLED", False) and getattr(settings, "PRODUCTION", False):
        problems.append(
            Warning(
                "BREAK_GLASS_ENABLED is on in production; turn it off again once the emergency is over.",
                id="authz.W001",
            )
        )
    return problems
