"""BM25 scoring: bm25s's Lucene scores from compact term bags, the same in every process."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from matcher.engine import MatchEngine
from matcher.lexical import BM25Lexical, TermBag, TermTable
from matcher.text import lexical_terms

TEXTS = {
    "p-stroke": "Stroke unit nurses teach thrombolysis and early rehabilitation after stroke.",
    "p-kidney": "Renal dialysis training for nurses and technicians; kidney transplant follow-up.",
    "p-maternity": "Midwifery educators: emergency obstetric care, neonatal resuscitation, stroke in pregnancy.",
    "p-equipment": "Biomedical engineers maintain oxygen concentrators and dialysis machines.",
}


def _bm25s_scores(texts: dict[str, str], query: list[str]) -> np.ndarray:
    """bm25s's "lucene" scores of the texts (in sorted id order) for the query: the reference."""
    import bm25s

    docs = [lexical_terms(texts[i]) or ["\x00"] for i in sorted(texts)]  # bm25s cannot index an empty one
    vocab = {t: n for n, t in enumerate(sorted({t for d in docs for t in d}))}
    retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    retriever.index(([[vocab[t] for t in d] for d in docs], vocab), show_progress=False)
    return np.asarray(retriever.get_scores([t for t in query if t in vocab]), dtype=np.float64)


def test_scores_equal_bm25s_lucene() -> None:
    # Records with no terms (only stop words), sorted first, in the middle and last.
    texts = {**TEXTS, "p-a-empty": "the and of", "p-kz-empty": "of the", "p-zz-empty": "and"}
    lexical = BM25Lexical()
    lexical.add(list(texts), list(texts.values()))
    for query in ("stroke nurses stroke thrombolysis", "dialysis machines for kidney care", "oxygen"):
        terms = lexical_terms(query)
        ids, scores = lexical.score_array(terms)
        assert ids == sorted(texts)
        assert np.allclose(scores, _bm25s_scores(texts, terms), rtol=1e-6, atol=0)
        assert scores.max() > 0


def test_records_hold_compact_bags_and_queries_never_grow_the_table() -> None:
    lexical = BM25Lexical()
    bag = lexical.add_terms("p-stroke", lexical_terms(TEXTS["p-stroke"]))
    assert isinstance(bag, TermBag) and sorted(bag.strings()) == sorted(lexical_terms(TEXTS["p-stroke"]))
    assert sorted(lexical.terms("p-stroke")) == sorted(lexical_terms(TEXTS["p-stroke"]))
    size = len(lexical.table)
    lexical.score_array(lexical_terms("entirely unheard-of vocabulary zzqx"))
    assert len(lexical.table) == size
    other = BM25Lexical()  # a bag of another index is read through its strings
    other.add(list(TEXTS), list(TEXTS.values()))
    assert np.array_equal(other.score_array(bag)[1], other.score_array(lexical_terms(TEXTS["p-stroke"]))[1])


def test_terms_the_index_never_saw_score_zero() -> None:
    lexical = BM25Lexical()
    lexical.add(list(TEXTS), list(TEXTS.values()))
    _, scores = lexical.score_array(["zzzunknown"])
    assert np.array_equal(scores, np.zeros(len(TEXTS)))


def test_scores_are_the_same_whatever_the_string_hash_seed() -> None:
    """bm25s numbered tokens in set order (hash-seed dependent), which reordered float32 sums per process."""
    code = ("from matcher.lexical import BM25Lexical; from matcher.text import lexical_terms; "
            f"texts = {TEXTS!r}; lex = BM25Lexical(); lex.add(list(texts), list(texts.values())); "
            "print(lex.score_array(lexical_terms('stroke nurses dialysis training oxygen kidney'))[1].tobytes().hex())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2, 3)}
    assert len(runs) == 1



def test_indexes_sharing_a_table_query_each_other_by_bag_even_after_it_grows() -> None:
    """An empty TermTable is falsy: `table or TermTable()` once gave each engine side its own table."""
    table = TermTable()
    profiles, needs = BM25Lexical(table=table), BM25Lexical(table=table)
    assert profiles.table is table and needs.table is table
    profiles.add(list(TEXTS), list(TEXTS.values()))
    profiles.warm()  # built now, as wide as the table is
    width = len(table)
    need = needs.add_terms("n-1", lexical_terms("Stroke thrombolysis training; zzqx cardiology unheardof"))
    assert need.table is table and int(need.ids.max()) >= width  # terms the profile index never saw
    reference = BM25Lexical()
    reference.add(list(TEXTS), list(TEXTS.values()))
    by_bag = profiles.score_array(need)[1]
    assert np.array_equal(by_bag, reference.score_array(need.strings())[1]) and by_bag.max() > 0


def test_an_engine_shares_one_term_table_between_its_sides(hashing_engine: MatchEngine) -> None:
    assert hashing_engine.lexical("need").table is hashing_engine.lexical("profile").table
