"""Encoder adapters implementing matcher.encoder.Encoder, and model artifacts."""
from __future__ import annotations

from models.encoders import (
    ENCODERS,
    CachedEncoder,
    E5Encoder,
    HashingEncoder,
    SentenceTransformerEncoder,
    make_encoder,
)
from models.onnx_minilm import OnnxEncoder

__all__ = [
    "ENCODERS",
    "CachedEncoder",
    "E5Encoder",
    "HashingEncoder",
    "OnnxEncoder",
    "SentenceTransformerEncoder",
    "make_encoder",
]
