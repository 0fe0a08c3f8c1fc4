"""Sitemaps of the reader pages, as the sitemaps.org protocol 0.9 defines them (https://www.sitemaps.org/protocol.html).

A sitemap (``urlset``) lists at most ``URLS_PER_SITEMAP`` (50,000) URLs and
is at most ``MAX_SITEMAP_BYTES`` (50 MiB) uncompressed; a site with more
pages publishes a sitemap index (``sitemapindex``) naming one sitemap per
part. Every ``loc`` is an absolute URL, entity-escaped (protocol "Entity
escaping"); ``lastmod`` is a W3C Datetime. The site's parts are numbered
pages of its claims and of its sources (``SitemapPart``).
"""

from __future__ import annotations

from typing import Iterable, NamedTuple, Optional
from xml.sax.saxutils import escape

NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"
URLS_PER_SITEMAP = 50_000
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
KINDS = ("claims", "sources")


class SitemapPart(NamedTuple):
    """One sitemap of a split site: ``kind`` (claims or sources) and its page number, from 1."""

    kind: str
    page: int

    @property
    def path(self) -> str:
        return f"/sitemap-{self.kind}-{self.page}.xml"


def parts(counts: dict, limit: int = URLS_PER_SITEMAP) -> list[SitemapPart]:
    """The sitemaps of a site with ``counts`` pages of each kind, ``limit`` URLs to a sitemap."""
    return [SitemapPart(kind, page + 1) for kind in KINDS for page in range(-(-counts.get(kind, 0) // limit))]


def _escaped(text: str) -> str:
    # Most URLs and dates need no escaping: skip the three replacements for them (50,000 per sitemap).
    return escape(text) if "&" in text or "<" in text or ">" in text else text


def urlset(urls: Iterable[tuple[str, Optional[str]]]) -> bytes:
    """A sitemap of (absolute URL, lastmod or None) pairs."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<urlset xmlns="{NAMESPACE}">']
    for loc, lastmod in urls:
        lines.append(f"<url><loc>{_escaped(loc)}</loc>" + (f"<lastmod>{_escaped(lastmod)}</lastmod>" if lastmod else "") + "</url>")
    lines.append("</urlset>\n")
    return "\n".join(lines).encode("utf-8")


def sitemap_index(locations: Iterable[str]) -> bytes:
    """A sitemap index naming each sitemap by its absolute URL."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<sitemapindex xmlns="{NAMESPACE}">']
    lines += [f"<sitemap><loc>{escape(loc)}</loc></sitemap>" for loc in locations]
    lines.append("</sitemapindex>\n")
    return "\n".join(lines).encode("utf-8")
