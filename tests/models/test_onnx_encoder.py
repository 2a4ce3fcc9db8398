"""The ONNX Runtime MiniLM encoder: exported once with a manifest, run without torch, same vectors as torch."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.encoders import make_encoder
from models.onnx_minilm import EXPORT_SCHEMA, OnnxEncoder, default_cache_dir, read_export_manifest

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "Patients arrive with sudden weakness down one side of the body and slurred speech.",
    "We train midwives to manage bleeding after birth and run obstetric emergency drills.",
    "Notre unité de néonatologie manque de couveuses et de personnel formé.",
    "short",
]


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export (fp32 and int8) for the whole session."""
    cache = tmp_path_factory.mktemp("onnx") / "all-MiniLM-L6-v2"
    OnnxEncoder("int8", cache_dir=cache).encode(["export"])
    OnnxEncoder("fp32", cache_dir=cache).encode(["export"])
    return cache


@pytest.mark.slow
def test_export_writes_a_manifest_per_variant(onnx_dir: Path) -> None:
    for variant in ("fp32", "int8"):
        manifest = read_export_manifest(onnx_dir, variant)
        assert manifest is not None and manifest["variant"] == variant and manifest["model"] == "all-MiniLM-L6-v2"
        assert manifest["versions"]["onnxruntime"] != "absent" and manifest["created"]


@pytest.mark.slow
def test_loading_and_encoding_with_onnx_never_imports_torch(onnx_dir: Path) -> None:
    code = (
        "import sys; from models.onnx_minilm import OnnxEncoder; "
        f"v = OnnxEncoder('fp32', cache_dir=__import__('pathlib').Path({str(onnx_dir)!r})).encode(['a stroke unit']); "
        "assert v.shape == (1, 384); "
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_onnx_fp32_matches_torch_and_int8_stays_close(onnx_dir: Path, minilm) -> None:
    ref = minilm.encode(TEXTS)
    fp32 = OnnxEncoder("fp32", cache_dir=onnx_dir).encode(TEXTS)
    int8 = OnnxEncoder("int8", cache_dir=onnx_dir).encode(TEXTS)
    assert fp32.shape == ref.shape == (4, 384) and fp32.dtype == np.float32
    assert np.allclose(np.linalg.norm(fp32, axis=1), 1.0, atol=1e-5)
    assert (fp32 * ref).sum(axis=1).min() >= 0.999
    assert (int8 * ref).sum(axis=1).mean() >= 0.98


@pytest.mark.slow
def test_a_manifest_that_does_not_match_is_refused_and_the_export_redone(onnx_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(onnx_dir, copy)
    manifest_path = copy / "manifest-fp32.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "schema_version": 999}))
    assert read_export_manifest(copy, "fp32") is None
    OnnxEncoder("fp32", cache_dir=copy).encode(["again"])  # exported again
    assert read_export_manifest(copy, "fp32")["schema_version"] == EXPORT_SCHEMA


def test_make_encoder_offers_both_onnx_variants_cached_under_home(tmp_path: Path) -> None:
    fp32, int8 = make_encoder("onnx", home=tmp_path), make_encoder("onnx-int8", home=tmp_path)
    assert isinstance(fp32, OnnxEncoder) and isinstance(int8, OnnxEncoder)
    assert fp32.name == "all-MiniLM-L6-v2" and int8.name == "all-MiniLM-L6-v2-onnx-int8"
    assert fp32.cache_dir == default_cache_dir(tmp_path) == tmp_path / "models" / "onnx" / "all-MiniLM-L6-v2"
    with pytest.raises(ValueError, match="unknown ONNX variant"):
        OnnxEncoder("fp16")  # type: ignore[arg-type]


def test_batches_are_longest_first_and_never_padded_past_half_again() -> None:
    enc = OnnxEncoder("int8", batch_size=2)
    assert enc._batches([256, 31, 250, 10, 240, 12]) == [[0, 2], [4], [1], [5, 3]]


def test_a_text_encodes_the_same_alone_or_beside_a_longer_one(onnx_dir: Path) -> None:
    """fp32 ignores padding, so the batching cannot move a vector; and the file's own 128-token padding is off."""
    enc = OnnxEncoder("fp32", cache_dir=onnx_dir)
    long_text = " ".join(TEXTS[:3] * 6)
    together = enc.encode([long_text, TEXTS[0]])
    alone = enc.encode([TEXTS[0]])
    assert float(together[1] @ alone[0]) > 0.99999
    _, tokenizer = enc._load()
    assert len(tokenizer.encode(TEXTS[3]).ids) < 8 and len(tokenizer.encode(long_text * 3).ids) == 256
