"""The terrain classifier: a small CNN on the SAR input, its checkpoint, and the callable the
model registry and the router use.

The network (:class:`TerrainNet`, ~65 k parameters at width 16) averages the 256×256 SAR patch
in 4×4 blocks (which also averages speckle), then runs four 3×3 conv → BatchNorm → ReLU layers
with max-pooling, and classifies the mean and the maximum of its last features. It costs ~25
MFLOP a tile, a fraction of a percent of even the ngf-16 generator, so a scene is classified
tile by tile for free.

A checkpoint ``DIR/terrain.safetensors`` (``sarcolor train-terrain --out DIR``) holds the
tensors ``C.*`` and string metadata: ``format`` (``sarcolor-terrain/1``), ``config`` (JSON of
:class:`~sarcolor.config.terrain.TerrainConfig`), ``classes`` (terrain names, in output order),
``step`` and ``split``. Never a pickle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from sarcolor.config.terrain import TerrainConfig
from sarcolor.data.preprocess import to_grey
from sarcolor.data.split import Split
from sarcolor.errors import SarcolorError, first_line
from sarcolor.outputs import atomic_write
from sarcolor.textfiles import loads_json
from sarcolor.tiling import pad_to_plan, plan_tiles

FORMAT = "sarcolor-terrain/1"
FILENAME = "terrain.safetensors"
TILE = 256
POOL = 4  # 4×4 block means: the network sees 64×64 (speckle averaged, 16× less work)


class TerrainNet(nn.Module):
    """(B, C, H, W) SAR in [0, 1] → (B, classes) logits.

    :meth:`forward` averages 4×4 blocks first (:data:`POOL`; 256² → 64²), then :meth:`classify`
    runs the convolutions on the pooled input (training pools its patches once, up front).

    Example:
        >>> TerrainNet(1, 4, width=8)(torch.rand(2, 1, 256, 256)).shape
        torch.Size([2, 4])
    """

    def __init__(self, in_channels: int, classes: int, width: int = 16) -> None:
        super().__init__()
        widths = [in_channels, width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [
                nn.Conv2d(widths[i], widths[i + 1], 3, padding=1, bias=False),
                nn.BatchNorm2d(widths[i + 1]),
                nn.ReLU(inplace=True),
            ]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(2 * widths[-1], classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(F.avg_pool2d(x, POOL))

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, C, H/4, W/4) pooled SAR in [0, 1] → (B, classes) logits."""
        h = self.features(pooled * 2.0 - 1.0)
        return self.head(torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1))


@dataclass(frozen=True)
class ClassifierMeta:
    """The metadata of a classifier checkpoint."""

    config: TerrainConfig
    classes: list[str]
    step: int
    split: Split


def build_net(cfg: TerrainConfig, classes: int) -> TerrainNet:
    return TerrainNet(cfg.preprocess.in_channels, classes, cfg.classifier.width)


def save_classifier(path: Path, net: TerrainNet, meta: ClassifierMeta) -> Path:
    tensors = {f"C.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "config": meta.config.to_json(),
        "classes": json.dumps(meta.classes),
        "step": str(meta.step),
        "split": json.dumps(meta.split.to_json()),
    }
    # safetensors writes its own temp file beside ``tmp``: in a folder of its own, named for
    # the writer, so what a killed writer leaves is removed at the next start
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata), private_folder=True)
    return path


def classifier_file(path: str | Path) -> Path | None:
    """The classifier checkpoint ``path`` is or holds (``DIR/terrain.safetensors``), else ``None``.

    Only the header is read: a generator checkpoint or another file gives ``None``.
    """
    path = Path(path)
    candidate = path / FILENAME if path.is_dir() else path
    if not candidate.is_file() or candidate.suffix != ".safetensors":
        return None
    try:
        with safe_open(str(candidate), framework="pt", device="cpu") as f:
            return candidate if (f.metadata() or {}).get("format") == FORMAT else None
    except (SafetensorError, OSError, ValueError):
        return None


def read_classifier_meta(path: Path) -> ClassifierMeta:
    """The metadata of a classifier checkpoint (checked).

    Raises:
        SarcolorError: not a classifier checkpoint, or damaged metadata.
    """
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise SarcolorError(f"{path}: not a safetensors file, or truncated ({first_line(exc)})") from None
    if metadata.get("format") != FORMAT:
        raise SarcolorError(f"{path}: not a sarcolor terrain classifier (format {metadata.get('format')!r})")
    try:
        values = loads_json(metadata["config"], path)
        config = TerrainConfig.from_dict(values, source=str(path)).validate(str(path))
        classes = loads_json(metadata["classes"], path)
        if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
            raise ValueError("classes must list two or more terrain names")
        step = int(metadata["step"])
        split = Split.from_json(loads_json(metadata.get("split", "{}"), path), path)
    except KeyError as exc:
        raise SarcolorError(f"{path}: damaged classifier metadata (no {exc.args[0]})") from None
    except ValueError as exc:
        raise SarcolorError(f"{path}: damaged classifier metadata ({first_line(exc)})") from None
    return ClassifierMeta(config, classes, step, split)


class Classifier:
    """A trained terrain classifier: ``(H, W, C)`` SAR in [0, 1] → ``(terrain, confidence)``.

    It is the registry's :data:`~sarcolor.inference.modelset.TerrainClassifier`. An image larger
    than a tile is classified tile by tile (256×256, mirror-padded at the border) and the
    probabilities averaged; :meth:`classify_tiles` gives one answer per tile. The confidence is
    the winning probability. The SAR must be in the scale the generators see (the classifier's
    first ``len(bands)`` channels are used; an RGB-looking image is reduced to grey).

    Args:
        path: a classifier checkpoint, or a folder holding ``terrain.safetensors``.
        device: ``cpu`` (default) or ``cuda``.
    """

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        found = classifier_file(path)
        if found is None:
            raise SarcolorError(f"{path}: not a terrain classifier (expected {FILENAME}, from train-terrain)")
        self.path = found
        self.meta = read_classifier_meta(found)
        self.classes = list(self.meta.classes)
        self.device = torch.device(device)
        self.net = build_net(self.meta.config, len(self.classes))
        with safe_open(str(found), framework="pt", device="cpu") as f:
            state = {k[2:]: f.get_tensor(k) for k in f.keys() if k.startswith("C.")}  # noqa: SIM118
        try:
            self.net.load_state_dict(state)
        except RuntimeError as exc:
            raise SarcolorError(f"{found}: weights do not fit the classifier ({first_line(exc)})") from None
        self.net.to(self.device).eval()
        self.channels = self.meta.config.preprocess.in_channels

    @torch.inference_mode()
    def probabilities(self, tiles: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) SAR in [0, 1] → (B, classes) probabilities (float32, CPU)."""
        x = tiles.float()
        if x.shape[1] == 3 and self.channels == 1:
            x = to_grey(x)
        if x.shape[1] < self.channels:
            raise SarcolorError(f"the terrain classifier takes {self.channels} SAR band(s), got {x.shape[1]}")
        out = []
        for start in range(0, x.shape[0], 32):
            logits = self.net(x[start : start + 32, : self.channels].to(self.device))
            out.append(torch.softmax(logits.float(), dim=1).cpu())
        return torch.cat(out) if out else torch.zeros(0, len(self.classes))

    def classify_tiles(self, tiles: torch.Tensor) -> list[tuple[str, float]]:
        """One ``(terrain, confidence)`` per tile of a (B, C, H, W) batch."""
        probs = self.probabilities(tiles)
        conf, index = probs.max(dim=1)
        return [(self.classes[int(i)], float(c)) for i, c in zip(index, conf, strict=True)]

    def __call__(self, image: np.ndarray) -> tuple[str, float]:
        """``(H, W, C)`` float SAR in [0, 1] → the terrain of the whole image and its confidence."""
        probs = self.image_probabilities(image)
        index = int(np.argmax(probs))
        return self.classes[index], float(probs[index])

    def image_probabilities(self, image: np.ndarray) -> np.ndarray:
        """(classes,) mean probabilities over the tiles of an ``(H, W, C)`` image."""
        image = image[..., None] if image.ndim == 2 else image
        plan = plan_tiles(image.shape[0], image.shape[1], TILE, 0)
        padded = pad_to_plan(np.ascontiguousarray(image, dtype=np.float32), plan)
        tiles = np.stack([padded[t : t + TILE, left : left + TILE] for t, left in plan.origins])
        probs = self.probabilities(torch.from_numpy(tiles).permute(0, 3, 1, 2))
        return probs.mean(dim=0).numpy()


def describe(classifier: Classifier) -> str:
    """One line: where it is, the terrains it tells apart, and its test accuracy when evaluated."""
    line = f"terrain classifier {classifier.path}: {', '.join(classifier.classes)}"
    report = read_report(classifier.path.parent)
    if report is not None:
        line += (
            f"; test accuracy {report['accuracy']:.1%} on {report['n']} patches "
            f"(always-{report['majority']['terrain']}: {report['majority']['accuracy']:.1%})"
        )
    return line


REPORT = Path("eval") / "test.json"


def read_report(folder: Path) -> dict | None:
    """``DIR/eval/test.json`` written by the classifier's evaluation, or ``None``."""
    path = folder / REPORT
    try:
        data = loads_json(path.read_text(), path)
        return data if isinstance(data, dict) and "accuracy" in data else None
    except (OSError, ValueError, SarcolorError):  # e.g. nested too deeply
        return None
