"""seedforge: Stage-1 compression of LLM checkpoints (BitNet b1.58 + SeedLM), from Python.

The calls run seedforge's C++ library (the compiled ``seedforge._core``), the
same code as the ``stage1`` command, against the libtorch of Debian's
``python3-torch``; tensors cross without copies.

    import seedforge
    report = seedforge.run_stage1("stories260K.bin", "model.stage1.pt", config="configs/stories260K.json")
    print(report["compression_ratio"], report["retention"])

A run here is one process. A config planned for several data-parallel ranks
(``hardware.processes``, 2 in the shipped config) keeps its global batch by
accumulating that many times more micro-batches (the log says so): the same
steps as ``stage1``'s ranks, on one core. Start ``stage1`` for the ranks.

Errors: a missing file raises FileNotFoundError; a bad config or argument
ValueError naming the dotted key (``bitnet.lr``); a corrupt or inconsistent
input file seedforge.InputError (a ValueError); anything else RuntimeError.
Ctrl-C stops a run at its next safe point (fine-tuning checkpoint written,
nothing half-written) and raises KeyboardInterrupt; ``resume=True`` continues.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

# libtorch's Python bindings must be loaded before _core hands out tensors.
import torch  # noqa: F401

from . import _core
from ._core import InputError

__all__ = ["run_stage1", "load", "decode", "evaluate", "Config", "InputError"]

PathLike = Union[str, "os.PathLike[str]"]
ConfigArg = Union[None, PathLike, Mapping[str, Any]]


def run_stage1(
    input_path: PathLike,
    output_path: PathLike,
    config: ConfigArg = None,
    *,
    resume: bool = False,
    dry_run: bool = False,
    progress: Optional[Callable[[Dict[str, Any]], None]] = None,
    report_path: Optional[PathLike] = None,
) -> Dict[str, Any]:
    """Compress ``input_path`` into ``output_path`` (a ``.stage1.pt``), as ``stage1 --input --output``.

    input_path: any supported checkpoint: llama2.c ``.bin``, PyTorch ``.pt/.bin/.ckpt``,
        safetensors, or a Hugging Face folder with ``config.json``.
    config: None (the defaults), a dict (the JSON config as Python values, missing keys take
        their defaults), or the path of a JSON config file. Checked before any work.
    resume: continue fine-tuning from the last checkpoint of an interrupted run.
    dry_run: load and plan only; returns the plan (tensors and codecs, estimated size,
        memory per term and time per stage) instead of running.
    progress: called with a dict for every log line the console shows
        (``{"kind": "line", "line": ...}``) and for every fine-tuning step
        (``{"kind": "step", "step", "total_steps", "loss", "lambda", "lr",
        "tokens_per_second", "eta_seconds"}``). If it raises, the run stops at its next safe
        point and the exception propagates.
    report_path: where the report JSON goes (default ``<output>.report.json``).

    Returns the report: the same keys as the report JSON the command writes (sizes,
    compression ratio, top-1 and perplexity before/after, retention, constraints, timings).
    A failed constraint is not an error: see ``report["constraints"]``.
    """
    return _core.run_stage1(
        input_path,
        output_path,
        _config_arg(config),
        bool(resume),
        bool(dry_run),
        progress,
        "" if report_path is None else os.fspath(report_path),
    )


def load(path: PathLike) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Any supported model file as ``(tensors, config)``.

    tensors: ``{Hugging Face name: fp32 CPU tensor}`` (``model.layers.0.self_attn.q_proj.weight``,
        ...), the tensors the C++ loader made (same memory, no copy). A ``.stage1.pt`` is decoded.
    config: the model's configuration as a Hugging Face ``config.json`` dict.
    """
    tensors, config, _info, _addresses = _core.load(path, False)
    return tensors, config


def decode(path: PathLike) -> Dict[str, torch.Tensor]:
    """A ``.stage1.pt`` decoded to dense tensors, bit-identical to ``stage1 decode``."""
    return _core.decode(path)


def evaluate(
    model_path: PathLike,
    text: Optional[PathLike] = None,
    hellaswag: Optional[PathLike] = None,
    *,
    tokenizer: Optional[PathLike] = None,
    compare: Optional[PathLike] = None,
    max_docs: int = 0,
    max_tasks: int = 0,
    engine: str = "auto",
    device: str = "cpu",
    batch_tokens: int = 0,
    speed: bool = False,
    progress: bool = False,
) -> Dict[str, Any]:
    """``stage1 eval --json``: size, perplexity/top-1 on ``text``, HellaSwag accuracy, speed.

    text: blank-line separated documents or JSONL with a "text" field.
    hellaswag: JSONL tasks (ctx, endings, label) or llama.cpp's 6-line layout.
    compare: an original model evaluated the same way; the result gains retention figures.
    max_docs / max_tasks: only the first N documents / tasks (0 = all).
    engine: what runs a ``.stage1.pt``: "auto", "ternary" (the inference engine) or "torch".
    Returns the same dict as ``stage1 eval --json`` (keys: docs/EVAL.md).
    """
    return _core.evaluate(
        model_path, text, hellaswag, tokenizer, compare, int(max_docs), int(max_tasks), engine, device,
        int(batch_tokens), bool(speed), bool(progress),
    )


def _config_arg(config: ConfigArg) -> Any:
    if config is None or isinstance(config, dict):
        return config
    if isinstance(config, Mapping):
        return dict(config)
    return os.fspath(config)


class Config:
    """The Stage-1 JSON config: defaults, validation and the documentation of each key."""

    @staticmethod
    def defaults() -> Dict[str, Any]:
        """Every key with its default value, by section (``stage1 config --print-defaults``)."""
        return _core.default_config()

    @staticmethod
    def validate(config: ConfigArg) -> Dict[str, Any]:
        """Checks a config (dict or path) as ``stage1 config --check`` does.

        Returns it with the defaults filled in; raises ValueError naming the dotted key of the
        first unknown key or bad value.
        """
        return _core.check_config(_config_arg(config))

    @staticmethod
    def keys() -> Dict[str, str]:
        """Every dotted key (``bitnet.lr``) with its documentation (docs/CONFIG.md)."""
        return dict(_key_docs())

    @staticmethod
    def doc(key: str) -> str:
        """The documentation of one dotted key: type, default, range and meaning."""
        docs = _key_docs()
        if key not in docs:
            raise KeyError(f"unknown config key '{key}' (Config.keys() lists them)")
        return docs[key]


_KEY_DOCS: Optional[Dict[str, str]] = None


def _key_docs() -> Dict[str, str]:
    """Parses the tables of CONFIG.md (docs/CONFIG.md, copied beside this file by the build):
    a '### `section`' heading, then rows '| `key` | type | default | range | meaning |'."""
    global _KEY_DOCS
    if _KEY_DOCS is None:
        docs: Dict[str, str] = {}
        section = None
        with open(os.path.join(os.path.dirname(__file__), "CONFIG.md"), encoding="utf-8") as f:
            for line in f:
                heading = re.match(r"^###\s+`([a-z_]+)`", line)
                if heading:
                    section = heading.group(1)
                    continue
                if line.startswith("#"):
                    section = None
                    continue
                row = re.match(r"^\|\s*`([A-Za-z_0-9]+)`\s*\|(.*)\|\s*$", line)
                if row and section:
                    cells = [c.strip() for c in row.group(2).split("|")]
                    if len(cells) == 4:
                        kind, default, allowed, meaning = cells
                        text = f"{kind}, default {default}"
                        if allowed:
                            text += f", {allowed}"
                        docs[f"{section}.{row.group(1)}"] = f"{text}: {meaning}"
        _KEY_DOCS = docs
    return _KEY_DOCS
