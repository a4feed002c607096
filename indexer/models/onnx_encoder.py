"""ONNX Runtime encoders: the configured sentence-transformers model exported locally, fp32 or int8.

On first use the model is exported from its local folder with `torch.onnx.export` (never downloaded) into
a cache folder keyed by the model's path, name, version and weight files: `$NEWSEARCH_CACHE/onnx/<key>/`,
by default `~/.cache/newsearch/onnx/<key>/`. The folder holds `model.onnx` (fp32), `model-int8.onnx`
(dynamic int8 quantization with per-channel weights; per-tensor loses too much), the fast tokenizer and
`spec.json` (pooling, sequence length, inputs). Every file is written to a temporary name and renamed, so a
crash never leaves a half file. Once cached, encoding needs only onnxruntime and tokenizers: no torch, no
sentence-transformers import.

Only Transformer -> Pooling (mean or CLS) -> optional Normalize pipelines are supported; anything else is
refused with a message naming the module.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from indexer.files import write_atomic
from indexer.system import available_cores

EXPORT_VERSION = 1  # bump when the export changes; old cache folders are then simply not used
OPSET = 17
SPEC = "spec.json"
FILES = {False: "model.onnx", True: "model-int8.onnx"}
SUPPORTED_POOLING = ("mean", "cls")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model")


class UnsupportedModel(ValueError):
    """The model's sentence-transformers pipeline cannot be reproduced by the ONNX encoder."""


def cache_root() -> Path:
    root = os.environ.get("NEWSEARCH_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "newsearch") / "onnx"


def local_model_folder(path: str) -> Path:
    """The folder of a model: a local path as is, a hub name from the local hub cache only."""
    folder = Path(path)
    if folder.is_dir():
        return folder.resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(path, local_files_only=True)).resolve()
    except Exception as exc:  # any failure means the same thing here
        raise UnsupportedModel(f"the ONNX encoder needs a local copy of {path!r}; pass its folder") from exc


def cache_key(folder: Path, name: str, version: str = "") -> str:
    """Hash of the model's path, name, version and the size and mtime of its files: a changed model, new key."""
    files = []
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.suffix in _WEIGHT_SUFFIXES and ".git" not in f.parts:
            st = f.stat()
            files.append([str(f.relative_to(folder)), st.st_size, st.st_mtime_ns])
    payload = json.dumps({"path": str(folder), "name": name, "version": version, "files": files,
                          "export": EXPORT_VERSION, "opset": OPSET}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _pooling_mode(module) -> str:
    mode = getattr(module, "pooling_mode", None)
    if not isinstance(mode, str):  # sentence-transformers < 5 keeps flags and a method for the string
        getter = getattr(module, "get_pooling_mode_str", None)
        mode = getter() if getter else None
    if mode not in SUPPORTED_POOLING:
        raise UnsupportedModel(f"pooling {mode!r} is not supported by the ONNX encoder "
                               f"(supported: {', '.join(SUPPORTED_POOLING)}); use encoder 'torch'")
    return mode


def export(model_path: str, folder: Path) -> None:
    """Export the fp32 ONNX model, tokenizer and spec of a sentence-transformers model into `folder`."""
    import inspect

    import torch
    from sentence_transformers import SentenceTransformer

    modules = list(SentenceTransformer(model_path, device="cpu"))
    kinds = [type(m).__name__ for m in modules]
    if len(modules) < 2 or kinds[0] != "Transformer" or kinds[1] != "Pooling" or \
            any(k != "Normalize" for k in kinds[2:]):
        raise UnsupportedModel(f"the ONNX encoder supports Transformer -> Pooling [-> Normalize] models, "
                               f"not {' -> '.join(kinds)}; use encoder 'torch'")
    transformer, pooling = modules[0], modules[1]
    mode = _pooling_mode(pooling)
    tokenizer = transformer.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise UnsupportedModel("the ONNX encoder needs a fast (Rust) tokenizer")
    hf_model = transformer.auto_model
    # Eager attention exports to plain MatMul/Softmax, which onnxruntime fuses and quantizes well.
    if hasattr(hf_model, "set_attn_implementation"):
        with contextlib.suppress(Exception):  # otherwise keep the model's default attention
            hf_model.set_attn_implementation("eager")
    hf_model = hf_model.float().eval()
    sample = tokenizer(["a short text", "another, slightly longer text"], padding=True, return_tensors="pt")
    accepted = inspect.signature(hf_model.forward).parameters
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample and n in accepted]

    class Wrapper(torch.nn.Module):  # keyword arguments: transformers 5 rejects the positional call
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            out = self.model(**dict(zip(names, inputs, strict=True)))
            return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]

    def write_model(tmp: Path) -> None:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shapes that are constant for an encoder
            torch.onnx.export(Wrapper(hf_model), tuple(sample[n] for n in names), str(tmp), input_names=names,
                              output_names=["token_embeddings"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "token_embeddings"]})

    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / FILES[False], write_model)
    write_atomic(folder / "tokenizer.json", tokenizer.backend_tokenizer.to_str())
    spec = {"inputs": names, "pooling": mode, "max_seq_length": int(transformer.max_seq_length),
            "do_lower_case": bool(getattr(transformer, "do_lower_case", False)),
            "dim": int(hf_model.config.hidden_size), "pad_id": int(tokenizer.pad_token_id or 0),
            "model_path": str(model_path)}
    write_atomic(folder / SPEC, json.dumps(spec, indent=2))  # written last: its presence means complete


def quantize(folder: Path) -> None:
    """Dynamic int8 quantization of the fp32 export, per-channel weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a pre-processing hint at WARNING on the root logger
    try:
        write_atomic(folder / FILES[True], lambda tmp: quantize_dynamic(
            str(folder / FILES[False]), str(tmp), per_channel=True, weight_type=QuantType.QInt8))
    finally:
        root.setLevel(level)


def ensure_exported(model_path: str, name: str, version: str = "", int8: bool = False) -> Path:
    """The cache folder holding a complete export (and the int8 file when asked), made if missing."""
    folder = cache_root() / cache_key(local_model_folder(model_path), name, version)
    if not (folder / SPEC).exists() or not (folder / FILES[False]).exists():
        export(model_path, folder)
    if int8 and not (folder / FILES[True]).exists():
        quantize(folder)
    return folder


class OnnxEncoder:
    """Token embeddings from onnxruntime, pooled and normalized in numpy like sentence-transformers."""

    def __init__(self, model_path: str, name: str, version: str = "", int8: bool = False,
                 batch_size: int = 32, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = ensure_exported(model_path, name, version, int8)
        self.spec = json.loads((self.folder / SPEC).read_text(encoding="utf-8"))
        self.dim = int(self.spec["dim"])
        self.max_seq_length = int(self.spec["max_seq_length"])
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.counter = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.counter.no_padding()
        self.counter.no_truncation()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.folder / FILES[int8]), options,
                                            providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Unit-length float32 rows; texts are sorted by token length and batched to cut padding."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        texts = [t.lower() for t in texts] if self.spec["do_lower_case"] else list(texts)
        encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        from tqdm import tqdm

        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="encoding", unit=" batches", disable=not progress):
            rows = order[start:start + self.batch_size]
            out[rows] = self._batch([encodings[i] for i in rows])
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """One text's vector, tokenized alone: the batch path's parallel tokenizer call, sort and progress bar
        cost more than the tokenizing itself on a search's latency path (benchmarks/README.md)."""
        return self._batch([self.tokenizer.encode(text.lower() if self.spec["do_lower_case"] else text)])[0]

    def _batch(self, encodings: list) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.spec["pad_id"], dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = e.ids, 1, e.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        tokens = self.session.run(None, {n: feeds[n] for n in self.spec["inputs"]})[0]
        if self.spec["pooling"] == "cls":
            pooled = tokens[:, 0]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        pooled = pooled.astype(np.float32)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self.counter.encode_batch(list(texts), add_special_tokens=False)]
