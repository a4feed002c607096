"""Text cleaning: what every reader's text goes through before chunking, so offsets are into clean text."""

from __future__ import annotations

import re
import unicodedata

# Zero-width and bidi-control characters carry no words but split tokens; C0/C1 controls are noise.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A lone surrogate (JSON allows "\\ud800") cannot be encoded as UTF-8: SQLite and hashing would fail on it.
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"[^\S\n]+")
_HTML_SPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*(\n\s*)*")
_LOOKS_HTML = re.compile(r"<\s*(html|body|p|div|br|script|style|span|a|article|h[1-6])\b[^>]*>", re.I)


def looks_like_html(text: str) -> bool:
    return bool(_LOOKS_HTML.search(text))


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment, scripts and styles removed (for HTML pasted into a text field)."""
    from lxml import html as lxml_html
    from lxml_html_clean import Cleaner

    try:
        tree = lxml_html.fromstring(html)
    except Exception:  # lxml raises several types for garbage; the text is then taken as it is
        return html
    tree = Cleaner(scripts=True, javascript=True, style=True, comments=True, page_structure=False).clean_html(tree)
    for element in tree.iter():  # line breaks in HTML source are spaces; only tags make lines
        if element.text:
            element.text = _HTML_SPACE.sub(" ", element.text)
        if element.tail:
            element.tail = _HTML_SPACE.sub(" ", element.tail)
    for br in tree.iter("br"):
        br.tail = "\n" + (br.tail or "")
    for block in tree.iter("p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "article", "section"):
        block.tail = "\n\n" + (block.tail or "")
    return tree.text_content()


def scrub(value: object) -> object:
    """`value` with lone surrogates in its strings (and nested lists' and dicts') replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    return value


def clean_text(text: str) -> str:
    """NFC, no invisible or control characters, single spaces, paragraphs kept as blank lines."""
    text = _SURROGATE.sub("\ufffd", text)
    if looks_like_html(text):
        text = html_to_text(text)
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text.replace("\t", " "))
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()
