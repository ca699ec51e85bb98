"""Colorizing images with a trained generator loaded from a checkpoint alone."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from sarcolor.checkpoint import CheckpointMeta, resolve_checkpoint
from sarcolor.config import Config
from sarcolor.data.preprocess import decode_output, encode_input, sar_input, sar_stats, to_grey, to_rgb
from sarcolor.errors import SarcolorError
from sarcolor.inference.autotune import FormChoice, choose_form
from sarcolor.inference.backend import Backend, check_finite_output, is_onnx, loaded_generator
from sarcolor.inference.forms import build_form
from sarcolor.inference.options import InferenceOptions
from sarcolor.models.fast import InferenceGenerator
from sarcolor.models.terrain_condition import condition_input
from sarcolor.models.weights import read_checkpoint
from sarcolor.runtime import place, resolve_device, resolve_precision
from sarcolor.sar.speckle import parse_despeckle
from sarcolor.tiling import Blender, blend_window, pad_to_plan, plan_tiles

if TYPE_CHECKING:
    from sarcolor.inference.onnx_backend import OnnxGenerator

TILE = 256
T = TypeVar("T")


class Colorizer:
    """A generator with the preprocessing it was trained with.

    Args:
        checkpoint: a checkpoint file or a run folder (its latest checkpoint).
        device: ``auto``, ``cpu`` or ``cuda``.
        **options: the fields of :class:`~sarcolor.inference.options.InferenceOptions`:
            ``precision`` (``auto``: bf16 on CUDA and on CPUs with bf16 instructions, else
            fp32; see :func:`~sarcolor.runtime.resolve_precision`), ``batch_size`` (tiles per
            forward pass), ``overlap`` (tile overlap in pixels for images that are not one
            tile), ``train_mode`` (pix2pix's stochastic test-time behaviour: dropout on, batch
            statistics; by default the generator runs in eval mode through the fast inference
            form of :func:`~sarcolor.models.fast.inference_model`, BatchNorm folded and weights
            prepacked on CPU, which gives the same output to float32 rounding) and
            ``despeckle`` (a speckle filter instead of the checkpoint's, ``none`` for none;
            the difference is noted in :attr:`despeckle_note`).

    ``checkpoint`` may also be an ONNX model written by ``sarcolor export``: the network then
    runs in ONNX Runtime (:mod:`sarcolor.inference.onnx_backend`), everything else is the same.

    Attributes:
        generator: the checkpoint's generator as trained (eval or train mode), for reference;
            ``None`` for an ONNX model.
        model: what :meth:`predict` runs, float32 in and out (a
            :class:`~sarcolor.inference.backend.Backend`).
        config: the checkpoint's configuration, with ``despeckle`` as chosen.

    Usage::

        colorizer = Colorizer("runs/demo")                    # a run folder: its latest checkpoint
        rgb = colorizer.colorize(read_image("scene_s1.png"))  # (H, W, 3) in [0, 1]
    """

    def __init__(self, checkpoint: str | Path, device: str = "auto", **options: Any) -> None:
        self.options = InferenceOptions(device=device, **options).validate()  # type: ignore[arg-type]
        self.path = resolve_checkpoint(checkpoint)
        onnx = _open_onnx(self.path, self.options) if is_onnx(self.path) else None
        self.meta: CheckpointMeta
        if onnx is None:
            self.meta, states = read_checkpoint(self.path, ["G"])  # metadata and weights: one read
        else:
            self.meta = onnx.meta
        self.despeckle_note = ""
        if self.options.despeckle is not None:
            chosen = parse_despeckle(self.options.despeckle)
            trained = parse_despeckle(self.config.preprocess.despeckle)
            if chosen != trained:
                self.despeckle_note = (
                    f"--despeckle {chosen or 'none'} differs from training ({trained or 'none'}): "
                    "the model never saw input filtered this way"
                )
            despeckle = str(chosen) if chosen else None
            self.meta = replace(self.meta, config=self.config.replace(preprocess={"despeckle": despeckle}))
        self.generator: nn.Module | None = None  # None for an ONNX model
        self.form = FormChoice("onnx" if onnx else "train mode", "not a form")  # set by _model in eval mode
        self.model: Backend
        if onnx is None:
            self.device = resolve_device(self.options.device)
            self.generator = loaded_generator(self.config, states["G"], self.path)
            self.precision = resolve_precision(self.options.precision, self.device)
            self.model = self._model(self.generator, self.options.train_mode)
        else:
            self.device, self.model = onnx.device, onnx
            self.precision = onnx.check_precision(self.options.precision)
        self.overlap, self.batch_size = self.options.overlap, self.options.batch_size
        self.window = blend_window(TILE, self.overlap)

    def _model(self, generator: nn.Module, train_mode: bool) -> Backend:
        """Eval mode: the fast form. Train mode keeps batch statistics, so nothing can be folded."""
        if not train_mode:
            generator.to(self.device).eval()
            opts = self.options
            self.form = choose_form(generator, self.device, self.precision, opts.form, opts.batch_size)
            return build_form(generator, self.device, self.precision, self.form.form)
        layout = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        place(generator, self.device, layout).train()
        return InferenceGenerator(generator, memory_format=layout, autocast_precision=self.precision)

    @property
    def config(self) -> Config:
        return self.meta.config

    def colorize(self, image: np.ndarray) -> np.ndarray:
        """(H, W, C) float in [0, 1] (C = 1 or 3) → (H, W, 3) sRGB float in [0, 1] (a grey model's
        grey repeated; :func:`file_pixels` gives what its file holds)."""
        return self.colorize_many([image])[0]

    @property
    def condition_terrains(self) -> list[str]:
        """The terrains a conditioned generator takes (``--condition terrain``); empty for a plain one."""
        return list(self.config.model.condition_terrains) if self.config.model.condition_channels else []

    @torch.inference_mode()
    def colorize_many(
        self, images: Sequence[np.ndarray], progress: bool = False, terrains: Sequence[str] | None = None
    ) -> list[np.ndarray]:
        """Colorize several images, batching tiles across them.

        ``terrains`` (one per image) is what a conditioned generator is told; plain ones ignore it.
        """
        plans = [plan_tiles(im.shape[0], im.shape[1], TILE, self.overlap) for im in images]
        blenders = [Blender(p, 3, self.window) for p in plans]
        pre = self.config.preprocess
        channels = pre.in_channels if pre.input == "sar" else 3
        shaped = [_with_channels(im, channels) for im in images]
        stats = [self.level_stats(im) for im in shaped]
        padded = [pad_to_plan(im, p) for im, p in zip(shaped, plans, strict=True)]
        jobs = [(i, o) for i, p in enumerate(plans) for o in p.origins]
        bar = tqdm(total=len(jobs), desc="tiles", unit="tile", disable=not progress, leave=False)
        for chunk in chunked(jobs, self.batch_size):
            tiles = np.stack([padded[i][top : top + TILE, left : left + TILE] for i, (top, left) in chunk])
            tile_terrains = None if terrains is None else [terrains[i] for i, _ in chunk]
            known = [s for s in (stats[i] for i, _ in chunk) if s is not None]
            tile_stats = torch.stack(known) if known and len(known) == len(chunk) else None
            out = self.predict(torch.from_numpy(tiles).permute(0, 3, 1, 2), tile_terrains, tile_stats)
            for (i, origin), tile_rgb in zip(chunk, out, strict=True):
                blenders[i].add(origin, tile_rgb)
            bar.update(len(chunk))
        bar.close()
        return [b.result() for b in blenders]

    @property
    def standardises(self) -> bool:
        """Whether the model standardises its SAR levels (``sar_levels='standardise'``)."""
        pre = self.config.preprocess
        return pre.input == "sar" and pre.sar_levels == "standardise"

    def level_stats(self, image: np.ndarray) -> torch.Tensor | None:
        """(H, W, C) image as tiled → the (in_channels, 2) level statistics its tiles share
        (``sar_levels='standardise'``, :func:`~sarcolor.data.preprocess.sar_stats`), else None."""
        if not self.standardises:
            return None
        pre = self.config.preprocess
        sar = sar_input(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None], pre)
        return sar_stats(sar)[0]

    @torch.inference_mode()
    def predict(
        self, tiles: torch.Tensor, terrains: Sequence[str] | None = None, stats: torch.Tensor | None = None
    ) -> np.ndarray:
        """(B, C, H, W) images in [0, 1] (SAR in its radiometric scale) → (B, H, W, 3) sRGB float32.

        ``terrains`` (B names) feed a conditioned generator, which needs them; plain ones ignore it.
        ``stats`` (B, in_channels, 2): the level statistics of the images the tiles come from
        (:meth:`level_stats`), for a model that standardises its input; by default each tile's own.
        """
        net_in = encode_input(tiles.to(self.device), self.config.preprocess, stats)
        out = self.model(condition_input(net_in, terrains, self.config))
        check_finite_output(out, self.path)
        rgb = decode_output(out, net_in, self.config.preprocess)
        return rgb.permute(0, 2, 3, 1).float().cpu().numpy()


def file_pixels(image: np.ndarray, config: Config) -> np.ndarray:
    """A colorized (H, W, 3) image → what its file holds: (H, W) grey for a grey model, else as is."""
    return image[..., 0] if config.preprocess.image_bands == 1 else image


def _open_onnx(path: Path, options: InferenceOptions) -> OnnxGenerator:
    """The ONNX Runtime backend of an exported model (eval mode only: its BatchNorm is folded)."""
    from sarcolor.inference.onnx_backend import OnnxGenerator

    if options.train_mode:
        raise SarcolorError(f"{path}: --train-mode needs the checkpoint; an ONNX model is eval mode only")
    return OnnxGenerator(path, options.device)


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _with_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, 1|3) → (H, W, channels), so grey and RGB files can share a batch of tiles."""
    if image.shape[-1] == channels:
        return image
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    tensor = to_rgb(tensor) if channels == 3 else to_grey(tensor)
    return tensor[0].permute(1, 2, 0).numpy()
