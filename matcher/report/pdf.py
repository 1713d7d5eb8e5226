"""The report page as an A4 PDF with its fonts embedded (WeasyPrint; CJK from Debian's fonts-noto-cjk)."""

from __future__ import annotations

#: printed, every patient's detail is open: a PDF has no disclosure triangles
_OPEN_DETAILS = "details.patient > * { display: block !important; }"


def render_pdf(html: str) -> bytes:
    """The HTML of render_html as PDF; nothing is fetched (the page is self-contained)."""
    from weasyprint import CSS, HTML  # noqa: PLC0415  it loads Pango, which the JSON paths never need

    def no_fetch(url: str, *args: object, **kwargs: object) -> dict[str, object]:
        raise ValueError(f"the report fetches nothing: {url[:60]}")

    document = HTML(string=html, url_fetcher=no_fetch)
    out = document.write_pdf(stylesheets=[CSS(string=_OPEN_DETAILS)])
    if not isinstance(out, bytes):  # write_pdf returns the bytes when given no target
        raise TypeError("WeasyPrint wrote no PDF")
    return out
