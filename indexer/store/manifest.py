"""The index folder's manifest: written first when an index is made, read first when it is opened."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from indexer.enrich.stories import StoryParams
from indexer.errors import NotAnIndex
from indexer.files import write_atomic
from indexer.models.embed import DEFAULT_ENCODER
from indexer.models.profiles import DEFAULT_CONTEXT, DEFAULT_PROFILE
from indexer.store.migrations import BASE_FORMAT, FORMAT_VERSION

MANIFEST = "manifest.json"
DATABASE = "meta.sqlite"



@dataclass
class Manifest:
    """What an index was built with and holds, in `manifest.json`: the settings every writer must share (model,
    profile, context, passage sizes), the vector backend, and counts for people and tools. The database is
    the truth for the format (`migrations.py`); `format_version` here is its copy."""

    model: str
    dim: int
    backend: str = "faiss"
    backend_uri: str = ""  # milvus: a .db file (relative to the folder; '' the default) or http://host:port
    encoder: str = DEFAULT_ENCODER
    index_type: str = "flat"
    index_params: dict = field(default_factory=dict)
    chunk_tokens: int = 128
    overlap_tokens: int = 32
    profile: str = DEFAULT_PROFILE
    extra_models: list = field(default_factory=list)  # the profile's other models: [{"model", "dim"}], in order
    context: str = DEFAULT_CONTEXT
    stories: dict = field(default_factory=lambda: asdict(StoryParams()))  # the clusterer's parameters
    format_version: int = FORMAT_VERSION
    created: str = ""
    updated: str = ""
    articles: int = 0
    passages: int = 0
    generation: int = 0

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotAnIndex(
                f"{folder} is not a newsearch index (no {MANIFEST}); build one with `newsearch index`") from None
        except (OSError, ValueError) as exc:
            raise NotAnIndex(f"{folder / MANIFEST} is unreadable: {exc}") from exc
        version = data.get("format_version")
        if not isinstance(version, int) or version < BASE_FORMAT:
            raise NotAnIndex(
                f"{folder} has index format {version}; this newsearch upgrades formats {BASE_FORMAT} to "
                f"{FORMAT_VERSION} in place, not older ones. Build it again: delete {folder} and run "
                f"`newsearch index SOURCES --index {folder}`"
            )
        if version > FORMAT_VERSION:
            raise NotAnIndex(f"{folder} has index format {version}, made by a newer newsearch; this one reads "
                             f"formats {BASE_FORMAT} to {FORMAT_VERSION}. Update newsearch.")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def write(self, folder: Path) -> None:
        write_atomic(folder / MANIFEST, json.dumps(self.__dict__, indent=2, sort_keys=True))

    def models(self) -> list[str]:
        """Every model of the index by name, its own first (the order its vectors are stored in)."""
        return [self.model, *(extra["model"] for extra in self.extra_models)]

    def dim_of(self, model: str) -> int:
        return self.dim if model == self.model else next(e["dim"] for e in self.extra_models if e["model"] == model)

    def slot_of(self, model: str) -> int:
        """Where `model`'s vectors are stored: 0 in `passages`, n in `passage_vectors.slot` (the store's own
        business; every caller names the model)."""
        try:
            return self.models().index(model)
        except ValueError:
            raise KeyError(f"the index holds no vectors of {model!r}; it has {', '.join(self.models())}") from None
