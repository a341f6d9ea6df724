"""How the OpenAPI schema describes the token authentication (drf-spectacular extension)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "governance.api.authentication.TokenAuthentication"
    name = "portalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "gpt_<prefix>_<secret>",
            "description": "A token from /api/tokens/; it acts for its user with that user's AWS-derived capabilities.",
        }
