"""Entities: the people, organisations and places each committed article names, found by spaCy's small
English recogniser (`indexer.models.ner`) and stored with their counts and first offsets (table `entities`).

What is read: the headline and the lead, the first `LEAD_WORDS` words of the body, where news names its
subjects. The budget is a quarter of indexing time at the defaults: on 2 cores the recogniser costs 4.0 ms
per article over headline + 40 words (+19% indexing), 5.6 ms over 60 (+32%), 27-30 ms over whole articles
(`benchmarks/entities.py`; benchmarks/README.md, "Entities").
The recogniser runs in `prepare`, before the batch's transaction, so the write lock is held only for the
inserts. Within an article, mentions are merged by their key (`indexer.names.name_key`: no "Mr.", no
possessive, case-folded), and a one-word name of a person ("Lohan") joins the one longer name of a person
the article uses that contains it ("Lindsay Lohan"). A kind is the recogniser's label: PERSON -> person,
ORG -> organization, GPE and LOC -> place; its other labels (dates, nationalities, ...) are not kept.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from indexer.enrich.stage import Stage, StageBatch
from indexer.models import ner
from indexer.names import display_name, name_key
from indexer.sources.article import Article

LEAD_WORDS = 40
KINDS = {"PERSON": "person", "ORG": "organization", "GPE": "place", "LOC": "place"}
BATCH = 32  # texts per recogniser batch


@dataclass(frozen=True)
class Entity:
    """One name in one article: its kind, key, display name (the most used surface form), mentions in what
    was read, and the offset of the first in the body (-1: only the headline names it)."""

    kind: str
    key: str
    name: str
    count: int
    first: int


def reading(article: Article) -> tuple[str, int]:
    """(what the recogniser reads, where the body starts in it): the headline, then the lead."""
    words, end = 0, 0
    text = article.text
    while words < LEAD_WORDS and end < len(text):
        while end < len(text) and text[end].isspace():
            end += 1
        while end < len(text) and not text[end].isspace():
            end += 1
        words += 1
    head = article.title + "\n" if article.title else ""
    return head + text[:end], len(head)


def entities(mentions: list[tuple[str, str, int]], body_start: int) -> list[Entity]:
    """An article's entities from its mentions (label, surface text, offset in what was read)."""
    found: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for label, surface, offset in mentions:
        kind = KINDS.get(label)
        name = display_name(surface)
        if kind and name and any(c.isalpha() for c in name):
            found[(kind, name_key(name))].append((name, offset))
    people = [key for kind, key in found if kind == "person" and " " in key]
    for kind, key in list(found):
        if kind == "person" and " " not in key:
            longer = [p for p in people if key in p.split()]
            if len(longer) == 1:  # "Lohan" is the article's "Lindsay Lohan"; ambiguous ones stay as they are
                found[(kind, longer[0])].extend(found.pop((kind, key)))
    out = []
    for (kind, key), seen in found.items():
        name = Counter(n for n, _ in seen if " " in n or len(seen) == 1).most_common(1)
        display = max((n for n, _ in seen), key=len) if kind == "person" else (name[0][0] if name else seen[0][0])
        first = min(offset for _, offset in seen)
        out.append(Entity(kind, key, display, len(seen), first - body_start if first >= body_start else -1))
    return sorted(out, key=lambda e: (e.kind, -e.count, e.key))


def recognise(articles: list[Article]) -> list[list[Entity]] | None:
    """The entities of each article, in order; None when the recogniser is not installed."""
    nlp = ner.load()
    if nlp is None:
        return None
    texts = [reading(a) for a in articles]
    docs = nlp.pipe([text for text, _ in texts], batch_size=BATCH)
    return [entities([(e.label_, e.text, e.start_char) for e in doc.ents], start)
            for doc, (_, start) in zip(docs, texts, strict=True)]


class Entities(Stage):
    """Find each new article's entities before the transaction; store them inside it."""

    name = "entities"

    def prepare(self, articles: list[Article], conn: sqlite3.Connection, folder: Path) -> list[list[Entity]] | None:
        return recognise(articles) if articles else None

    def apply(self, batch: StageBatch) -> None:
        found = batch.prepared.get(self.name)
        if found is None:
            return
        batch.conn.executemany(
            'INSERT INTO entities (article, kind, key, name, count, "first") VALUES (?,?,?,?,?,?)',
            [(stored.rowid, e.kind, e.key, e.name, e.count, e.first)
             for stored, article_entities in zip(batch.added, found, strict=True) for e in article_entities])


def backfill(index, batch: int = 64, progress: bool = False) -> int:
    """Find the entities of stored articles that have none (stored before entities existed, or while the
    recogniser was not installed), `batch` articles per short transaction (`IndexStore.edit`); how many
    articles were read. An article that names nobody is read again by a later backfill: that costs time,
    never a wrong row."""
    from tqdm import tqdm

    conn = index.connection()
    missing = [r[0] for r in conn.execute(
        "SELECT rowid FROM articles a WHERE NOT EXISTS (SELECT 1 FROM entities e WHERE e.article = a.rowid)")]
    if not missing or not ner.available():
        return 0
    done = 0
    with tqdm(total=len(missing), unit="article", disable=not progress, desc="entities") as bar:
        for start in range(0, len(missing), batch):
            rows = conn.execute(f"SELECT rowid, id, title, text FROM articles WHERE rowid IN "
                                f"({','.join('?' * len(missing[start:start + batch]))})",
                                missing[start:start + batch]).fetchall()
            found = recognise([Article(article_id, title, text) for _, article_id, title, text in rows])
            with index.edit() as edit:  # an article replaced or deleted meanwhile is skipped
                alive = {r[0] for r in edit.execute(
                    f"SELECT rowid FROM articles WHERE rowid IN ({','.join('?' * len(rows))})", [r[0] for r in rows])}
                edit.executemany(
                    'INSERT OR IGNORE INTO entities (article, kind, key, name, count, "first") VALUES (?,?,?,?,?,?)',
                    [(rowid, e.kind, e.key, e.name, e.count, e.first)
                     for (rowid, *_), ents in zip(rows, found, strict=True) if rowid in alive for e in ents])
            done += len(rows)
            bar.update(len(rows))
    return done
