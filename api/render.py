"""Search results as text for a person: a readable heading, where and when, and a snippet with the query
words marked (bold on a terminal, plain when piped)."""

from __future__ import annotations

from search.timeline import Timeline, TimelineRelevance
from search.types import PassageHit, SearchResponse, SearchResult, StoryInfo, StoryPage

SNIPPET_CHARS = 300
HEADING_WORDS = 12
BOLD, PLAIN = "\033[1m", "\033[0m"
LESS_RELATED = "── less related ──"  # before the first result that fails the relevance test


def heading(result: SearchResult) -> str:
    """The title; for an untitled article its first words (from the passage that opens it, else the best
    one), never an internal id."""
    if result.title:
        return result.title
    opening = next((p for p in result.passages if p.start == 0), result.passages[0] if result.passages else None)
    if opening is None:
        return "(untitled)"
    words = opening.text.split()
    return " ".join(words[:HEADING_WORDS]) + (" …" if len(words) > HEADING_WORDS else "")


def snippet(passage: PassageHit, bold: bool, limit: int = SNIPPET_CHARS) -> str:
    """The passage cut to about `limit` characters around its first marked word, query words in bold."""
    text = passage.text
    first = passage.highlights[0][0] if passage.highlights else 0
    start = 0 if first < limit // 2 else text.rfind(" ", 0, first - limit // 3) + 1
    end = min(len(text), start + limit)
    if end < len(text):
        end = max(text.rfind(" ", start, end), start + limit // 2)
    out, at = [], start
    for s, e in passage.highlights:
        if s < at or e > end:
            continue
        out.append(text[at:s])
        out.append(f"{BOLD}{text[s:e]}{PLAIN}" if bold else text[s:e])
        at = e
    out.append(text[at:end])
    body = " ".join("".join(out).split())
    return ("… " if start > 0 else "") + body + (" …" if end < len(text) else "")


def outlet(name: str, derived: bool) -> str:
    """The outlet as shown: one taken from the URL says so, since it names a website, not a publisher."""
    return f"{name} (from URL)" if name and derived else name


def mentions_line(words: list[str]) -> str:
    """What a less related result shares with the query: the query words it holds, or that it holds none (it
    was found by meaning alone)."""
    return f"mentions: {', '.join(words)}" if words else "mentions none of the query's words"


def render_results(response: SearchResponse, offset: int = 0, bold: bool = False, cite: bool = False) -> str:
    """The results for a person (a snippet of the best passage), or with `cite` for a model to quote: the whole
    best passage, the article's id and the passage's [start, end) offsets into its body."""
    if not response.results:
        return "no results"
    blocks = []
    divided = False
    for rank, result in enumerate(response.results, start=offset + 1):
        if not result.relevant and not divided:  # one divider; the results keep their rank order below it
            blocks.append(LESS_RELATED)
            divided = True
        lines = [f"{rank}. {heading(result)}  [{result.score:.4f}]"]
        where = " · ".join(x for x in (outlet(result.source, result.source_derived), result.published[:10],
                                        result.url) if x)
        if where:
            lines.append(f"   {where}")
        if not result.relevant:
            lines.append(f"   {mentions_line(result.mentions)}")
        if result.story:
            lines.append(f"   story {result.story.id}: {story_line(result.story)}")
        if result.also_published_by:
            lines.append(f"   also published by {', '.join(result.also_published_by)}")
        if result.passages and cite:
            best = result.passages[0]
            lines.append(f"   id {best.article or result.id}, characters {best.start}-{best.end}:")
            lines.append(f"   \"{' '.join(best.text.split())}\"")
        elif result.passages:
            lines.append(f"   {snippet(result.passages[0], bold)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _span(first: str, last: str) -> str:
    """'3-5 March 2013' style, from ISO dates; '' when undated."""
    from datetime import date

    if not first:
        return ""
    a, b = date.fromisoformat(first[:10]), date.fromisoformat(last[:10])
    if a == b:
        return f"{a.day} {a:%B %Y}"
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}-{b.day} {a:%B %Y}"
    return f"{a.day} {a:%b %Y} - {b.day} {b:%b %Y}"


OUTLETS_NAMED = 3  # a story line names its first (most prolific) outlets, then counts the rest


def story_line(story: StoryInfo) -> str:
    """'Wikinews, 1 article, 23 January 2019'; 'etonline.com (from URL), people.com (from URL), BBC and 4 more
    outlets, 12 articles, 3-5 March 2013'."""
    names = [outlet(name, name in story.derived_outlets) for name in story.outlets]
    rest = len(names) - OUTLETS_NAMED
    parts = [", ".join(names[:OUTLETS_NAMED]) + (f" and {rest} more outlet{'s' * (rest != 1)}" if rest > 0 else ""),
             f"{story.articles} article{'s' * (story.articles != 1)}", _span(story.first, story.last)]
    return ", ".join(p for p in parts if p)


def render_story(page: StoryPage) -> str:
    head = f"story {page.id}" + (f" (asked {page.asked}, merged into it)" if page.asked != page.id else "")
    outlets = ", ".join(outlet(name, name in page.derived_outlets) for name in page.outlets)
    lines = [f"{head}: {len(page.articles)} articles, {outlets or 'outlets unknown'}"]
    for a in page.articles:
        where = " · ".join(x for x in (a.published[:10], outlet(a.source, a.source_derived)) if x)
        lines.append(f"- {a.title or a.id}" + (f"  ({where})" if where else ""))
        lines.append(f"  {a.sentence}")
    return "\n".join(lines)


def relevance_rule(relevance: TimelineRelevance) -> str:
    """'cosine >= 0.54, or >= 0.26 holding 3 of the query's 4 words': the test a timeline counted by."""
    rule = f"cosine >= {relevance.cosine}"
    if relevance.words:
        rule += (f", or >= {relevance.cosine_with_words} holding {relevance.words_needed} of the query's "
                 f"{relevance.words} word{'s' * (relevance.words != 1)}")
    return rule


def render_timeline(timeline: Timeline) -> str:
    lines = [f"{timeline.matched} matching articles ({relevance_rule(timeline.relevance)}), "
             f"per {timeline.interval}; {timeline.undated} undated"]
    width = max((b.count for b in timeline.buckets), default=0)
    for b in timeline.buckets:
        bar = "#" * round(30 * b.count / width) if width else ""
        sources = ", ".join(f"{outlet(s, s in b.derived_sources)} {n}" for s, n in b.by_source.items())
        lines.append(f"{b.start}  {b.count:4d} {bar}  {sources}")
        if b.top:
            lines.append(f"            top: {b.top.title or b.top.id}")
    return "\n".join(lines)
