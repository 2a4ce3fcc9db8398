"""Measure the duplicate-need threshold: cosine of paraphrases vs different needs.

Usage::

    python bench/duplicates.py [--encoder minilm]

bench/paraphrases.jsonl holds rewordings of demo needs ("paraphrase": the same need
submitted again) and different needs on a related topic ("related": what the same
institution might rightly submit as a second need). For each text the cosine with its
demo need and whether their main areas agree are printed, with the cosines of every pair
of distinct demo needs as the background. `matcher.engine.DUPLICATE_COSINE` sits between
the lowest paraphrase and the highest non-duplicate sharing a main area.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))


def main(argv: Sequence[str] | None = None) -> int:
    """Print the distributions and the rule's errors at the current threshold; returns an exit code."""
    from data import DEMO_NEEDS
    from matcher.areas import AreaDetector
    from matcher.engine import DUPLICATE_COSINE, MatchEngine
    from matcher.schema import Need, read_jsonl
    from models.encoders import CachedEncoder, make_encoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    cache = args.out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    inner = make_encoder(args.encoder, home=cache)
    engine = MatchEngine(CachedEncoder(inner, cache / f"embeddings-{inner.name}.sqlite"), AreaDetector().fit())
    needs = {n.id: n for n in read_jsonl(DEMO_NEEDS, Need)}
    engine.add_needs(list(needs.values()))
    rows = []
    for line in (ROOT / "bench" / "paraphrases.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        of = engine.get("need", item["of"])
        assert of is not None
        new = engine.analyse("need", "<new>", item["text"], needs[item["of"]].language)
        rows.append({"of": item["of"], "kind": item["kind"], "cosine": float(of.vector @ new.vector),
                     "same_main_areas": bool(set(of.main_areas) & set(new.main_areas)),
                     "flagged": engine.find_duplicate(item["text"], [item["of"]], needs[item["of"]].language)
                     is not None})
    ids = engine.ids("need")
    vectors = np.stack([engine.get("need", i).vector for i in ids])  # type: ignore[union-attr]
    sims = vectors @ vectors.T
    off = sims[~np.eye(len(ids), dtype=bool)]
    areas = [set(engine.get("need", i).main_areas) for i in ids]  # type: ignore[union-attr]
    same_area = [float(sims[i, j]) for i in range(len(ids)) for j in range(i + 1, len(ids)) if areas[i] & areas[j]]
    print(f"encoder {inner.name}, threshold {DUPLICATE_COSINE}")
    for kind in ("paraphrase", "related"):
        cos = [r["cosine"] for r in rows if r["kind"] == kind]
        print(f"{kind:<11} n={len(cos):>3} cosine min {min(cos):.3f} median {np.median(cos):.3f} max {max(cos):.3f}; "
              f"sharing a main area {sum(r['same_main_areas'] for r in rows if r['kind'] == kind)}/{len(cos)}; "
              f"flagged {sum(r['flagged'] for r in rows if r['kind'] == kind)}/{len(cos)}")
    print(f"demo pairs  n={off.size // 2:>4} cosine median {np.median(off):.3f} p99 {np.percentile(off, 99):.3f} "
          f"max {off.max():.3f}; sharing a main area: n={len(same_area)} "
          f"max {max(same_area, default=float('nan')):.3f}")
    for r in sorted(rows, key=lambda r: r["cosine"]):
        shared = "shared" if r["same_main_areas"] else "disjoint"
        print(f"  {r['kind']:<11} {r['of']}  {r['cosine']:.3f}  areas {shared}  {'FLAGGED' if r['flagged'] else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
