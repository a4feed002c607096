"""A saved search's matches as an Atom feed (RFC 4287), for feed readers and for another newsearch's watcher.

Entry ids are stable: one per (saved search, article, version), so a reader shows a match once and a
replaced article that matches again as new. Each entry links to the article and carries the matched passage
as its summary and the article's text as its content (a watcher indexes it without fetching the page). With
`group=story` on the saved search, an entry stands for a story: its id is the story's, it lists the story's
newly matched articles, and it is updated as more join, so a breaking story is one entry, not a flood.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from urllib.parse import quote

from indexer.alerts.saved import Match
from search.alerts import Alert

ATOM = "http://www.w3.org/2005/Atom"
MAX_ENTRIES = 100


def _tag(parent: ET.Element, name: str, text: str = "", **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, name, attrs)
    if text:
        node.text = text
    return node


def _entry_id(alert: str, *parts: str | int) -> str:
    return "urn:newsearch:alert:" + ":".join(quote(str(p), safe="") for p in (alert, *parts))


def _stamp(match: Match) -> str:
    """An entry's date: when the article matched (Atom's `updated` must be a full timestamp)."""
    return match.matched_at


def feed(alert: Alert, matches: list[Match], self_url: str, text_of: dict[str, str] | None = None) -> bytes:
    """The feed document; `matches` newest first; `text_of` article id -> stored text, for entry contents."""
    text_of = text_of or {}
    root = ET.Element("feed", {"xmlns": ATOM})
    _tag(root, "id", _entry_id(alert.id))
    _tag(root, "title", f"newsearch alert: {alert.name}")
    _tag(root, "subtitle", f"articles matching {alert.query!r}" if alert.query else f"new articles of story "
                           f"{alert.story}")
    _tag(root, "updated", _stamp(matches[0]) if matches else alert.created_at)
    _tag(root, "link", rel="self", href=self_url)
    _tag(_tag(root, "author"), "name", "newsearch")
    _tag(root, "generator", "newsearch")
    if alert.grouping == "story":
        stories: dict[int, list[Match]] = defaultdict(list)
        for match in matches:
            stories[match.story].append(match)
        for story, members in list(stories.items())[:MAX_ENTRIES]:
            _story_entry(root, alert, story, members)
    else:
        for match in matches[:MAX_ENTRIES]:
            _article_entry(root, alert, match, text_of.get(match.article, ""))
    ET.indent(root)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _article_entry(root: ET.Element, alert: Alert, match: Match, text: str) -> None:
    entry = _tag(root, "entry")
    _tag(entry, "id", _entry_id(alert.id, match.article, match.generation))
    _tag(entry, "title", match.title or match.article)
    _tag(entry, "updated", _stamp(match))
    if match.published:
        _tag(entry, "published", match.published if "T" in match.published else match.published + "T00:00:00Z")
    if match.url:
        _tag(entry, "link", rel="alternate", href=match.url)
    if match.source:
        _tag(_tag(entry, "author"), "name", match.source)
    _tag(entry, "summary", match.passage, type="text")
    if text:
        _tag(entry, "content", text, type="text")


def _story_entry(root: ET.Element, alert: Alert, story: int, members: list[Match]) -> None:
    newest = members[0]
    entry = _tag(root, "entry")
    _tag(entry, "id", _entry_id(alert.id, "story", story))
    more = f" (+{len(members) - 1} more)" if len(members) > 1 else ""
    _tag(entry, "title", f"{newest.title or newest.article}{more}")
    _tag(entry, "updated", max(_stamp(m) for m in members))
    if newest.url:
        _tag(entry, "link", rel="alternate", href=newest.url)
    lines = [f"- {m.title or m.article} ({', '.join(x for x in (m.source, m.published[:10], m.url) if x)})"
             f"\n  {m.passage}" for m in members]
    _tag(entry, "summary", f"{len(members)} new article(s) in story {story}:\n" + "\n".join(lines), type="text")
