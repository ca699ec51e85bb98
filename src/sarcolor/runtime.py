"""Where computations run."""

from __future__ import annotations

import torch

from sarcolor.errors import SarcolorError


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SarcolorError("--device cuda: no CUDA GPU is available to this PyTorch build")
    if name not in ("cpu", "cuda"):
        raise SarcolorError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)
