"""Every benchmark script still runs: main(["--smoke", "--out", tmp]) at tiny sizes, results written.

The benchmarks themselves are not tests (run them with `make bench`); this keeps them working.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

CASES = [
    pytest.param("bench_assign", "assign", id="assign"),
    pytest.param("bench_index", "index", id="index"),
    pytest.param("bench_match", "match", id="match"),
    # These start child processes or a server, or load the real model: minutes, not seconds.
    pytest.param("bench_ingest", "ingest", id="ingest", marks=pytest.mark.slow),
    pytest.param("bench_http", "http", id="http", marks=pytest.mark.slow),
    pytest.param("bench_encoders", "encoders", id="encoders", marks=pytest.mark.slow),
]


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))


@pytest.mark.parametrize(("module", "name"), CASES)
def test_benchmark_runs_at_smoke_size_and_writes_its_result(module: str, name: str, tmp_path: Path) -> None:
    script = importlib.import_module(module)
    out = tmp_path / "results"
    args = ["--smoke", "--out", str(out)]
    if module != "bench_assign":  # embedding caches and ONNX exports stay in the test's directory
        args += ["--cache", str(tmp_path / "cache")]
    assert script.main(args) == 0
    report = json.loads((out / f"{name}.json").read_text())
    assert report["benchmark"] == name
