"""Models shipped in parts: every piece and the joined zip are checked before anything is unpacked."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from indexer.models.install import MPNET, VERIFIED, ModelNotInstalled, PartedModel, assemble, find_parts, installed_path


def _parts(tmp_path: Path) -> tuple[PartedModel, list[Path]]:
    """A small model folder zipped and cut into three pieces, with its sums: the shape of the real one."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tiny-model/config.json", json.dumps({"dim": 4}))
        archive.writestr("tiny-model/desktop.ini", "[.ShellClassInfo]")
        archive.writestr("tiny-model/weights.bin", bytes(range(256)) * 40)
    data = buffer.getvalue()
    cut = [data[: len(data) // 3], data[len(data) // 3: 2 * len(data) // 3], data[2 * len(data) // 3:]]
    parts = []
    for i, piece in enumerate(cut, 1):
        parts.append(tmp_path / f"tiny.zip.00{i}")
        parts[-1].write_bytes(piece)
    model = PartedModel("tiny/tiny-model", "tiny-model", ("p1", "p2", "p3"),
                        tuple(hashlib.sha256(p).hexdigest() for p in cut), hashlib.sha256(data).hexdigest())
    return model, parts


def test_assemble_checks_joins_and_unpacks(tmp_path):
    model, parts = _parts(tmp_path)
    root = tmp_path / "models"
    with pytest.raises(ModelNotInstalled, match="make quality-model"):
        installed_path(model, root)
    folder = assemble(model, parts, root)
    assert folder == installed_path(model, root) == root / "tiny-model"
    assert json.loads((folder / "config.json").read_text()) == {"dim": 4}
    assert not (folder / "desktop.ini").exists()
    assert json.loads((folder / VERIFIED).read_text())["zip_sha256"] == model.zip_sum
    assert [p.name for p in root.iterdir()] == ["tiny-model"]  # nothing left from the assembly


def test_a_damaged_piece_is_named_and_nothing_is_unpacked(tmp_path):
    model, parts = _parts(tmp_path)
    damaged = bytearray(parts[1].read_bytes())
    damaged[10] ^= 0xFF
    parts[1].write_bytes(bytes(damaged))
    root = tmp_path / "models"
    with pytest.raises(ValueError, match=r"tiny\.zip\.002: checksum mismatch"):
        assemble(model, parts, root)
    assert not (root / "tiny-model").exists()
    with pytest.raises(ValueError, match="3 pieces; 2 given"):
        assemble(model, parts[:2], root)


def test_another_build_is_not_taken_for_the_pinned_one(tmp_path):
    model, parts = _parts(tmp_path)
    root = tmp_path / "models"
    assemble(model, parts, root)
    with pytest.raises(ModelNotInstalled, match="another build"):
        installed_path(replace(model, zip_sum="0" * 64), root)


def test_the_real_parts_match_their_pinned_sums(tmp_path):
    """`make quality-model` installed the five wheels and assembled the model; its pieces still check out."""
    folder = installed_path(MPNET)
    assert (folder / "model.safetensors").stat().st_size > 400_000_000
    parts = find_parts(MPNET)
    assert [p.name for p in parts] == [f"all-mpnet-base-v2.zip.00{i}" for i in range(1, 6)]
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in parts] == list(MPNET.part_sums)
