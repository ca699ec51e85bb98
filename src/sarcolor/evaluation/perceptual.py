"""Optional perceptual metrics: LPIPS (Zhang et al. 2018) and FID (Heusel et al. 2017).

They need the extra ``pip install 'sarcolor[metrics]'`` (torchmetrics with torchvision and
torch-fidelity) and pretrained weights: AlexNet for LPIPS and Inception-v3 (pool3, 2048-d) for
FID. Weights are never downloaded here: ``weights_dir`` (or the torch hub cache) must hold them,
otherwise each metric is reported as unavailable with the reason.

Conventions: LPIPS is fed images in [-1, 1] (feeding [0, 1] reads about 0.05 lower) and is
averaged per image; FID compares the predictions with the whole ground-truth split and is
reported with its image count (it is biased at small counts).
"""

from __future__ import annotations

from pathlib import Path

import torch

LPIPS_WEIGHTS = "alexnet-owt-7be5be79.pth"
FID_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"


class Perceptual:
    """LPIPS per image and FID over a split, where the packages and weights are available.

    Args:
        weights_dir: a folder in the torch hub layout, holding ``checkpoints/<weights file>``
            (or ``hub/checkpoints/…``, i.e. a ``TORCH_HOME``); default: the torch hub cache.
        device: where to run the networks.
    """

    def __init__(self, weights_dir: str | Path | None = None, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        hub = Path(weights_dir) if weights_dir is not None else Path(torch.hub.get_dir())
        self.reasons: dict[str, str] = {}
        self.lpips = self.fid = None
        self.count = 0
        try:
            from torchmetrics.image.fid import FrechetInceptionDistance
            from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity
        except Exception as exc:  # ImportError, or a broken optional stack
            reason = f"needs pip install 'sarcolor[metrics]' ({type(exc).__name__}: {exc})"
            self.reasons = {"lpips": reason, "fid": reason}
            return
        for name, file in (("lpips", LPIPS_WEIGHTS), ("fid", FID_WEIGHTS)):
            found = _find(hub, file)
            if found is None:
                self.reasons[name] = f"weights {file} not found in {hub} (give --weights-dir)"
                continue
            torch.hub.set_dir(str(found.parent.parent))  # …/hub with checkpoints/ inside
            try:
                if name == "lpips":
                    self.lpips = LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="none")
                    self.lpips = self.lpips.to(self.device)
                else:
                    self.fid = FrechetInceptionDistance(feature=2048, normalize=True).to(self.device)
            except Exception as exc:
                self.reasons[name] = f"could not load ({type(exc).__name__}: {exc})"

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        """Add a batch (B, 3, H, W) in [0, 1]; returns per-image LPIPS (B,) when available."""
        pred, target = pred.float().to(self.device), target.float().to(self.device)
        self.count += pred.shape[0]
        if self.fid is not None:
            self.fid.update(target, real=True)
            self.fid.update(pred, real=False)
        if self.lpips is None:
            return None
        return self.lpips(pred * 2 - 1, target * 2 - 1).reshape(-1).cpu()

    def result(self) -> dict[str, dict]:
        """``{"lpips": {...}, "fid": {...}}``: availability, reason or value and image count."""
        out: dict[str, dict] = {}
        for name in ("lpips", "fid"):
            if name in self.reasons:
                out[name] = {"available": False, "reason": self.reasons[name]}
        if self.lpips is not None:
            out["lpips"] = {"available": True, "input_range": "[-1, 1]", "n": self.count}
        if self.fid is not None:
            value = float(self.fid.compute()) if self.count >= 2 else float("nan")
            out["fid"] = {"available": True, "value": value, "n": self.count, "features": "pool3, 2048-d"}
        return out


def _find(hub: Path, file: str) -> Path | None:
    for candidate in (hub / "checkpoints" / file, hub / "hub" / "checkpoints" / file):
        if candidate.is_file():
            return candidate
    return None
