"""A pool of generated needs and profiles analysed with the real encoder, cached between runs.

Encoding is the slow part on this machine (~15 texts/s), so the pool is analysed once,
through a persistent embedding cache under bench/results/cache, and larger corpora reuse
its texts (see bench_match and bench_ingest, which say so in their output).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import CACHE, POOL_NEEDS, POOL_PROFILES, make_bench_encoder
from corpus import needs, profiles
from numpy.typing import NDArray

from matcher.areas import AreaDetector
from matcher.engine import Analysed, AnalysisRequest, MatchEngine
from matcher.schema import Need, Profile
from matcher.text import sentences

DEFAULT_ENCODER = "onnx-int8"  # the service default


@dataclass
class Pool:
    """Analysed pool records (vectors from the real encoder)."""

    profiles: list[Analysed]
    needs: list[Analysed]
    engine: MatchEngine
    seconds: float

    def profile_vectors(self) -> NDArray[np.float32]:
        """(n_profiles, dim) unit vectors."""
        return np.stack([a.vector for a in self.profiles])

    def need_vectors(self) -> NDArray[np.float32]:
        """(n_needs, dim) unit vectors."""
        return np.stack([a.vector for a in self.needs])


def build_pool(n_profiles: int = POOL_PROFILES, n_needs: int = POOL_NEEDS, encoder_name: str = DEFAULT_ENCODER,
               cache: Path = CACHE) -> Pool:
    """Analyse `n_profiles` generated profiles and `n_needs` needs with the real encoder (cached)."""
    start = time.perf_counter()
    encoder = make_bench_encoder(encoder_name, cache)
    engine = MatchEngine(encoder, AreaDetector().fit())
    ps: list[Profile] = profiles(n_profiles)
    ns: list[Need] = needs(n_needs)
    done_p = engine.analyse_many([AnalysisRequest("profile", p.id, p.description, None, tuple(p.clinical_areas), p)
                                  for p in ps])
    done_n = engine.analyse_many([AnalysisRequest("need", n.id, n.description, n.language,
                                                  tuple(n.clinical_areas), n) for n in ns])
    return Pool(done_p, done_n, engine, time.perf_counter() - start)


def real_vectors(pool: Pool) -> NDArray[np.float32]:
    """Real embeddings: the pool's profile vectors and the vectors of their sentences (cached after the first run)."""
    said = [a.text[s:e] for a in pool.profiles for s, e in sentences(a.text)]
    rows = [pool.profile_vectors(), pool.engine.encoder.encode(said, kind="passage")]
    return np.ascontiguousarray(np.concatenate(rows), dtype=np.float32)


def mixtures(base: NDArray[np.float32], n: int, sigma: float = 0.1, seed: int = 0) -> NDArray[np.float32]:
    """`n` unit vectors around real ones: w*a + (1-w)*b for random rows a, b of `base`, w in [0.5, 1), plus noise.

    A new text is near a few existing ones without copying any: the mixture keeps vectors
    on the region real embeddings occupy, the noise (total norm ~sigma) keeps them apart.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 65536):
        m = min(65536, n - start)
        w = rng.uniform(0.5, 1.0, (m, 1)).astype(np.float32)
        v = w * base[rng.integers(0, len(base), m)] + (1 - w) * base[rng.integers(0, len(base), m)]
        v += rng.normal(size=v.shape).astype(np.float32) * (sigma / np.sqrt(base.shape[1]))
        out[start:start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def noisy_copies(base: NDArray[np.float32], n: int, sigma: float, seed: int = 0) -> NDArray[np.float32]:
    """`n` unit vectors, each a random row of `base` plus Gaussian noise of total norm ~sigma.

    sigma 0.5 puts a copy at cosine ~0.89 from its base: neighbours of generated texts,
    not exact duplicates, and the same uneven clustering as real embeddings.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 65536):
        m = min(65536, n - start)
        rows = base[rng.integers(0, len(base), m)]
        noise = rng.normal(size=(m, base.shape[1])).astype(np.float32) * (sigma / np.sqrt(base.shape[1]))
        v = rows + noise
        out[start:start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out
