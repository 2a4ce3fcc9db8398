"""BM25 scoring: the query-columns product gives the same scores as the full matrix product."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from matcher.lexical import BM25Lexical, _score_matrix
from matcher.text import lexical_terms

TEXTS = {
    "p-stroke": "Stroke unit nurses teach thrombolysis and early rehabilitation after stroke.",
    "p-kidney": "Renal dialysis training for nurses and technicians; kidney transplant follow-up.",
    "p-maternity": "Midwifery educators: emergency obstetric care, neonatal resuscitation, stroke in pregnancy.",
    "p-equipment": "Biomedical engineers maintain oxygen concentrators and dialysis machines.",
}


def _full_product(lexical: BM25Lexical, terms: list[str]) -> np.ndarray:
    """The scores as the whole (documents x tokens) matrix times the query's token counts."""
    retriever = lexical._ensure()
    assert retriever is not None
    matrix = _score_matrix(retriever)
    ids = [retriever.vocab_dict[t] for t in terms if t in retriever.vocab_dict]
    counts = np.bincount(np.asarray(ids), minlength=matrix.shape[1]).astype(matrix.dtype)
    scores = np.asarray(matrix @ counts)
    if retriever.nonoccurrence_array is not None:
        scores = scores + retriever.nonoccurrence_array[np.asarray(ids)].sum()
    return scores.astype(np.float64)


def test_query_column_scores_equal_the_full_product_bit_for_bit() -> None:
    lexical = BM25Lexical()
    lexical.add(list(TEXTS), list(TEXTS.values()))
    for query in ("stroke nurses stroke thrombolysis", "dialysis machines for kidney care", "oxygen"):
        terms = lexical_terms(query)
        ids, scores = lexical.score_array(terms)
        assert ids == sorted(TEXTS)
        assert np.array_equal(scores, _full_product(lexical, terms))
        assert scores.max() > 0


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
