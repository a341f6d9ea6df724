"""The signing key behind audit checkpoints and evidence manifests, as system checks."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

from governance.audit import signing


@register()
def check_signing_key(app_configs=None, **kwargs):
    if not getattr(settings, "SIGNING_KEY_FILE", ""):
        if getattr(settings, "PRODUCTION", False):
            return [
                Warning(
                    "SIGNING_KEY_FILE is not set: audit checkpoints and evidence packages cannot be signed, so the"
                    " audit trail is only as trustworthy as whoever owns its database.",
                    hint="Generate one with `openssl genpkey -algorithm ed25519 -out signing-key.pem` (README).",
                    id="audit.W001",
                )
            ]
        return []
    try:
        signing.public_keys()
    except signing.SigningKeyError as exc:
        return [Error(str(exc), id="audit.E001")]
    return []
