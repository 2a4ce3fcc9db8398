"""The learned reranker: estimator shape, save -> load -> same scores, breakdowns that sum, promotion, fallback."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from data import DEMO_NEEDS, DEMO_PROFILES, DEV_QRELS
from matcher.engine import MatchEngine
from matcher.errors import InvalidInputError, ModelUnavailableError
from matcher.evaluate import read_qrels
from matcher.rank import PairFeatures, total
from models.reranker import LogisticReranker, load_reranker, newest_reranker, reranker_root, save_reranker
from models.reranker_training import MIN_DECISIONS, decision_examples, train_reranker
from service.cli import main


def pair(dense: float, areas: float, language: float = 1.0, full: float = 0.0) -> PairFeatures:
    return PairFeatures(dense=dense, lexical=dense / 2, areas=areas, language=language, country=0.0,
                        modality=0.5, full=full)


def toy_data(n: int = 60, seed: int = 0) -> tuple[list[PairFeatures], list[int]]:
    """Accepted pairs share areas; rejected ones mostly do not."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for i in range(n):
        accepted = i % 2
        areas = float(np.clip(rng.normal(0.6 if accepted else 0.2, 0.15), 0, 1))
        X.append(pair(float(rng.uniform(0.2, 0.6)), areas, float(rng.integers(0, 2))))
        y.append(accepted)
    return X, y


def test_init_only_stores_parameters_and_fit_returns_self() -> None:
    model = LogisticReranker(C=0.5, interactions=False)
    assert model.get_params()["C"] == 0.5 and not hasattr(model, "coef_")
    X, y = toy_data()
    assert model.fit(X, y) is model
    assert model.coef_.shape == (6,) and model.n_train_ == 60 and list(model.classes_) == [0, 1]


def test_unfitted_or_bad_input_is_refused_naming_the_value() -> None:
    with pytest.raises(InvalidInputError, match="not fitted"):
        LogisticReranker().parts(pair(0.5, 0.5))
    X, y = toy_data()
    with pytest.raises(InvalidInputError, match="both accepts and rejects"):
        LogisticReranker().fit(X, [1] * len(X))
    with pytest.raises(InvalidInputError, match=r"\[2\]"):
        LogisticReranker().fit(X, [2, *y[1:]])
    with pytest.raises(InvalidInputError, match="shape"):
        LogisticReranker().fit(X, y[:-1])
    with pytest.raises(InvalidInputError, match="C is -1"):
        LogisticReranker(C=-1).fit(X, y)


def test_learned_score_ranks_shared_areas_higher_and_parts_sum_to_it() -> None:
    model = LogisticReranker().fit(*toy_data())
    good, poor = model.parts(pair(0.4, 0.8)), model.parts(pair(0.4, 0.1))
    assert total(good) > total(poor)
    assert {"dense", "lexical", "areas", "language", "country", "modality", "full_capacity", "intercept",
            "dense*areas"} <= set(good)
    f = pair(0.4, 0.8, full=1.0)
    parts = model.parts(f)
    assert parts["full_capacity"] == -1.0
    assert abs(total(parts) - model.decision_function([f])[0]) < 1e-3  # parts are rounded to 4 places
    assert model.predict_proba([f]).shape == (1, 2)


def test_save_then_load_gives_the_same_scores(tmp_path: Path) -> None:
    model = LogisticReranker().fit(*toy_data())
    path = save_reranker(model, tmp_path, {"encoder": "hashing", "promoted": True})
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["version"] == path.name and manifest["features"][0] == "dense"
    loaded = load_reranker(path, encoder="hashing")
    X, _ = toy_data(20, seed=3)
    assert np.array_equal(loaded.decision_function(X), model.decision_function(X))
    assert [loaded.parts(x) for x in X] == [model.parts(x) for x in X]
    assert loaded.name == f"reranker:{path.name}"
    with pytest.raises(ModelUnavailableError, match="encoder 'hashing'"):
        load_reranker(path, encoder="all-MiniLM-L6-v2")


def test_newest_promoted_artifact_for_the_encoder_is_chosen(tmp_path: Path) -> None:
    model = LogisticReranker().fit(*toy_data())
    first = save_reranker(model, tmp_path, {"encoder": "hashing", "promoted": True})
    save_reranker(model, tmp_path, {"encoder": "hashing", "promoted": False})
    save_reranker(model, tmp_path, {"encoder": "other", "promoted": True})
    (tmp_path / "broken").mkdir()  # no manifest: skipped with a warning
    chosen = newest_reranker(tmp_path, "hashing")
    assert chosen is not None and chosen.version_ == first.name
    newest_any = newest_reranker(tmp_path, "hashing", promoted_only=False)
    assert newest_any is not None and newest_any.version_ != first.name
    assert newest_reranker(tmp_path / "none", "hashing") is None


def test_engine_with_reranker_explains_scores_whose_parts_add_up(hashing_engine: MatchEngine) -> None:
    model = LogisticReranker().fit(*toy_data())
    with hashing_engine.scoring(model):
        items = hashing_engine.match_need("n-stroke-fr", top=5)
        assert hashing_engine.scorer_name.startswith("reranker:")
    assert hashing_engine.scorer is None
    assert [it["score"] for it in items] == sorted((it["score"] for it in items), reverse=True)
    for it in items:
        assert abs(sum(it["breakdown"].values()) - it["score"]) < 1e-6
        assert abs(it["breakdown"]["dense"] - model.coef_[0] * it["features"]["dense"]) < 1e-3  # features rounded


def test_too_few_decisions_train_nothing_and_keep_the_weights(hashing_engine: MatchEngine) -> None:
    decisions = {("n-stroke-en", "p-stroke"): "accept", ("n-stroke-en", "p-maternity"): "reject",
                 ("n-kidney-en", "p-stroke"): "block"}
    ex = decision_examples(hashing_engine, decisions)
    assert ex.labels == [0, 1] and all(f.full == 0.0 for f in ex.features)  # block is no label
    result = train_reranker(hashing_engine, decisions)
    assert result.status == "too_few_decisions" and result.model is None
    assert f"at least {MIN_DECISIONS}" in result.manifest["reason"]


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_train_ranker_cli_writes_a_versioned_artifact_from_staff_decisions(pm_home: Path) -> None:
    assert _run("ingest", "--profiles", str(DEMO_PROFILES), "--needs", str(DEMO_NEEDS))[0] == 0
    code, out, _ = _run("train-ranker", "--json")
    assert code == 0 and json.loads(out)["status"] == "too_few_decisions"
    assert not reranker_root(pm_home).exists()
    from service.runtime import Runtime
    from service.settings import Settings

    rt = Runtime(Settings())
    rt.load()
    qrels = read_qrels(DEV_QRELS)
    for nid in sorted(qrels)[:24]:
        shown = [it["profile_id"] for it in rt.engine.match_need(nid, top=6, explain=False)]
        for pid in sorted(set(shown) | set(qrels[nid])):
            rt.store.add_decision(nid, pid, "accept" if qrels[nid].get(pid, 0) == 2 else "reject", "sim", "test")
    rt.close()
    code, out, err = _run("train-ranker", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "trained" and doc["data"]["decisions"] >= MIN_DECISIONS
    manifest = json.loads((Path(doc["path"]) / "manifest.json").read_text())
    assert {"created", "data", "features", "evaluation", "sklearn_version", "encoder", "promoted"} <= set(manifest)
    assert manifest["encoder"] == "hashing" and manifest["evaluation"]["held_back_decisions"] > 0
    assert (Path(doc["path"]) / "model.json").is_file()
    code, out, _ = _run("evaluate", "--qrels", str(DEV_QRELS), "--ranker", "both")
    assert code == 0 and "learned  all" in out and "nDCG@10 learned vs ours" in out
    rt = Runtime(Settings())
    rt.load()
    assert (rt.engine.scorer is not None) == manifest["promoted"]
    rt.close()


def test_simulation_smoke_run_prints_both_rankers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("simulate_decisions",
                                                  Path(__file__).parents[2] / "bench" / "simulate_decisions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--smoke", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "nDCG w" in out and "nDCG r" in out
    report = json.loads((tmp_path / "simulate_decisions.json").read_text())
    row = report["rows"][0]
    assert row["test_needs"] >= 20 and row["decisions"] >= MIN_DECISIONS
    assert 0 < row["ndcg10_weights"] <= 1 and 0 < row["ndcg10_learned"] <= 1
    train, test = module.split_needs(read_qrels(DEV_QRELS), 0)
    assert not set(train) & set(test) and module.split_needs(read_qrels(DEV_QRELS), 0) == (train, test)
