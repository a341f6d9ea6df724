"""Evidence pages: the signing keys (public, at a fixed URL), the campaigns with their packages and
sign-offs, the stored packages with their hashes, downloads.

The key URLs need no login: an auditor fetches the public key apart from any package (with curl,
from outside the portal's session) and checks packages against it. Everything else needs
`evidence.export` (403 without it), and shows only the campaigns the user may open and their
packages (404 for any other, as for one that does not exist); nothing here changes state.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from governance.audit import signing
from governance.authz.capabilities import Capability
from governance.authz.decorators import public, requires
from governance.evidence import selectors, store

PACKAGES_SHOWN = 200


def _keys() -> list[signing.PublicKey]:
    try:
        return signing.public_keys()
    except signing.SigningKeyError as exc:
        raise Http404(f"No signing key is configured: {exc}") from None


@require_GET
@public
def public_keys(request: HttpRequest) -> HttpResponse:
    keys = [
        {
            "key_id": key.key_id,
            "algorithm": "Ed25519",
            "status": "current" if key.current else "retired",
            "fingerprint_sha256": key.fingerprint,
            "public_key_pem": key.pem,
            "pem_url": request.build_absolute_uri(f"{key.key_id}.pem"),
        }
        for key in _keys()
    ]
    response = JsonResponse({"keys": keys}, json_dumps_params={"indent": 2})
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
@public
def public_key_pem(request: HttpRequest, key_id: str) -> HttpResponse:
    key = next((k for k in _keys() if k.key_id == key_id), None)
    if key is None:
        raise Http404("No such key.")
    response = HttpResponse(key.pem, content_type="application/x-pem-file")
    response["Content-Disposition"] = f'inline; filename="{key.key_id}.pem"'
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
@requires(Capability.EVIDENCE_EXPORT)
def index(request: HttpRequest) -> HttpResponse:
    try:
        keys, key_error = signing.public_keys(), ""
    except signing.SigningKeyError as exc:
        keys, key_error = [], str(exc)
    context = {
        "keys": keys,
        "key_error": key_error,
        "packages": selectors.recent_packages(request.user, limit=PACKAGES_SHOWN),
        "shown": PACKAGES_SHOWN,
        "campaigns": selectors.campaigns_for_evidence(request.user),
        "generating": selectors.being_generated(),
        "section": "evidence",
    }
    return render(request, "evidence/index.html", context)


def _after(request: HttpRequest) -> int | None:
    value = request.GET.get("after", "")
    return int(value) if value.isdigit() else None  # a cursor that is not an id starts from the newest


@require_GET
@requires(Capability.EVIDENCE_EXPORT)
def campaigns(request: HttpRequest) -> HttpResponse:
    page = selectors.campaigns_for_evidence(request.user, after=_after(request))
    return render(request, "evidence/campaigns.html", {"page": page, "section": "evidence"})


@require_GET
@requires(Capability.EVIDENCE_EXPORT)
def campaign(request: HttpRequest, campaign_id: int) -> HttpResponse:
    found = selectors.campaign_or_404(request.user, campaign_id)
    context = {"campaign": found, **selectors.campaign_evidence(found), "section": "evidence"}
    return render(request, "evidence/campaign.html", context)


@require_GET
@requires(Capability.EVIDENCE_EXPORT)
def download(request: HttpRequest, package_id) -> HttpResponse:
    package = selectors.package_or_404(request.user, package_id)
    try:
        handle = store.open_stored(package.storage, package.location, package.version_id)
    except FileNotFoundError:
        raise Http404("The package's file is no longer in the store.") from None
    response = FileResponse(handle, as_attachment=True, filename=package.filename, content_type="application/zip")
    response["X-Content-SHA256"] = package.sha256
    return response
