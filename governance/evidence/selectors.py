"""Reads for the evidence pages."""

from __future__ import annotations

from django.http import Http404

from governance.evidence.models import EvidencePackage


def recent_packages(*, limit: int) -> list[EvidencePackage]:
    return list(EvidencePackage.objects.stored().select_related("created_by").order_by("-created_at", "-id")[:limit])


def package_or_404(package_id) -> EvidencePackage:
    package = EvidencePackage.objects.stored().filter(pk=package_id).first()
    if package is None:
        raise Http404("No such evidence package.")
    return package


def campaigns_for_evidence(user) -> list:
    """Campaigns an auditor can take evidence of; empty until the reviews app provides them."""
    return []
