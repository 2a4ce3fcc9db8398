"""The Encoder protocol: what matcher needs from an embedding model (implemented in models/)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

Kind = Literal["query", "passage"]


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str], *, kind: Kind = "passage") -> NDArray[np.float32]:
        """Encode texts; shape (len(texts), dimension), each row of unit length."""
        ...


def encode_document(encoder: Encoder, passages: Sequence[str], kind: Kind = "passage") -> NDArray[np.float32]:
    """One unit vector (dimension,) for a text split into passages: the normalised mean of theirs."""
    vectors = encoder.encode(list(passages), kind=kind)
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    out: NDArray[np.float32] = (mean / norm if norm > 0 else mean).astype(np.float32)
    return out
