"""News orderings over retrieved candidates: duplicates collapsed, recency, date sort, outlet diversity."""

from __future__ import annotations

import math

from indexer.enrich.stories import day_number
from indexer.store.snapshot import ArticleRow
from search.options import SearchOptions


def collapse(ranked: list[tuple[int, float]], groups: dict[int, int]) -> tuple[list, dict[int, list[int]]]:
    """Keep the best-ranked article of each near-duplicate group; map it to the others it stands for."""
    kept, copies, leader = [], {}, {}
    for rowid, score in ranked:
        group = groups.get(rowid, rowid)
        if group in leader:
            copies.setdefault(leader[group], []).append(rowid)
            continue
        leader[group] = rowid
        kept.append((rowid, score))
    return kept, copies


def recency_multiplier(age_days: float, half_life_days: float) -> float:
    """0.5 + 0.5 * 2^(-age / half_life): 1 for the newest, 0.75 one half-life older, never below 0.5."""
    return 0.5 + 0.5 * 2.0 ** (-max(age_days, 0.0) / half_life_days)


def days(published: str) -> float | None:
    """Days since the epoch of an ISO date or datetime (as stories count them); None for no date or one
    that cannot be read."""
    day = day_number(published)
    return None if math.isnan(day) else day


def needs_news_order(options: SearchOptions) -> bool:
    return bool(options.recency_half_life_days or options.max_per_source or options.sort == "date")


def news_order(ranked: list[tuple[int, float]], rows: dict[int, ArticleRow],
               options: SearchOptions) -> list[tuple[int, float]]:
    """Recency boost, then date sort, then the per-outlet cap, over the retrieved candidates."""
    if options.recency_half_life_days > 0:
        age = {rowid: days(rows[rowid].published) for rowid, _ in ranked}
        newest = max((d for d in age.values() if d is not None), default=None)
        if newest is not None:
            ranked = sorted(
                ((rowid, score * (recency_multiplier(newest - age[rowid], options.recency_half_life_days)
                                  if age[rowid] is not None else 0.5)) for rowid, score in ranked),
                key=lambda item: (-item[1], item[0]))
    if options.sort == "date":
        ranked = sorted(ranked, key=lambda item: (rows[item[0]].published, -item[0]), reverse=True)
    if options.max_per_source > 0:
        seen: dict[str, int] = {}
        capped = []
        for rowid, score in ranked:
            source = rows[rowid].source
            if not source:  # an unknown outlet is not one outlet
                capped.append((rowid, score))
            elif seen.get(source, 0) < options.max_per_source:
                seen[source] = seen.get(source, 0) + 1
                capped.append((rowid, score))
        ranked = capped
    return ranked
