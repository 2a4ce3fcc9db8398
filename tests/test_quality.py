"""Dev-set quality with the real model, through the same path as `partnermatch evaluate` (slow)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import data
from service.settings import Settings

pytestmark = pytest.mark.slow


DEFAULT_ENCODER = Settings.model_fields["encoder"].default


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export for the module's homes."""
    return tmp_path_factory.mktemp("models")


def _env(home: Path, models_dir: Path, encoder: str) -> dict[str, str]:
    env = {**os.environ, "PARTNERMATCH_HOME": str(home), "PARTNERMATCH_MODELS_DIR": str(models_dir),
           "PARTNERMATCH_ENCODER": encoder}
    env.pop("PARTNERMATCH_DATABASE_URL", None)
    return env


def _ingest(home: Path, models_dir: Path, encoder: str) -> Path:
    subprocess.run([sys.executable, "-m", "service.cli", "ingest", "--profiles", str(data.DEMO_PROFILES),
                    "--needs", str(data.DEMO_NEEDS)], env=_env(home, models_dir, encoder), check=True,
                   capture_output=True)
    return home


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """The demo data ingested with the default encoder."""
    return _ingest(tmp_path_factory.mktemp("demo-home"), models_dir, DEFAULT_ENCODER)


def _evaluate(home: Path, *extra: str, models_dir: Path, encoder: str = DEFAULT_ENCODER) -> dict:
    out = subprocess.run([sys.executable, "-m", "service.cli", "evaluate", "--qrels", str(data.DEV_QRELS),
                          "--json", *extra], env=_env(home, models_dir, encoder), check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def test_the_default_encoder_loses_at_most_001_ndcg_against_torch_minilm(
        demo_home: Path, models_dir: Path, tmp_path: Path) -> None:
    torch_home = _ingest(tmp_path / "torch", models_dir, "minilm")
    default = _evaluate(demo_home, models_dir=models_dir)["ours"]["all"]["ndcg@10"]
    reference = _evaluate(torch_home, models_dir=models_dir, encoder="minilm")["ours"]["all"]["ndcg@10"]
    assert reference - default <= 0.01, (default, reference)


def test_dev_set_forward_quality_targets(demo_home: Path, models_dir: Path) -> None:
    report = _evaluate(demo_home, "--areas", str(data.DEV_AREAS), models_dir=models_dir)
    ours, bm25 = report["ours"], report["bm25"]
    assert ours["all"]["ndcg@10"] >= 0.75
    assert ours["all"]["ndcg@10"] - bm25["all"]["ndcg@10"] >= 0.10
    for lang in ("fr", "pt"):
        assert ours["en"]["ndcg@10"] - ours[lang]["ndcg@10"] <= 0.10, lang
    assert report["areas"]["micro"]["recall"] >= 0.8


def test_dev_set_reverse_quality_target(demo_home: Path, models_dir: Path) -> None:
    report = _evaluate(demo_home, "--reverse", models_dir=models_dir)
    assert report["ours"]["all"]["ndcg@10"] >= 0.75
    assert report["ours"]["all"]["ndcg@10"] > report["bm25"]["all"]["ndcg@10"]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_match_works_with_the_network_unavailable(demo_home: Path, models_dir: Path) -> None:
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot create a network namespace here")
    env = _env(demo_home, models_dir, DEFAULT_ENCODER)
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run(["unshare", "-n", sys.executable, "-m", "service.cli", "match", "--text",
                             "Nos mères meurent d'hémorragie après l'accouchement", "--top", "3", "--json"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["shared_areas"][0]["area"] == "maternal_health"
