"""Checkpoints: one safetensors file per save, never pickle.

A checkpoint ``RUN_DIR/checkpoints/step_0001000.safetensors`` holds

* tensors ``G.*`` and ``D.*`` (state dicts), ``optim.G.*`` / ``optim.D.*`` (Adam moments),
  ``rng.torch`` (the CPU generator state) and ``rng.cuda.N`` when CUDA is used;
* string metadata: ``format``, ``config`` (JSON of :class:`~sarcolor.config.Config`),
  ``step``, ``split`` (split group ids per split, :class:`~sarcolor.data.split.Split`),
  ``baselines`` (the parameters of :class:`~sarcolor.evaluation.baselines.Baselines`), ``training`` (which
  training pairs were used and left out), ``run`` (how the run was executed: processes, the
  replicas' weight fingerprints) and the JSON parts of the optimizer states. Checkpoints
  written before baselines had their own key hold them, with the bookkeeping, in ``stats``;
  they are read the same.

Inference reads only ``G.*`` and the metadata, so a checkpoint alone is enough to colorize.
Reading weights into networks, checked against them first, is :mod:`sarcolor.models.weights`'s.
Writes go through :func:`~sarcolor.outputs.atomic_write`: a crash never leaves a broken file
under a checkpoint's name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from sarcolor.config import Config
from sarcolor.data.split import Split
from sarcolor.errors import SarcolorError, first_line
from sarcolor.outputs import atomic_write
from sarcolor.textfiles import loads_json

FORMAT = "sarcolor-checkpoint/1"
CHECKPOINT_DIR = "checkpoints"
_STEP_NAME = re.compile(r"^step_(\d+)\.safetensors$")


@dataclass(frozen=True)
class TrainingPairs:
    """Which training pairs a run learned from: their number, and the unreadable ones left out
    (they stay out on resume, so the batch order continues exactly)."""

    used: int = 0
    excluded: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"train_pairs": self.used, "excluded_pairs": self.excluded}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> TrainingPairs:
        used, excluded = value.get("train_pairs", 0), value.get("excluded_pairs", [])
        if not isinstance(used, int) or not isinstance(excluded, list):
            raise ValueError("training pairs must be a count and a list of names")
        return cls(used, [str(n) for n in excluded])


@dataclass(frozen=True)
class CheckpointMeta:
    """The metadata part of a checkpoint."""

    config: Config
    step: int
    split: Split = field(default_factory=Split)
    baselines: dict[str, Any] = field(default_factory=dict)  # sarcolor.evaluation.baselines.Baselines
    training: TrainingPairs = field(default_factory=TrainingPairs)
    run: dict[str, Any] = field(default_factory=dict)  # e.g. world_size, replica_fingerprints

    @property
    def imported(self) -> dict[str, Any] | None:
        """Where an imported generator came from (``sarcolor import``), or ``None`` for a run's
        checkpoint. An imported checkpoint holds the generator alone: no discriminator, no
        optimizer state, no split and no baselines."""
        value = self.run.get("imported")
        return value if isinstance(value, dict) else None


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:07d}.safetensors"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """A run's checkpoints, oldest first (by step)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m[1]), p) for p in folder.iterdir() if (m := _STEP_NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def run_dir_of(checkpoint: Path) -> Path:
    """The run folder a checkpoint belongs to (its folder, outside a ``checkpoints/`` folder)."""
    parent = checkpoint.resolve().parent
    return parent.parent if parent.name == CHECKPOINT_DIR else parent


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a RUN_DIR (→ its latest checkpoint)."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        found = list_checkpoints(path) or sorted(path.glob("*.safetensors"))
        if not found:
            raise SarcolorError(
                f"{path}: no checkpoints in this folder (expected {CHECKPOINT_DIR}/step_*.safetensors)"
            )
        return found[-1]
    raise SarcolorError(f"{path}: checkpoint not found")


def save_checkpoint(
    path: str | Path,
    meta: CheckpointMeta,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
) -> Path:
    """Write a checkpoint atomically. ``modules`` e.g. ``{"G": g, "D": d}``."""
    tensors: dict[str, torch.Tensor] = {}
    metadata = meta_strings(meta)
    for prefix, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{prefix}.{key}"] = value.detach().cpu().contiguous()
    for prefix, opt in (optimizers or {}).items():
        state = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for index, pstate in state["state"].items():
            for key, value in pstate.items():
                if torch.is_tensor(value) and value.dim() > 0:
                    tensors[f"optim.{prefix}.{index}.{key}"] = value.detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(index), {})[key] = float(value)
        metadata[f"optim.{prefix}"] = json.dumps({"param_groups": state["param_groups"], "scalars": scalars})
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    path = Path(path)
    # safetensors writes through a temp file of its own beside ``tmp``: in a private folder, a
    # killed writer's leftovers carry its process id and the next run removes them
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata), private_folder=True)
    return path


def meta_strings(meta: CheckpointMeta) -> dict[str, str]:
    """The metadata of a checkpoint as the strings a file stores (format, config JSON, step, …).

    Exported ONNX models store the same strings (:mod:`sarcolor.inference.onnx_export`), and
    :func:`parse_meta` reads both.
    """
    metadata = {
        "format": FORMAT,
        "config": meta.config.to_json(),
        "step": str(meta.step),
        "split": json.dumps(meta.split.to_json()),
        "training": json.dumps(meta.training.to_json()),
        "run": json.dumps(meta.run),
    }
    if meta.baselines:
        metadata["baselines"] = json.dumps(meta.baselines)
    return metadata


def parse_meta(path: Path, metadata: dict[str, str]) -> CheckpointMeta:
    """Checked metadata from the strings of :func:`meta_strings` (``path`` names the file in errors)."""
    return _meta(path, metadata)


def read_meta(path: str | Path) -> CheckpointMeta:
    """The metadata of a checkpoint (no tensors are read)."""
    path = Path(path)
    with open_checkpoint(path) as f:
        return _meta(path, f.metadata() or {})


def load_training_state(
    path: str | Path, optimizers: dict[str, torch.optim.Optimizer], device: torch.device
) -> None:
    """Restore optimizer moments and RNG states saved by :func:`save_checkpoint`."""
    path = Path(path)
    with open_checkpoint(path) as f:
        metadata = f.metadata() or {}
        keys = list(f.keys())
        for prefix, opt in optimizers.items():
            if f"optim.{prefix}" not in metadata:
                raise SarcolorError(f"{path}: no optimizer state for {prefix}; cannot resume from it")
            saved = loads_json(metadata[f"optim.{prefix}"], path)
            state: dict[int, dict[str, Any]] = {}
            head = f"optim.{prefix}."
            for key in keys:
                if key.startswith(head):
                    index, name = key[len(head) :].split(".", 1)
                    state.setdefault(int(index), {})[name] = f.get_tensor(key).to(device)
            for index, values in saved["scalars"].items():
                for name, value in values.items():
                    state.setdefault(int(index), {})[name] = torch.tensor(value)
            groups = saved["param_groups"]
            for group, current in zip(groups, opt.param_groups, strict=True):
                for key in ("fused", "foreach", "capturable", "differentiable"):  # this device's kernels
                    if key in current:
                        group[key] = current[key]
            opt.load_state_dict({"state": state, "param_groups": groups})
        torch.set_rng_state(f.get_tensor("rng.torch"))
        cuda_keys = sorted(k for k in keys if k.startswith("rng.cuda."))
        if cuda_keys and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([f.get_tensor(k) for k in cuda_keys])


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints of a run."""
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)


def open_checkpoint(path: Path):
    """Open a safetensors file lazily; pickles and torch.save archives are refused unread."""
    if not path.is_file():
        raise SarcolorError(f"{path}: checkpoint not found")
    with open(path, "rb") as fh:
        head = fh.read(9)
    # safetensors: an 8-byte little-endian header length, then the JSON header ('{')
    header_fits = 8 + int.from_bytes(head[:8], "little") <= path.stat().st_size
    safetensors_like = len(head) == 9 and head[8:9] == b"{" and header_fits
    if not safetensors_like and (head[:1] == b"\x80" or head[:4] == b"PK\x03\x04"):
        raise SarcolorError(
            f"{path}: a pickle / torch.save file; sarcolor loads only safetensors checkpoints, "
            "because unpickling can run arbitrary code"
        )
    try:
        return safe_open(str(path), framework="pt", device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise SarcolorError(f"{path}: not a sarcolor safetensors checkpoint, or truncated ({exc})") from None


def _meta(path: Path, metadata: dict[str, str]) -> CheckpointMeta:
    if metadata.get("format") != FORMAT:
        raise SarcolorError(f"{path}: not a sarcolor checkpoint (format {metadata.get('format')!r})")
    try:
        values = loads_json(metadata["config"], path)
        if not isinstance(values, dict):
            raise ValueError("config is not a mapping")
        config = Config.from_dict(values, source=str(path)).validate(str(path))
        step = loads_json(metadata["step"], path)
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"step must be a non-negative integer, got {metadata['step']!r}")
        stats = loads_json(metadata.get("stats", "{}"), path)  # before baselines had their own key
        baselines = loads_json(metadata["baselines"], path) if "baselines" in metadata else stats
        training = loads_json(metadata["training"], path) if "training" in metadata else stats
        run = loads_json(metadata.get("run", "{}"), path)
        if not all(isinstance(v, dict) for v in (stats, baselines, training, run)):
            raise ValueError("stats, baselines, training and run must be mappings")
        return CheckpointMeta(
            config=config,
            step=step,
            split=Split.from_json(loads_json(metadata.get("split", "{}"), path), path),
            baselines={k: baselines[k] for k in ("mean_rgb", "terrain_rgb", "lut") if k in baselines},
            training=TrainingPairs.from_json(training),
            run=run,
        )
    except KeyError as exc:
        raise SarcolorError(f"{path}: damaged checkpoint metadata (no {exc.args[0]})") from None
    except ValueError as exc:
        raise SarcolorError(f"{path}: damaged checkpoint metadata ({first_line(exc)})") from None
