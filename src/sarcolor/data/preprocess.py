"""The one place where images become network tensors and network outputs become RGB.

Every scaling choice lives here and is driven by :class:`~sarcolor.config.PreprocessConfig`,
which is stored in each checkpoint, so training and inference always agree.

* SAR input (``input='sar'``): the SEN1-2 PNGs hold VV backscatter in dB already scaled to
  0–255 by the dataset authors; read as [0, 1] (:func:`sarcolor.data.io.read_image`), the grey
  value ``g`` becomes ``2·g − 1`` in [-1, 1]. An RGB file is reduced to grey (ITU-R 601 luma,
  exact for the three-identical-channel PNGs some SAR exports use). GeoTIFFs in dB, linear
  σ⁰ or amplitude reach the same [0, 1] scale through :mod:`sarcolor.sar.radiometry`.
* L* input (``input='optical-l'``): CIE L*a*b* (D65, sRGB) of the optical image;
  ``L*/50 − 1`` in [-1, 1].
* Targets: ``rgb`` → ``2·rgb − 1``; ``lab`` → ``(L*/50 − 1, a*/110, b*/110)``;
  ``ab`` → ``(a*/110, b*/110)``. sRGB colours have |a*|, |b*| < 110, so tanh outputs cover them.
  ``grey`` → ``2·Y − 1`` with Y the ITU-R 601 luma of the optical image (PIL's ``convert("L")``
  up to rounding; a grey file is taken as is): decoded, it is grey repeated in R, G and B, and
  :func:`scored_image` takes the one channel back for files and scores. ``tinted`` is trained
  as ``grey`` and decoded in colour: ``tint_offset + tint·Y`` per channel (stored; at training
  the mean colour at luma 1 and no offset, or fitted by least squares on colour pairs by
  :mod:`sarcolor.training.colour_stage`): brightness from the radar, colour from the prior.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from kornia.color import lab_to_rgb, rgb_to_lab

from sarcolor.config import PreprocessConfig
from sarcolor.errors import SarcolorError
from sarcolor.sar.radiometry import linear_to_unit, unit_to_linear
from sarcolor.sar.speckle import despeckle

AB_SCALE: float = 110.0
SAR_LEVEL_MEAN: float = 0.5  # a standardised band's mean, [0, 1] scale (SEN1-2's Kaggle PNGs: 0.49–0.51)
SAR_LEVEL_STD: float = 0.21  # …and standard deviation (those PNGs: 0.20–0.22)
_FLAT_STD: float = 0.04  # a flatter band (real SAR: ≥ 0.07) is stretched no more than 0.21 / 0.04 ≈ 5×
L_SCALE: float = 50.0
_LUMA = (0.299, 0.587, 0.114)


def to_grey(image: torch.Tensor) -> torch.Tensor:
    """(B, 1 or 3, H, W) in [0, 1] → (B, 1, H, W) luma."""
    if image.shape[1] == 1:
        return image
    weights = image.new_tensor(_LUMA).view(1, 3, 1, 1)
    return (image * weights).sum(dim=1, keepdim=True)


def tint_of(mean_rgb: Sequence[float]) -> list[float]:
    """A mean colour (R, G, B) → the same colour at luma 1: what ``--target tinted`` multiplies by."""
    luma = sum(w * c for w, c in zip(_LUMA, mean_rgb, strict=True))
    return [round(c / luma, 6) for c in mean_rgb] if luma > 0 else [1.0, 1.0, 1.0]


def to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(B, 1 or 3, H, W) → (B, 3, H, W); grey is replicated."""
    return image.expand(-1, 3, -1, -1) if image.shape[1] == 1 else image


def encode_input(
    image: torch.Tensor, cfg: PreprocessConfig, stats: torch.Tensor | None = None
) -> torch.Tensor:
    """The generator's input: (B, C, H, W) in [0, 1] → (B, in_channels, H, W) in [-1, 1].

    ``image`` is the SAR image for ``input='sar'`` (one channel per band in the radiometric
    scale of :mod:`sarcolor.sar.radiometry`; a one-band model reduces RGB to grey) and the
    optical image for ``optical-l``. The level standardisation (``sar_levels``) and then the
    configured speckle filter run here, so training and colorizing treat the input alike.
    ``stats`` (B, in_channels, 2) are the level statistics of the images the tiles were cut
    from (:func:`sar_stats`); by default each tile's own.
    """
    if cfg.input == "sar":
        sar = sar_input(image, cfg)
        if sar.shape[1] != cfg.in_channels:
            raise SarcolorError(
                f"the model takes {cfg.in_channels} SAR band(s) ({', '.join(cfg.bands)}), got {sar.shape[1]}"
            )
        if cfg.sar_levels == "standardise":
            sar = standardise_sar(sar, sar_stats(sar) if stats is None else stats)
        if cfg.despeckle:
            sar = despeckle_unit(sar, cfg)
        return sar * 2.0 - 1.0
    lightness = rgb_to_lab(to_rgb(image).clamp(0.0, 1.0))[:, :1]
    return lightness / L_SCALE - 1.0


def sar_input(image: torch.Tensor, cfg: PreprocessConfig) -> torch.Tensor:
    """(B, C, H, W) SAR in [0, 1] → the (B, in_channels, H, W) bands :func:`encode_input` takes."""
    return to_grey(image) if cfg.in_channels == 1 else image


def sar_stats(sar: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C, H, W) SAR in [0, 1] → (B, C, 2): each band's mean and standard deviation.

    ``valid`` (B, H, W) bool, if given, limits them to the pixels it marks (nodata excluded).
    """
    values = sar.float().flatten(2)  # (B, C, N)
    if valid is None:
        std, mean = torch.std_mean(values, dim=2, correction=0)
        return torch.stack([mean, std], dim=2)
    weight = valid.flatten(1)[:, None, :].to(values.dtype)  # (B, 1, N)
    count = weight.sum(dim=2).clamp_min(1.0)
    mean = (values * weight).sum(dim=2) / count
    var = ((values - mean[..., None]) ** 2 * weight).sum(dim=2) / count
    return torch.stack([mean, var.sqrt()], dim=2)


def standardise_sar(sar: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) SAR in [0, 1] with its images' ``stats`` (B, C, 2) → each band at the mean
    :data:`SAR_LEVEL_MEAN` and spread :data:`SAR_LEVEL_STD`, clipped to [0, 1]."""
    stats = stats.to(device=sar.device, dtype=torch.float32)
    mean, std = stats[..., 0, None, None], stats[..., 1, None, None].clamp_min(_FLAT_STD)
    out = (sar.float() - mean) * (SAR_LEVEL_STD / std) + SAR_LEVEL_MEAN
    return out.clamp(0.0, 1.0).to(sar.dtype)


def despeckle_unit(sar: torch.Tensor, cfg: PreprocessConfig) -> torch.Tensor:
    """Filter (B, C, H, W) SAR in [0, 1] with ``cfg.despeckle``: to linear intensity, filter, back.

    The linear intensity is recovered from the clipped dB range, exactly as stored in
    SEN1-2's PNGs, so PNG and GeoTIFF inputs are filtered the same way.
    """
    ranges, spec = cfg.ranges, cfg.despeckle
    assert spec is not None
    return linear_to_unit(despeckle(unit_to_linear(sar, ranges), spec), ranges).to(sar.dtype)


def encode_target(rgb: torch.Tensor, cfg: PreprocessConfig) -> torch.Tensor:
    """The generator's target: (B, 3, H, W) sRGB in [0, 1] → (B, out_channels, H, W) in [-1, 1]."""
    if cfg.target == "rgb":
        return rgb * 2.0 - 1.0
    if cfg.target in ("grey", "tinted"):
        return to_grey(rgb) * 2.0 - 1.0
    lab = rgb_to_lab(rgb.clamp(0.0, 1.0))
    ab = lab[:, 1:] / AB_SCALE
    if cfg.target == "ab":
        return ab
    return torch.cat([lab[:, :1] / L_SCALE - 1.0, ab], dim=1)


def decode_output(output: torch.Tensor, net_input: torch.Tensor, cfg: PreprocessConfig) -> torch.Tensor:
    """Generator output (B, out_channels, H, W) → sRGB (B, 3, H, W) in [0, 1].

    ``net_input`` is the encoded input (B, 1, H, W); ``ab`` mode takes L* from it.
    """
    if cfg.target in ("rgb", "grey"):  # grey: repeated into its own memory (callers write in place)
        return to_rgb(((output + 1.0) * 0.5).clamp(0.0, 1.0)).contiguous()
    if cfg.target == "tinted":
        gain = output.new_tensor(cfg.tint or [1.0, 1.0, 1.0]).view(1, 3, 1, 1)
        offset = output.new_tensor(cfg.tint_offset or [0.0, 0.0, 0.0]).view(1, 3, 1, 1)
        luma = ((output[:, :1] + 1.0) * 0.5).clamp(0.0, 1.0)
        if cfg.tint_smooth:
            luma = smooth_luma(luma)
        return (offset + luma * gain).clamp(0.0, 1.0)
    if cfg.target == "ab":
        lightness = (net_input[:, :1] + 1.0) * L_SCALE
        ab = output[:, :2] * AB_SCALE
    else:
        lightness = (output[:, :1] + 1.0) * L_SCALE
        ab = output[:, 1:3] * AB_SCALE
    lab = torch.cat([lightness.clamp(0.0, 100.0), ab], dim=1)
    return lab_to_rgb(lab, clip=True)


def smooth_luma(luma: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) → the same smoothed by ``[1, 2, 2, 2, 1] / 8`` along rows and
    columns (mirrored at the edges). Its response is 0 at periods of 2 and 4 pixels, where a
    U-Net's ×2 upsampling leaves a pattern, 1 at constant, and ≥ 0.5 at periods of 9 or more."""
    taps = luma.new_tensor([1.0, 2.0, 2.0, 2.0, 1.0]) / 8.0
    pad = min(2, luma.shape[-2] - 1, luma.shape[-1] - 1)
    out = F.pad(luma, (pad, pad, pad, pad), mode="reflect") if pad else luma
    taps = taps[2 - pad : 3 + pad] / taps[2 - pad : 3 + pad].sum()
    out = F.conv2d(out, taps.view(1, 1, 1, -1))
    return F.conv2d(out, taps.view(1, 1, -1, 1))


def scored_image(rgb: torch.Tensor, cfg: PreprocessConfig) -> torch.Tensor:
    """(B, 3, H, W) sRGB → what is written and scored: (B, 1, H, W) luma for a grey target, else as is.

    A grey prediction is grey repeated, so its luma is itself; an optical target's luma is the
    grey the model was trained on (:func:`encode_target`).
    """
    return to_grey(rgb) if cfg.image_bands == 1 else rgb


def input_levels(net_input: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """An encoded input (B, 1, H, W) in [-1, 1] → integer levels 0…levels-1 (for lookup tables).

    For SEN1-2 PNGs (``input='sar'``) the levels are exactly the 8-bit grey values of the file.
    """
    scaled = ((net_input.float() + 1.0) * 0.5).clamp(0.0, 1.0) * (levels - 1)
    return scaled.round().long()


def display_input(net_input: torch.Tensor) -> torch.Tensor:
    """An encoded input (B, 1, H, W) in [-1, 1] → grey in [0, 1] for pictures (SAR grey or L*/100)."""
    return ((net_input + 1.0) * 0.5).clamp(0.0, 1.0)


def input_label(cfg: PreprocessConfig) -> str:
    """The caption of the input column in pictures."""
    return "SAR" if cfg.input == "sar" else "L*"


def source_sensor(cfg: PreprocessConfig) -> str:
    """Which image of a pair feeds the generator: ``s1`` (SAR) or ``s2`` (optical, for L*)."""
    return "s1" if cfg.input == "sar" else "s2"
