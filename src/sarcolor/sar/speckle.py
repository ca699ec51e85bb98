"""Speckle filters for SAR intensity images, batched on ``(B, C, H, W)`` tensors (CPU or GPU).

Every filter works on **linear** intensity (σ⁰, not dB) and treats each channel of each image on
its own. Speckle is modelled as multiplicative, ``I = R · G`` with ``G ~ Gamma(L, 1/L)`` for an
``L``-look image, so ``Cu² = 1/L`` is the squared coefficient of variation of pure speckle and
the local ``Ci² = var/mean²`` measures how far a window is from homogeneous.

=================  =============================================================================
name               what it does
=================  =============================================================================
``lee``            local linear MMSE (Lee 1980)
``enhanced-lee``   Lee with three classes: homogeneous, textured, point target (Lopes et al. 1990)
``frost``          exponential kernel whose width follows Ci² (Frost et al. 1982)
``gamma-map``      MAP estimate under a Gamma scene prior (Lopes et al. IGARSS 1990)
``median``         local median
``box``            local mean
=================  =============================================================================

All windows are square and odd; images are reflect-padded so the output has the input's size
(replicate padding where the image is smaller than half a window). Every filter is
scale-equivariant, so :func:`despeckle` divides each image by its mean before filtering and
multiplies back: the arithmetic then never sees σ⁰ values near the float32 limits.

Example::

    >>> spec = parse_despeckle("lee:7")
    >>> intensity = torch.rand(2, 1, 64, 64) + 0.1  # linear σ⁰
    >>> despeckle(intensity, spec).shape
    torch.Size([2, 1, 64, 64])
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sarcolor.errors import SarcolorError

FILTERS: tuple[str, ...] = ("lee", "enhanced-lee", "frost", "gamma-map", "median", "box")
DEFAULT_WINDOW = 7
MAX_WINDOW = 51  # a fifth of a 256-pixel tile; literature windows are 3–15, and cost grows as window²
LOOKS_RANGE: tuple[float, float] = (0.5, 100.0)  # estimated looks are clamped to this range
ENHANCED_LEE_DAMPING = 1.0
FROST_DAMPING = 2.0
HOMOGENEOUS_FRACTION = 0.25  # estimate_looks uses this most homogeneous share of the windows
_MAX_SAMPLES = 1 << 20  # windows per image that estimate_looks ranks (a stride grid beyond)
_CHUNK_BYTES = 256 << 20  # the median's unfolded patches are built this many bytes at a time
_TINY = 1e-30  # guards divisions; far below any mean-normalised intensity


@dataclass(frozen=True)
class DespeckleSpec:
    """A speckle filter by name, its window (odd, 3 to 51) and the looks (``None``: estimated)."""

    name: str
    window: int = DEFAULT_WINDOW
    looks: float | None = None

    def __post_init__(self) -> None:
        if self.name not in FILTERS:
            raise SarcolorError(f"unknown speckle filter {self.name!r}; {_VALID}")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or not _odd_window(self.window):
            raise SarcolorError(
                f"speckle window must be an odd integer from 3 to {MAX_WINDOW}, not {self.window!r}; {_VALID}"
            )
        if self.looks is not None and not (math.isfinite(self.looks) and self.looks > 0):
            raise SarcolorError(f"speckle looks must be a number > 0, not {self.looks!r}; {_VALID}")

    def __str__(self) -> str:
        text = f"{self.name}:{self.window}"
        return text if self.looks is None else f"{text}:{float(self.looks)!r}"


_VALID = f"expected NAME[:window[:looks]] with NAME one of {', '.join(FILTERS)}"


def parse_despeckle(text: str | None) -> DespeckleSpec | None:
    """``'NAME[:window[:looks]]'`` → a spec; ``None``, ``''`` and ``'none'`` → ``None``.

    Examples: ``'lee'`` (window 7, looks estimated), ``'frost:5'``, ``'gamma-map:9:4.4'``.

    Raises:
        SarcolorError: an unknown name, a window that is not an odd integer from 3 to 51, or looks ≤ 0;
            the one-line message lists the valid filter names.
    """
    if text is None or text.strip().lower() in ("", "none"):
        return None
    parts = [part.strip() for part in text.strip().lower().split(":")]
    if len(parts) > 3:
        raise SarcolorError(f"bad speckle filter {text!r}; {_VALID}")
    name = parts[0].replace("_", "-")
    window: int = DEFAULT_WINDOW
    looks: float | None = None
    if len(parts) > 1:
        try:
            window = int(parts[1])
        except ValueError:
            raise SarcolorError(f"bad speckle window in {text!r}: not an integer; {_VALID}") from None
    if len(parts) > 2:
        try:
            looks = float(parts[2])
        except ValueError:
            raise SarcolorError(f"bad speckle looks in {text!r}: not a number; {_VALID}") from None
    return DespeckleSpec(name, window, looks)


def despeckle(intensity: torch.Tensor, spec: DespeckleSpec | str) -> torch.Tensor:
    """Filter the speckle of linear intensity images.

    Args:
        intensity: (B, C, H, W) floating point, linear intensity ≥ 0 (negative values, e.g. left
            by thermal-noise subtraction, are treated as 0).
        spec: a :class:`DespeckleSpec` or its text form (``'none'`` returns ``intensity`` as is).

    Returns:
        (B, C, H, W), the input's dtype and device; finite and ≥ 0. The arithmetic is float32
        (float64 for float64 input), also for bf16/fp16 input.
    """
    if isinstance(spec, str):
        parsed = parse_despeckle(spec)
        if parsed is None:
            return intensity
        spec = parsed
    x = _as_float(intensity).clamp_min(0.0)
    scale = x.mean(dim=(2, 3), keepdim=True)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    x = x / scale
    if spec.name == "box":
        out = local_stats(x, spec.window)[0]
    elif spec.name == "median":
        out = median_filter(x, spec.window)
    else:
        looks = estimate_looks(x, spec.window) if spec.looks is None else spec.looks
        filters = {
            "lee": lee_filter,
            "enhanced-lee": enhanced_lee_filter,
            "frost": frost_filter,
            "gamma-map": gamma_map_filter,
        }
        out = filters[spec.name](x, spec.window, looks)
    return (out.clamp_min(0.0) * scale).to(intensity.dtype)


def local_stats(x: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Local mean and variance over a ``window × window`` box, reflect-padded.

    Args:
        x: (B, C, H, W) floating point.
        window: odd, ≥ 3.

    Returns:
        ``(mean, variance)``, each (B, C, H, W); the variance is the population one (divided by
        ``window²``) and ≥ 0.
    """
    _check_window(window)
    # The variance does not change with a shift: centring on the image mean first keeps
    # E[x²] − E[x]² from cancelling catastrophically in float32.
    offset = x.mean(dim=(2, 3), keepdim=True)
    centred = _pad(x - offset, window // 2)
    mean = F.avg_pool2d(centred, window, stride=1)
    mean_sq = F.avg_pool2d(centred * centred, window, stride=1)
    return mean + offset, (mean_sq - mean * mean).clamp_min(0.0)


def estimate_looks(intensity: torch.Tensor, window: int = DEFAULT_WINDOW) -> torch.Tensor:
    """Estimate the equivalent number of looks of each image from its most homogeneous windows.

    The image is split into two interleaved pixel sets, ``A = x[0::2, 0::2]`` and
    ``B = x[1::2, 1::2]``. Windows are ranked by their ``Ci²`` in A, and the lowest
    :data:`HOMOGENEOUS_FRACTION` (25 %) are taken as homogeneous; the looks are then measured on
    B at those windows, ``L = Σ (mean² − var/n) / Σ var`` (unbiased variance, ``n = window²``).
    Ranking and measuring on different pixels matters: the lowest ``Ci²`` of a set of windows
    underestimates the speckle's ``Cu²`` (for single-look speckle and 7 × 7 windows, by about
    2×), whereas B's speckle is independent of the ranking. This assumes speckle that is
    uncorrelated between diagonal neighbours; correlated speckle reads as more looks.

    Args:
        intensity: (B, C, H, W) linear intensity ≥ 0.
        window: the window of the local statistics, on the half-resolution sets (odd, ≥ 3).

    Returns:
        (B, C) float32 (float64 for float64 input), clamped to :data:`LOOKS_RANGE`; 1 for images
        with no window of positive mean (e.g. all zero) or smaller than 2 × 2.
    """
    _check_window(window)
    x = _as_float(intensity).clamp_min(0.0)
    b, c, h, w = x.shape
    looks = torch.ones(b, c, dtype=x.dtype, device=x.device)
    if h < 2 or w < 2:
        return looks
    scale = x.mean(dim=(2, 3), keepdim=True)
    x = x / torch.where(scale > 0, scale, torch.ones_like(scale))
    h2, w2 = h // 2 * 2, w // 2 * 2
    mean_a, var_a = local_stats(x[..., 0:h2:2, 0:w2:2], window)
    mean_b, var_b = local_stats(x[..., 1:h2:2, 1:w2:2], window)
    n = window * window
    var_b = var_b * (n / (n - 1))
    ci2_a = var_a / (mean_a * mean_a).clamp_min(_TINY)

    def flat(t: torch.Tensor) -> torch.Tensor:  # (B, C, h, w) → (B·C, N) on a stride grid
        stride = max(1, math.ceil(math.sqrt(t.shape[2] * t.shape[3] / _MAX_SAMPLES)))
        return t[..., ::stride, ::stride].reshape(b * c, -1)

    valid = flat((mean_a > _TINY) & (mean_b > _TINY))
    key = torch.where(valid, flat(ci2_a), torch.full_like(flat(ci2_a), math.inf))
    order = key.argsort(dim=1)
    count = valid.sum(dim=1, keepdim=True)
    take = torch.ceil(count * HOMOGENEOUS_FRACTION).clamp_min(1)
    chosen = (torch.arange(order.shape[1], device=x.device) < take) & (count > 0)
    mean_b, var_b = flat(mean_b).gather(1, order), flat(var_b).gather(1, order)
    signal = torch.where(chosen, mean_b * mean_b - var_b / n, 0.0).sum(dim=1)
    noise = torch.where(chosen, var_b, 0.0).sum(dim=1)
    estimate = torch.where(noise > 0, signal / noise.clamp_min(_TINY), math.inf)
    looks = torch.where(count[:, 0] > 0, estimate, 1.0).view(b, c)
    return looks.clamp(*LOOKS_RANGE)


def equivalent_looks(region: torch.Tensor) -> float:
    """The equivalent number of looks of a homogeneous region: ``mean² / variance`` (ENL).

    Args:
        region: any shape, linear intensity of one homogeneous area (all elements pooled).

    Returns:
        The ENL (unbiased variance); ``inf`` for a constant region.
    """
    values = region.detach().double().flatten()
    variance = values.var().item()
    return values.mean().item() ** 2 / variance if variance > 0 else math.inf


def lee_filter(x: torch.Tensor, window: int, looks: torch.Tensor | float) -> torch.Tensor:
    """The Lee filter: ``x̂ = m + W·(I − m)``, ``W = clamp(1 − Cu²/Ci², 0, 1)``, ``Cu² = 1/L``.

    J.-S. Lee, "Digital image enhancement and noise filtering by use of local statistics",
    IEEE Trans. Pattern Analysis and Machine Intelligence 2(2), 165–168, 1980.

    Args:
        x: (B, C, H, W) linear intensity ≥ 0.
        window: odd, ≥ 3.
        looks: a number or (B, C) per image.

    Returns:
        (B, C, H, W).
    """
    mean, ci2 = _local_variation(x, window)
    cu2 = 1.0 / _looks_map(looks, x)
    weight = ((ci2 - cu2) / ci2.clamp_min(_TINY)).clamp(0.0, 1.0)
    return mean + weight * (x - mean)


def enhanced_lee_filter(x: torch.Tensor, window: int, looks: torch.Tensor | float) -> torch.Tensor:
    """The enhanced Lee filter: the mean where homogeneous, ``I`` at point targets, a blend between.

    With ``Cu = 1/√L`` and ``Cmax = √(1 + 2/L)``: ``Ci ≤ Cu → m``; ``Ci ≥ Cmax → I``; otherwise
    ``x̂ = m·W + I·(1 − W)`` with ``W = exp(−K·(Ci − Cu)/(Cmax − Ci))``, damping ``K = 1``.

    A. Lopes, R. Touzi, E. Nezry, "Adaptive speckle filters and scene heterogeneity",
    IEEE Trans. Geoscience and Remote Sensing 28(6), 992–1000, 1990.

    Arguments and shapes as :func:`lee_filter`.
    """
    mean, ci2 = _local_variation(x, window)
    looks_map = _looks_map(looks, x)
    ci, cu, cmax = ci2.sqrt(), looks_map.rsqrt(), (1.0 + 2.0 / looks_map).sqrt()
    weight = torch.exp(-ENHANCED_LEE_DAMPING * (ci - cu).clamp_min(0.0) / (cmax - ci).clamp_min(_TINY))
    blend = mean * weight + x * (1.0 - weight)
    return torch.where(ci <= cu, mean, torch.where(ci >= cmax, x, blend))


def frost_filter(x: torch.Tensor, window: int, looks: torch.Tensor | float | None = None) -> torch.Tensor:
    """The Frost filter: ``x̂ = Σ w·I / Σ w`` over the window, ``w = exp(−K·Ci²·d)``, ``K = 2``.

    ``d`` is the Euclidean distance to the centre pixel and ``Ci²`` the centre's local
    variation, so the kernel is wide where the scene is homogeneous and shrinks to the centre
    pixel at edges. The looks are not used (accepted so all adaptive filters share a signature).
    The sum runs over the ``window²`` offsets as shifted views of the padded image, one distance
    ring at a time, so memory stays a few images whatever the window.

    V. S. Frost, J. A. Stiles, K. S. Shanmugan, J. C. Holtzman, "A model for radar images and
    its application to adaptive digital filtering of multiplicative noise", IEEE Trans. Pattern
    Analysis and Machine Intelligence 4(2), 157–166, 1982.

    Arguments and shapes as :func:`lee_filter` (``looks`` is ignored).
    """
    _, ci2 = _local_variation(x, window)
    rate = FROST_DAMPING * ci2
    r = window // 2
    h, w = x.shape[2:]
    padded = _pad(x, r)
    rings: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            rings[dy * dy + dx * dx].append((dy, dx))
    total = torch.zeros_like(x)
    norm = torch.zeros_like(x)
    for d2, offsets in rings.items():
        weight = torch.exp(-rate * math.sqrt(d2))
        norm.add_(weight, alpha=len(offsets))
        for dy, dx in offsets:
            total.addcmul_(weight, padded[..., r + dy : r + dy + h, r + dx : r + dx + w])
    return total / norm  # norm ≥ 1: the centre's weight is exp(0)


def gamma_map_filter(x: torch.Tensor, window: int, looks: torch.Tensor | float) -> torch.Tensor:
    """The Gamma-MAP filter: the MAP estimate of the reflectivity under a Gamma scene prior.

    With ``Cu² = 1/L`` and ``Cmax = √(1 + 2/L)``: ``Ci ≤ Cu → m``; ``Ci ≥ Cmax → I``; otherwise,
    with ``α = (1 + Cu²)/(Ci² − Cu²)``,
    ``x̂ = ((α − L − 1)·m + √(m²·(α − L − 1)² + 4·α·L·I·m)) / (2α)``.

    A. Lopes, E. Nezry, R. Touzi, H. Laur, "Maximum a posteriori speckle filtering and first
    order texture models in SAR images", Proc. IGARSS 1990, 2409–2412.

    Arguments and shapes as :func:`lee_filter`.
    """
    mean, ci2 = _local_variation(x, window)
    looks_map = _looks_map(looks, x)
    cu2 = 1.0 / looks_map
    cmax2 = 1.0 + 2.0 / looks_map
    alpha = (1.0 + cu2) / (ci2 - cu2).clamp_min(1e-6)  # only used where Ci² > Cu²
    b = (alpha - looks_map - 1.0) * mean
    root = (b * b + 4.0 * alpha * looks_map * x * mean).clamp_min(0.0).sqrt()
    estimate = (b + root) / (2.0 * alpha)
    return torch.where(ci2 <= cu2, mean, torch.where(ci2 >= cmax2, x, estimate))


def median_filter(x: torch.Tensor, window: int) -> torch.Tensor:
    """The local median over a ``window × window`` box, reflect-padded.

    The patches are unfolded a band of rows at a time, at most about 256 MB each.

    Args:
        x: (B, C, H, W).
        window: odd, ≥ 3.

    Returns:
        (B, C, H, W).
    """
    _check_window(window)
    r = window // 2
    b, c, h, w = x.shape
    padded = _pad(x, r)
    row_bytes = b * c * w * window * window * x.element_size() * 2  # patches and the median's copy
    rows = max(1, _CHUNK_BYTES // max(1, row_bytes))
    out = torch.empty_like(x)
    for top in range(0, h, rows):
        bottom = min(h, top + rows)
        band = padded[:, :, top : bottom + 2 * r].unfold(2, window, 1).unfold(3, window, 1)
        out[:, :, top:bottom] = band.reshape(b, c, bottom - top, w, -1).median(dim=-1).values
    return out


def _local_variation(x: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) → local mean and ``Ci² = var/mean²`` (0 where both are 0)."""
    mean, variance = local_stats(x, window)
    return mean, variance / (mean * mean).clamp_min(_TINY)


def _looks_map(looks: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """A number or (B, C) looks → (B, C, 1, 1) or a 0-d tensor broadcasting against ``x``."""
    if isinstance(looks, torch.Tensor):
        looks = looks.to(dtype=x.dtype, device=x.device)
        return looks.view(*looks.shape, 1, 1) if looks.dim() == 2 else looks
    return torch.tensor(float(looks), dtype=x.dtype, device=x.device)


def _pad(x: torch.Tensor, r: int) -> torch.Tensor:
    """Pad H and W by ``r`` on each side: reflect, or replicate where the image is too small."""
    mode = "reflect" if r < min(x.shape[2], x.shape[3]) else "replicate"
    return F.pad(x, (r, r, r, r), mode=mode)


def _as_float(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) floating point → float32 (float64 stays float64)."""
    if x.dim() != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"expected a floating-point tensor, got {x.dtype}")
    return x if x.dtype == torch.float64 else x.float()


def _odd_window(window: int) -> bool:
    return 3 <= window <= MAX_WINDOW and window % 2 == 1


def _check_window(window: int) -> None:
    if not _odd_window(window):
        raise ValueError(f"window must be an odd integer from 3 to {MAX_WINDOW}, got {window!r}")
