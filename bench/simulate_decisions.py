"""Simulated staff decisions: does a reranker learned from them rank held-out needs better?

Usage::

    python bench/simulate_decisions.py [--encoder minilm] [--seeds 0,1,2,3,4] [--home DIR] [--smoke]

For each seed, the labelled demo needs (data/dev/qrels.tsv) are split in two halves.
Staff decisions are simulated on the first half from its labels: each need's top 10
candidates under the hand-set weights plus its labelled profiles are decided, a grade-2
pair accepted with p=0.9, a grade-1 pair with p=0.5, any other pair rejected, then 10%
of decisions flipped (staff disagree, circumstances change). A reranker is trained on
them exactly as `partnermatch train-ranker` does, and nDCG@10 on the held-out half is
measured for the hand-set weights and the reranker in the same run. `--smoke` uses the
hashing encoder and one seed (seconds). `--home DIR` also builds a partnermatch home with
the demo data, the first seed's reranker and its held-out qrels, so that
`PARTNERMATCH_HOME=DIR partnermatch evaluate --qrels DIR/heldout_qrels.tsv --ranker both`
prints the same comparison. Writes <out>/simulate_decisions.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from matcher.evaluate import Qrels, read_qrels, run_evaluation  # noqa: E402

TOP = 10
P_ACCEPT = {2: 0.9, 1: 0.5}
FLIP = 0.1


def split_needs(qrels: Qrels, seed: int) -> tuple[list[str], list[str]]:
    """Labelled needs in two seeded halves: (train, test)."""
    needs = sorted(q for q, docs in qrels.items() if any(g > 0 for g in docs.values()))
    order = np.random.default_rng(seed).permutation(len(needs))
    half = len(needs) // 2
    return sorted(needs[i] for i in order[:half]), sorted(needs[i] for i in order[half:])


def simulate_decisions(engine: Any, qrels: Qrels, needs: Sequence[str], seed: int) -> dict[tuple[str, str], str]:
    """Noisy staff decisions on each need's top candidates and labelled profiles (see the module docstring)."""
    rng = np.random.default_rng(seed)
    decisions: dict[tuple[str, str], str] = {}
    for nid in needs:
        shown = [it["profile_id"] for it in engine.match_need(nid, top=TOP, explain=False)]
        for pid in sorted(set(shown) | set(qrels.get(nid, {}))):
            grade = qrels.get(nid, {}).get(pid, 0)
            accept = rng.random() < P_ACCEPT.get(grade, 0.0)
            if rng.random() < FLIP:
                accept = not accept
            decisions[(nid, pid)] = "accept" if accept else "reject"
    return decisions


def write_qrels(path: Path, qrels: Qrels, needs: Sequence[str]) -> Path:
    """A qrels TSV restricted to `needs`."""
    lines = ["need_id\tprofile_id\tgrade"]
    lines += [f"{n}\t{p}\t{g}" for n in sorted(needs) for p, g in sorted(qrels.get(n, {}).items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_seed(engine: Any, qrels: Qrels, seed: int, out: Path) -> dict[str, Any]:
    """Simulate, train and evaluate for one seed; returns numbers and the trained model."""
    from models.reranker_training import train_reranker

    train, test = split_needs(qrels, seed)
    decisions = simulate_decisions(engine, qrels, train, seed)
    trained = train_reranker(engine, decisions, random_state=seed)
    if trained.model is None:
        raise SystemExit(f"seed {seed}: {trained.manifest['reason']}")
    heldout = write_qrels(out / f"heldout_qrels_seed{seed}.tsv", qrels, test)
    report = run_evaluation(engine, heldout, scorers={"learned": trained.model})
    hand, learned = report["ours"]["all"], report["learned"]["all"]
    return {"seed": seed, "train_needs": len(train), "test_needs": len(test), "decisions": len(decisions),
            "accepts": sum(d == "accept" for d in decisions.values()),
            "held_back_auc_reranker": trained.manifest["evaluation"]["reranker"],
            "held_back_auc_weights": trained.manifest["evaluation"]["baseline"],
            "resampled_wins": trained.manifest["evaluation"].get("resampled_wins"),
            "promoted": trained.manifest["promoted"],
            "ndcg10_weights": hand["ndcg@10"], "ndcg10_learned": learned["ndcg@10"],
            "mrr_weights": hand["mrr"], "mrr_learned": learned["mrr"],
            "_model": trained.model, "_manifest": trained.manifest, "_test": test, "_decisions": decisions}


def build_home(home: Path, encoder: str, qrels: Qrels, first: Mapping[str, Any]) -> str:
    """A partnermatch home with the demo data, the first seed's reranker and held-out qrels; the command to run."""
    from data import DEMO_NEEDS, DEMO_PROFILES
    from matcher.schema import Need, Profile, read_jsonl
    from models.reranker import reranker_root, save_reranker
    from service.runtime import Runtime
    from service.settings import Settings

    rt = Runtime(Settings(home=home, encoder=encoder))  # type: ignore[arg-type]
    rt.ingest(read_jsonl(DEMO_PROFILES, Profile), read_jsonl(DEMO_NEEDS, Need))
    rt.close()
    save_reranker(first["_model"], reranker_root(home), first["_manifest"])
    path = write_qrels(home / "heldout_qrels.tsv", qrels, first["_test"])
    with (home / "simulated_decisions.tsv").open("w", encoding="utf-8") as fh:
        fh.write("need_id\tprofile_id\tdecision\n")
        fh.writelines(f"{n}\t{p}\t{d}\n" for (n, p), d in sorted(first["_decisions"].items()))
    return f"PARTNERMATCH_HOME={home} PARTNERMATCH_ENCODER={encoder} partnermatch evaluate --qrels {path} --ranker both"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulation, print a table, write simulate_decisions.json; returns an exit code."""
    from data import DEMO_NEEDS, DEMO_PROFILES, DEV_QRELS
    from matcher.areas import AreaDetector
    from matcher.engine import MatchEngine
    from matcher.schema import Need, Profile, read_jsonl
    from models.encoders import CachedEncoder, make_encoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="minilm", help="minilm (default), onnx, e5 or hashing")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds of the need split")
    parser.add_argument("--smoke", action="store_true", help="hashing encoder, seed 0 only")
    parser.add_argument("--home", type=Path, help="also build a partnermatch home to reproduce with the CLI")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    encoder_name = "hashing" if args.smoke else args.encoder
    seeds = [0] if args.smoke else [int(s) for s in args.seeds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="simulate-decisions-"))  # per-seed held-out qrels
    cache = args.out / "cache"
    cache.mkdir(exist_ok=True)
    inner = make_encoder(encoder_name, home=cache)
    engine = MatchEngine(CachedEncoder(inner, cache / f"embeddings-{inner.name}.sqlite"), AreaDetector().fit())
    engine.add_profiles(read_jsonl(DEMO_PROFILES, Profile))
    engine.add_needs(read_jsonl(DEMO_NEEDS, Need))
    qrels = read_qrels(DEV_QRELS)
    try:
        rows = [run_seed(engine, qrels, seed, work) for seed in seeds]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"encoder {inner.name}; nDCG@10 on held-out needs (hand-set weights vs reranker from simulated decisions)")
    print("(AUC: on decisions of held-back train needs, the promotion test; wins: share of resamples won)")
    print(f"{'seed':>4} {'test':>4} {'decided':>7} {'AUC w':>6} {'AUC r':>6} {'wins':>5} {'promoted':>8} "
          f"{'nDCG w':>7} {'nDCG r':>7} {'delta':>7}")
    for r in rows:
        print(f"{r['seed']:>4} {r['test_needs']:>4} {r['decisions']:>7} {r['held_back_auc_weights']:>6.3f} "
              f"{r['held_back_auc_reranker']:>6.3f} {r['resampled_wins']:>5.2f} {r['promoted']!s:>8} "
              f"{r['ndcg10_weights']:>7.3f} {r['ndcg10_learned']:>7.3f} "
              f"{r['ndcg10_learned'] - r['ndcg10_weights']:>+7.3f}")
    mean_w = float(np.mean([r["ndcg10_weights"] for r in rows]))
    mean_r = float(np.mean([r["ndcg10_learned"] for r in rows]))
    print(f"mean {'':>37} {mean_w:>7.3f} {mean_r:>7.3f} {mean_r - mean_w:>+7.3f}")
    public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    report = {"benchmark": "simulate_decisions", "encoder": inner.name, "top": TOP, "p_accept": P_ACCEPT,
              "flip": FLIP, "rows": public, "mean_ndcg10_weights": mean_w, "mean_ndcg10_learned": mean_r}
    (args.out / "simulate_decisions.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    if args.home is not None:
        print("reproduce with:", build_home(args.home, encoder_name, qrels, rows[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
