"""Printable PDFs of the memorisation sheets, drawn by WeasyPrint from the page's own print
styles. WeasyPrint needs the Pango library from the system (Debian: libpango-1.0-0,
libpangoft2-1.0-0) and a CJK font (fonts-noto-cjk) for Chinese."""

from functools import cache

from django.contrib.staticfiles import finders
from django.utils.translation import gettext as _


class PdfUnavailable(Exception):
    """This machine cannot draw PDFs (no Pango); the browser's print still works."""


@cache
def _stylesheet() -> str:
    with open(finders.find("css/console.css"), encoding="utf-8") as handle:
        return handle.read()


def _no_fetching(url: str, *args, **kwargs):
    # Everything the sheet needs is in the HTML and the stylesheet passed in; never fetch.
    from weasyprint.urls import URLFetcherResponse

    return URLFetcherResponse(url, body=b"", headers={"Content-Type": "text/css"})


def from_html(html: str) -> bytes:
    try:
        import weasyprint
    except OSError as error:  # the Python package is there, the system library is not
        raise PdfUnavailable(
            _("PDFs need the Pango library on the server; use Print instead.")
        ) from error
    # A base address only so that the page's relative links resolve (to nothing).
    return weasyprint.HTML(
        string=html, base_url="http://sheet.invalid/", url_fetcher=_no_fetching
    ).write_pdf(stylesheets=[weasyprint.CSS(string=_stylesheet())])
