"""One settings class, read from PARTNERMATCH_* environment variables."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as PARTNERMATCH_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="PARTNERMATCH_", extra="ignore")

    home: Path = Field(default=Path("var"), description="Directory for the SQLite file, snapshots and caches")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite under home")
    encoder: Literal["minilm", "onnx", "onnx-int8", "e5", "hashing"] = Field(
        default="onnx-int8",
        description="onnx-int8 (default): MiniLM on ONNX Runtime, int8, no torch at run time; onnx: the same in "
                    "fp32 (torch's vectors); minilm: torch (docs/benchmarks.md)")
    models_dir: Path | None = Field(default=None, description="Where ONNX exports are cached; default <home>/models")
    index_kind: Literal["numpy", "flat", "hnsw", "auto"] = Field(
        default="auto", description="auto: exact search up to 20k vectors, HNSW above (docs/benchmarks.md)")
    ranker: Literal["auto", "weights"] = Field(
        default="auto", description="auto: the newest promoted learned reranker under home, else hand-set weights")
    semantic_areas: bool = Field(default=False, description="Also detect areas by embedding similarity")
    max_body_bytes: int = 64_000
    max_description_chars: int = 8_000
    submissions_per_minute: int = 30
    match_cache_bytes: int = Field(
        default=16_000_000, ge=0,
        description="Serialised match lists kept in memory until the next write changes the index; 0 disables")
    secret_key: str | None = Field(default=None, description="Signs web session cookies; generated under home if unset")

    @property
    def db_url(self) -> str:
        """The database URL in use."""
        return self.database_url or f"sqlite:///{(self.home / 'partnermatch.db').resolve()}"

    @property
    def index_dir(self) -> Path:
        """Where index snapshots live."""
        return self.home / "index"

    @property
    def cache_path(self) -> Path:
        """The embedding cache file."""
        return self.home / "cache" / f"embeddings-{self.encoder}.sqlite"

    @property
    def analysis_cache_path(self) -> Path:
        """The text-analysis cache file (language, areas, lexical terms; see service/analysis_cache.py)."""
        return self.home / "cache" / "analyses.sqlite"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, built once on first use (tests build their own)."""
    return Settings()
