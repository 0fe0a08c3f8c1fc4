"""The JSON-LD of an HTML page: its ``<script type="application/ld+json">`` blocks and the page's URL.

Fact-check desks publish ClaimReview inside their article pages, often beside
``NewsArticle``, ``WebPage`` and ``BreadcrumbList`` nodes, in one block or
several. ``page_from_untrusted`` reads a page with the standard library's
``html.parser`` (HTML5 tokenization rules are not needed: a script's content
is raw text up to ``</script>``) and returns every JSON-LD block and the URL
that relative URLs in it are resolved against: ``<base href>`` resolved
against the page's own URL, which is the one given on the command line
(``--base-url``), else the page's ``<link rel="canonical">``, else its
``og:url`` (docs/interop.md "HTML pages").
"""

from __future__ import annotations

import html.parser
from typing import Optional
from urllib.parse import urljoin

import attrs

from ledger.errors import FormatError

_JSONLD = "application/ld+json"


@attrs.frozen
class HtmlPage:
    blocks: tuple  # (line, JSON text) of each ld+json script, in page order
    url: Optional[str]  # what relative URLs resolve against; None when the page does not say
    url_from: Optional[str]  # where ``url`` came from, for the report


class _Scanner(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[int, str]] = []
        self.canonical = self.og_url = self.base = None
        self._script: Optional[list[str]] = None
        self._line = 0

    def handle_starttag(self, tag, attrs_list):
        attrs_ = {name.lower(): (value or "") for name, value in attrs_list}
        if tag == "script" and attrs_.get("type", "").split(";")[0].strip().lower() == _JSONLD:
            self._script, self._line = [], self.getpos()[0]
        elif tag == "link" and "canonical" in attrs_.get("rel", "").lower().split():
            self._first("canonical", attrs_.get("href"))
        elif tag == "meta" and attrs_.get("property", "").lower() == "og:url":
            self._first("og_url", attrs_.get("content"))
        elif tag == "base":
            self._first("base", attrs_.get("href"))

    def _first(self, name: str, value: str) -> None:
        # The first one a page gives counts, as for browsers' <base>.
        if getattr(self, name) is None and value:
            setattr(self, name, value)

    def handle_data(self, data):
        if self._script is not None:
            self._script.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.blocks.append((self._line, "".join(self._script)))
            self._script = None


def _unwrapped(text: str) -> str:
    # Some pages wrap the JSON in an HTML comment or a CDATA section (for old browsers).
    stripped = text.strip()
    for start, end in (("<!--", "-->"), ("//<![CDATA[", "//]]>"), ("<![CDATA[", "]]>")):
        if stripped.startswith(start) and stripped.endswith(end):
            stripped = stripped[len(start):-len(end)].strip()
    return stripped


def looks_like_html(head: bytes) -> bool:
    """Whether a file that starts with ``head`` is HTML (JSON never starts with '<')."""
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def page_from_untrusted(data: bytes, name: str, page_url: Optional[str] = None) -> HtmlPage:
    """The JSON-LD blocks of an HTML page and the URL its relative URLs resolve against.

    ``page_url`` is where the page was fetched from, when the caller knows it.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FormatError(f"{name} is not UTF-8 text: {e.reason} at byte {e.start}") from e
    scanner = _Scanner()
    scanner.feed(text)
    scanner.close()
    url, url_from = page_url, "--base-url"
    if url is None:
        url, url_from = (scanner.canonical, '<link rel="canonical">') if scanner.canonical else (scanner.og_url, "og:url")
    if scanner.base:
        url = urljoin(url or "", scanner.base)
        url_from = "<base href>" + (f" against {url_from}" if url_from and url != scanner.base else "")
    if not url or not url.lower().startswith(("http://", "https://")):
        url, url_from = None, None
    return HtmlPage(blocks=tuple((line, _unwrapped(block)) for line, block in scanner.blocks), url=url, url_from=url_from)
