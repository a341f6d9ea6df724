"""The portal's URLs plus a few views that exercise each decorator."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_POST

from governance.authz.capabilities import Capability
from governance.authz.decorators import requires, requires_mfa
from portal.urls import urlpatterns as portal_urlpatterns


@requires(Capability.SCP_VIEW)
def scp_page(request):
    return HttpResponse("scp")


@require_POST
@requires(Capability.SCP_APPROVE)
@requires_mfa
def scp_approve(request):
    return HttpResponse("approved")


@requires(Capability.EVIDENCE_EXPORT)
@requires_mfa
def evidence_export(request):
    return HttpResponse("zip")


urlpatterns = [
    *portal_urlpatterns,
    path("test/scp/", scp_page, name="test_scp"),
    path("test/scp/approve/", scp_approve, name="test_scp_approve"),
    path("test/evidence/", evidence_export, name="test_evidence"),
]


def forgotten(request):
    return HttpResponse("nobody decided who may see this")


urlpatterns_with_unruled_view = [*urlpatterns, path("test/forgotten/", forgotten, name="test_forgotten")]
