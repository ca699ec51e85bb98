"""Pictures: labelled image grids and loss curves (PNG files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from sarcolor.data.io import to_uint8
from sarcolor.errors import SarcolorError
from sarcolor.outputs import atomic_write
from sarcolor.textfiles import loads_json


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1) or (H, W, 3) → (H, W, 3): grey repeated."""
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def image_grid(
    rows: Sequence[Sequence[np.ndarray]],
    columns: Sequence[str] = (),
    row_labels: Sequence[str] = (),
    tile: int = 192,
) -> Image.Image:
    """Lay out rows of images (each (H, W[, C]) float in [0, 1]) with column and row captions."""
    header = 18 if columns else 0
    caption = 14 if row_labels else 0
    pad = 4
    ncols = max(len(r) for r in rows)
    width = ncols * (tile + pad) + pad
    height = header + len(rows) * (tile + caption + pad) + pad
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for c, text in enumerate(columns):
        draw.text((pad + c * (tile + pad) + 2, 3), text, fill=(0, 0, 0))
    for r, row in enumerate(rows):
        y = header + r * (tile + caption + pad) + pad
        if r < len(row_labels):
            draw.text((pad + 2, y), row_labels[r], fill=(60, 60, 60))
        for c, image in enumerate(row):
            thumb = Image.fromarray(to_uint8(as_rgb(image))).resize((tile, tile), Image.Resampling.BILINEAR)
            canvas.paste(thumb, (pad + c * (tile + pad), y + caption))
    return canvas


def save_image(image: Image.Image, path: str | Path) -> Path:
    """Save a PIL image as PNG atomically."""
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))
    return Path(path)


def read_metrics_log(path: str | Path) -> list[dict[str, Any]]:
    """The JSON-lines metrics log of a run (lines that do not parse are skipped)."""
    records: list[dict[str, Any]] = []
    path = Path(path)
    if not path.exists():
        return records
    for line in path.read_text().splitlines():
        try:
            records.append(loads_json(line, path))
        except (ValueError, SarcolorError):  # SarcolorError: nested too deeply
            continue
    return records


def plot_losses(records: Sequence[dict], path: str | Path, title: str = "pix2pix losses") -> Path | None:
    """Plot D, G_GAN and G_L1 against step (matplotlib, Agg backend). ``None`` if nothing to plot."""
    records = [r for r in records if "step" in r and "G_L1" in r]
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in records]
    marker = "o" if len(records) < 20 else None  # short logs: show the points themselves
    fig, (ax_gan, ax_l1) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key, colour in (("D", "tab:red"), ("G_GAN", "tab:blue")):
        ax_gan.plot(steps, [r[key] for r in records], label=key, color=colour, marker=marker)
    ax_gan.set_xlabel("step")
    ax_gan.set_ylabel("BCE")
    ax_gan.set_title("adversarial")
    ax_gan.legend()
    ax_l1.plot(steps, [r["G_L1"] for r in records], color="tab:green", label="G_L1 (train)", marker=marker)
    val = [(r["step"], r["val_L1"]) for r in records if r.get("val_L1") is not None]
    if val:
        ax_l1.plot(*zip(*val, strict=True), "o-", color="tab:purple", label="L1 (val)")
    ax_l1.set_xlabel("step")
    ax_l1.set_ylabel("L1")
    ax_l1.set_title("reconstruction")
    ax_l1.legend()
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return Path(path)
