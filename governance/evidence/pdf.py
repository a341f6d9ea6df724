"""PDF files of a package (e.g. a campaign's summary.pdf): a Django template rendered by WeasyPrint.

The HTML is rendered with autoescaping like any page, so AWS names and justifications stay text.
WeasyPrint may fetch nothing: the template carries its own CSS, charts are drawn with CSS boxes,
and the URL fetcher allows no scheme at all (no file, no network), so what the PDF shows comes only from
the context. WeasyPrint needs Pango and a font on the machine (see deploy/Dockerfile).
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from governance.evidence.package import PackageFile


def render_pdf(template_name: str, context: dict[str, Any]) -> bytes:
    """The template rendered to PDF bytes (its <title> becomes the document's title)."""
    import weasyprint  # imported when a PDF is made: it loads Pango, which a page view never needs

    html = render_to_string(template_name, context)
    no_fetching = weasyprint.URLFetcher(allowed_protocols=())  # every scheme refused: file:, http:, data:
    return weasyprint.HTML(string=html, url_fetcher=no_fetching).write_pdf()


def pdf_file(path: str, template_name: str, context: Any) -> PackageFile:
    """A package file rendered when the zip reaches it; `context` may be a callable, queried only then."""

    def chunks() -> list[bytes]:
        return [render_pdf(template_name, context() if callable(context) else context)]

    return PackageFile(path, chunks)
