"""A learned reranker: logistic regression over a pair's features, trained on staff decisions.

`LogisticReranker` follows the scikit-learn estimator shape (`__init__` stores parameters,
`fit` validates and sets attributes ending in `_`, returns self) and implements
`matcher.rank.PairScorer`: its score is the model's log-odds that staff accept the pair,
and its breakdown is one part per feature (coefficient x value) plus an `intercept` part
and a fixed `full_capacity` demotion, so the parts add up to the score. Features are the
engine's `PairFeatures` (each in [0, 1], so no scaling is needed and the parts read
directly) plus products with the area overlap.

Artifacts live under `<PARTNERMATCH_HOME>/models/reranker/<version>/` with `manifest.json`
(training date, data size, features, held-back evaluation, library versions) and
`model.json` (coefficients; loading needs neither scikit-learn nor pickle). Training and
promotion are in `models.reranker_training`.
"""
from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher.errors import InvalidInputError, ModelUnavailableError
from matcher.rank import PairFeatures

log = logging.getLogger("partnermatch")

SCHEMA_VERSION = 1
KIND = "logistic_reranker"
BASE_FEATURES = ("dense", "lexical", "areas", "language", "country", "modality")
# Products with the area overlap: a shared language or country experience matters more
# for a profile in the right field; dense and lexical agreement confirm the areas.
INTERACTIONS = (("dense", "areas"), ("lexical", "areas"), ("areas", "language"), ("areas", "country"),
                ("areas", "modality"))


def feature_names(interactions: bool = True) -> list[str]:
    """Names of the model's inputs, in column order."""
    return list(BASE_FEATURES) + ([f"{a}*{b}" for a, b in INTERACTIONS] if interactions else [])


def feature_matrix(features: Sequence[PairFeatures], interactions: bool = True) -> NDArray[np.float64]:
    """The model's inputs for many pairs, shape (n_pairs, n_features); `full` is not an input."""
    rows = []
    for f in features:
        if not isinstance(f, PairFeatures):
            raise InvalidInputError(f"X must hold PairFeatures, got {type(f).__name__}")
        base = [getattr(f, name) for name in BASE_FEATURES]
        extra = [getattr(f, a) * getattr(f, b) for a, b in INTERACTIONS] if interactions else []
        rows.append(base + extra)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(feature_names(interactions)))


def _hand_set_direction(interactions: bool) -> NDArray[np.float64]:
    """The hand-set weights as a vector over the model's inputs (0 for interactions)."""
    from matcher.rank import Weights

    weights = Weights().to_dict()
    return np.array([weights.get(n, 0.0) for n in feature_names(interactions)], dtype=np.float64)


class LogisticReranker:
    """Logistic regression on pair features; a `PairScorer` whose score is the log-odds of an accept.

    Parameters: `C` (inverse L2 strength), `interactions` (add products with the area
    overlap), `class_weight` ('balanced' puts score 0 between typical accepts and
    rejects), `prior` (> 0 adds the hand-set score, times `prior`, as one more input and
    folds it back after fitting: the L2 penalty then pulls towards the hand-set weights'
    direction rather than towards zero), `full_penalty` (log-odds taken off a profile
    with no capacity left; not learned, as decisions do not record the capacity at the
    time), `random_state`. Defaults chosen by bench/simulate_decisions.py (5 seeds,
    MiniLM): C=0.1 with prior=10 gave held-out nDCG@10 0.944 against 0.923-0.935 for
    C in {0.1, 1, 10} without the prior.
    """

    def __init__(self, *, C: float = 0.1, interactions: bool = True, class_weight: str | None = "balanced",
                 prior: float = 10.0, full_penalty: float = 1.0, random_state: int = 0) -> None:
        self.C = C
        self.interactions = interactions
        self.prior = prior
        self.class_weight = class_weight
        self.full_penalty = full_penalty
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters."""
        return {"C": self.C, "interactions": self.interactions, "class_weight": self.class_weight,
                "prior": self.prior, "full_penalty": self.full_penalty, "random_state": self.random_state}

    # ---- fitting ----------------------------------------------------------------------------
    def fit(self, X: Sequence[PairFeatures], y: Sequence[int] | NDArray[Any]) -> LogisticReranker:
        """Fit on pairs' features and decisions (1 = accepted, 0 = rejected); return self."""
        from sklearn.linear_model import LogisticRegression

        if not (isinstance(self.C, int | float) and self.C > 0 and math.isfinite(self.C)):
            raise InvalidInputError(f"C is {self.C!r}; it must be a positive number")
        matrix = feature_matrix(X, self.interactions)
        labels = np.asarray(y)
        if labels.shape != (matrix.shape[0],):
            raise InvalidInputError(f"y has shape {labels.shape}; expected ({matrix.shape[0]},) like X")
        bad = sorted({v for v in labels.tolist() if v not in (0, 1)}, key=str)
        if bad:
            raise InvalidInputError(f"y must be 0 (rejected) or 1 (accepted); got {bad[:3]}")
        if len(set(labels.tolist())) < 2:
            raise InvalidInputError(f"y holds only {sorted(set(labels.tolist()))}: need both accepts and rejects")
        if not (isinstance(self.prior, int | float) and self.prior >= 0 and math.isfinite(self.prior)):
            raise InvalidInputError(f"prior is {self.prior!r}; it must be a number >= 0")
        hand = _hand_set_direction(self.interactions)
        inputs = np.column_stack([matrix, self.prior * (matrix @ hand)]) if self.prior else matrix
        model = LogisticRegression(C=self.C, class_weight=self.class_weight, random_state=self.random_state,
                                   max_iter=1000)
        model.fit(inputs, labels.astype(int))
        coef = np.asarray(model.coef_[0], dtype=np.float64)
        if self.prior:  # fold the hand-set column back into the features: still one linear model
            coef = coef[:-1] + coef[-1] * self.prior * hand
        self.feature_names_ = feature_names(self.interactions)
        self.coef_ = coef
        self.intercept_ = float(model.intercept_[0])
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = matrix.shape[1]
        self.n_train_ = int(matrix.shape[0])
        self.version_ = "unsaved"
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise InvalidInputError("this LogisticReranker is not fitted yet; call fit(X, y) or load one")

    # ---- scoring (PairScorer) ------------------------------------------------------------------
    @property
    def name(self) -> str:
        """How reports name this scorer: 'reranker:<version>'."""
        return f"reranker:{getattr(self, 'version_', 'unfitted')}"

    def parts(self, features: PairFeatures) -> dict[str, float]:
        """One part per feature (coefficient x value), the intercept and the full-capacity demotion; rounded."""
        self._check_fitted()
        row = feature_matrix([features], self.interactions)[0]
        out = {n: round(float(c * v), 4) for n, c, v in zip(self.feature_names_, self.coef_, row, strict=True)}
        out["intercept"] = round(self.intercept_, 4)
        out["full_capacity"] = round(-self.full_penalty * features.full, 4)
        return out

    def decision_function(self, X: Sequence[PairFeatures]) -> NDArray[np.float64]:
        """Log-odds of an accept, shape (n_pairs,), full-capacity demotion included (unrounded)."""
        self._check_fitted()
        full = np.array([f.full for f in X], dtype=np.float64)
        scores: NDArray[np.float64] = feature_matrix(X, self.interactions) @ self.coef_ + self.intercept_
        return scores - self.full_penalty * full

    def predict_proba(self, X: Sequence[PairFeatures]) -> NDArray[np.float64]:
        """Probabilities of (reject, accept), shape (n_pairs, 2)."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    # ---- artifacts ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Parameters and coefficients as JSON-ready values."""
        self._check_fitted()
        return {"kind": KIND, "schema_version": SCHEMA_VERSION, "params": self.get_params(),
                "features": list(self.feature_names_), "coefficients": [float(c) for c in self.coef_],
                "intercept": self.intercept_, "n_train": self.n_train_}

    @classmethod
    def from_dict(cls, data: dict[str, Any], version: str = "unsaved") -> LogisticReranker:
        """A fitted reranker from `to_dict()` output; refuses other kinds, versions or feature lists."""
        if data.get("kind") != KIND or data.get("schema_version") != SCHEMA_VERSION:
            raise ModelUnavailableError(f"not a {KIND} of schema {SCHEMA_VERSION}: kind {data.get('kind')!r}, "
                                        f"schema {data.get('schema_version')!r}")
        model = cls(**data["params"])
        names = feature_names(model.interactions)
        if list(data["features"]) != names or len(data["coefficients"]) != len(names):
            raise ModelUnavailableError(f"reranker features {data['features']} differ from this code's {names}")
        model.feature_names_ = names
        model.coef_ = np.asarray(data["coefficients"], dtype=np.float64)
        model.intercept_ = float(data["intercept"])
        model.classes_ = np.array([0, 1])
        model.n_features_in_ = len(names)
        model.n_train_ = int(data.get("n_train", 0))
        model.version_ = version
        return model


# ---- the artifact directory -------------------------------------------------------------------
def reranker_root(home: Path) -> Path:
    """Where reranker artifacts live under PARTNERMATCH_HOME."""
    return home / "models" / "reranker"


def save_reranker(model: LogisticReranker, root: Path, manifest: dict[str, Any]) -> Path:
    """Write `model` and its manifest as a new version directory (atomic rename); return its path."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    version = now.strftime("%Y%m%dT%H%M%S%fZ")
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{version}"
    tmp.mkdir()
    model.version_ = version
    (tmp / "model.json").write_text(json.dumps(model.to_dict(), indent=2))
    full = {"schema_version": SCHEMA_VERSION, "kind": KIND, "version": version, "created": now.isoformat(),
            **manifest, "features": list(model.feature_names_)}
    (tmp / "manifest.json").write_text(json.dumps(full, indent=2))
    for p in (tmp / "model.json", tmp / "manifest.json"):
        with p.open("rb+") as fh:
            os.fsync(fh.fileno())
    os.rename(tmp, root / version)
    return root / version


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of one artifact directory (read before anything else)."""
    try:
        data: dict[str, Any] = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"reranker artifact {path} has no readable manifest.json: {exc}") from exc
    if data.get("kind") != KIND or data.get("schema_version") != SCHEMA_VERSION:
        raise ModelUnavailableError(f"reranker artifact {path}: kind {data.get('kind')!r} schema "
                                    f"{data.get('schema_version')!r}; expected {KIND} schema {SCHEMA_VERSION}")
    return data


def load_reranker(path: Path, encoder: str | None = None) -> LogisticReranker:
    """Load one artifact; refuse it when it was trained on features of another encoder."""
    manifest = read_manifest(path)
    if encoder is not None and manifest.get("encoder") != encoder:
        raise ModelUnavailableError(f"reranker {path.name} was trained with encoder {manifest.get('encoder')!r}; "
                                    f"the engine uses {encoder!r} (retrain with `partnermatch train-ranker`)")
    try:
        data = json.loads((path / "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"reranker artifact {path} has no readable model.json: {exc}") from exc
    return LogisticReranker.from_dict(data, version=manifest["version"])


def artifacts(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Readable artifact directories with their manifests, oldest first (unreadable ones are skipped)."""
    if not root.is_dir():
        return []
    out = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".tmp-")):
        try:
            out.append((path, read_manifest(path)))
        except ModelUnavailableError as exc:
            log.warning("skipping reranker artifact: %s", exc)
    return out


def newest_reranker(root: Path, encoder: str | None = None, promoted_only: bool = True) -> LogisticReranker | None:
    """The newest artifact for `encoder` (by default only one promoted: it beat the scorer before it); or None."""
    for path, manifest in reversed(artifacts(root)):
        if promoted_only and not manifest.get("promoted"):
            continue
        if encoder is not None and manifest.get("encoder") != encoder:
            continue
        try:
            return load_reranker(path, encoder)
        except ModelUnavailableError as exc:
            log.warning("skipping reranker artifact: %s", exc)
    return None
