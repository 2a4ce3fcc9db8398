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

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo-home")
    env = {**os.environ, "PARTNERMATCH_HOME": str(home), "PARTNERMATCH_ENCODER": "minilm"}
    env.pop("PARTNERMATCH_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "service.cli", "ingest", "--profiles", str(data.DEMO_PROFILES),
                    "--needs", str(data.DEMO_NEEDS)], env=env, check=True, capture_output=True)
    return home


def _evaluate(home: Path, *extra: str) -> dict:
    env = {**os.environ, "PARTNERMATCH_HOME": str(home), "PARTNERMATCH_ENCODER": "minilm"}
    out = subprocess.run([sys.executable, "-m", "service.cli", "evaluate", "--qrels", str(data.DEV_QRELS),
                          "--json", *extra], env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_dev_set_forward_quality_targets(demo_home: Path) -> None:
    report = _evaluate(demo_home, "--areas", str(data.DEV_AREAS))
    ours, bm25 = report["ours"], report["bm25"]
    assert ours["all"]["ndcg@10"] >= 0.75
    assert ours["all"]["ndcg@10"] - bm25["all"]["ndcg@10"] >= 0.10
    for lang in ("fr", "pt"):
        assert ours["en"]["ndcg@10"] - ours[lang]["ndcg@10"] <= 0.10, lang
    assert report["areas"]["micro"]["recall"] >= 0.8


def test_dev_set_reverse_quality_target(demo_home: Path) -> None:
    report = _evaluate(demo_home, "--reverse")
    assert report["ours"]["all"]["ndcg@10"] >= 0.75
    assert report["ours"]["all"]["ndcg@10"] > report["bm25"]["all"]["ndcg@10"]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_match_works_with_the_network_unavailable(demo_home: Path) -> None:
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot create a network namespace here")
    env = {**os.environ, "PARTNERMATCH_HOME": str(demo_home), "PARTNERMATCH_ENCODER": "minilm"}
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run(["unshare", "-n", sys.executable, "-m", "service.cli", "match", "--text",
                             "Nos mères meurent d'hémorragie après l'accouchement", "--top", "3", "--json"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["shared_areas"][0]["area"] == "maternal_health"
