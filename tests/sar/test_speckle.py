"""Speckle filters (:mod:`sarcolor.sar.speckle`) on simulated speckle of known looks.

Speckle is simulated as ``I = R · G`` with ``G ~ Gamma(shape=L, scale=1/L)`` (unit mean) and a
known reflectivity ``R``; every draw has a fixed seed, so the numbers below are reproducible."""

from __future__ import annotations

import math

import pytest
import torch

from sarcolor.errors import SarcolorError
from sarcolor.sar.speckle import (
    DEFAULT_WINDOW,
    FILTERS,
    DespeckleSpec,
    despeckle,
    equivalent_looks,
    estimate_looks,
    local_stats,
    parse_despeckle,
)

WINDOW = 7


ADAPTIVE = ("lee", "enhanced-lee", "frost", "gamma-map", "median")


# The median of Gamma(L, 1/L): what a median filter converges to on homogeneous speckle
# (ln 2 for L = 1; scipy.stats.gamma(4, scale=0.25).median() for L = 4).
GAMMA_MEDIAN = {1: math.log(2.0), 4: 0.9180}


def speckle(reflectivity: torch.Tensor, looks: float, seed: int) -> torch.Tensor:
    """``R · G``, ``G ~ Gamma(looks, 1/looks)``, for a (B, C, H, W) reflectivity."""
    generator = torch.Generator().manual_seed(seed)
    shape = torch.full_like(reflectivity, float(looks))
    return reflectivity * torch._standard_gamma(shape, generator=generator) / looks


def interior(x: torch.Tensor, border: int = WINDOW) -> torch.Tensor:
    """(…, H, W) → (…, H − 2·border, W − 2·border): away from the padded edges."""
    return x[..., border:-border, border:-border]


def step_edge(looks: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 128 × 128 step, R = 1 on the left half and 10 on the right: ``(R, I)``."""
    reflectivity = torch.ones(1, 1, 128, 128)
    reflectivity[..., 64:] = 10.0
    return reflectivity, speckle(reflectivity, looks, seed)


def rise_width(filtered: torch.Tensor) -> int:
    """Columns of the step's column-mean profile between 10 % and 90 % of its own rise.

    The levels are the filter's own plateaus (columns 7–39 and 88–120), so a filter that
    scales the levels (the median does) is judged on sharpness alone.
    """
    profile = interior(filtered).mean(dim=(0, 1, 2))  # columns 7…120
    low, high = profile[:33].mean(), profile[-33:].mean()
    rise = (profile[33:-33] - low) / (high - low)
    return int(((rise > 0.1) & (rise < 0.9)).sum())


@pytest.mark.parametrize("looks", [1, 4])
@pytest.mark.parametrize("name", FILTERS)
def test_homogeneous_area_gains_looks_and_keeps_its_mean(name: str, looks: int) -> None:
    """Over a 128 × 128 constant area the ENL grows at least 10× (window 7) and the mean holds.

    Measured ENL gains (seeds 0–5) run 15–53×, except Frost on single-look speckle, 3.0–3.5×:
    with ``K = 2`` and ``Ci² ≈ 1/L = 1`` its weights fall as ``e^(−2d)``, a kernel barely one
    pixel wide (the ideal gain of those weights is (Σw)²/Σw² ≈ 3.3), so it is held to 2.5×.
    The median converges to the median of the speckle, not its mean (ln 2 ≈ 0.69 for L = 1):
    its output mean is checked against that instead of against R.
    """
    noisy = speckle(torch.ones(1, 1, 128, 128), looks, seed=0)
    filtered = interior(despeckle(noisy, DespeckleSpec(name, WINDOW)))
    gain = equivalent_looks(filtered) / equivalent_looks(interior(noisy))
    minimum = 2.5 if (name, looks) == ("frost", 1) else 10.0
    assert gain >= minimum, f"{name}: ENL gain {gain:.2f} < {minimum}"
    expected = GAMMA_MEDIAN[looks] if name == "median" else 1.0
    assert filtered.mean().item() == pytest.approx(expected, rel=0.10)


def test_box_filter_gains_about_window_squared_looks() -> None:
    """A 7 × 7 mean of independent pixels multiplies the ENL by about 49 (measured 46–53)."""
    noisy = speckle(torch.ones(1, 1, 128, 128), 1, seed=1)
    gain = equivalent_looks(interior(despeckle(noisy, "box:7"))) / equivalent_looks(interior(noisy))
    assert 35.0 < gain < 65.0


@pytest.fixture(scope="module")
def edge_with_box() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(R, I, box-filtered I)`` for a step edge with 4-look speckle."""
    reflectivity, noisy = step_edge(looks=4, seed=3)
    return reflectivity, noisy, despeckle(noisy, DespeckleSpec("box", WINDOW))


@pytest.mark.parametrize("name", ADAPTIVE)
def test_adaptive_filters_keep_an_edge_sharper_than_a_box(
    name: str, edge_with_box: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
) -> None:
    """Across a 1 → 10 step (L = 4) each adaptive filter beats a box of the same window twice.

    * The 10–90 % rise of the column-mean profile: the box spreads it over 6 columns; the
      adaptive filters over 0–3 (seeds 0–7), asserted at least 2 columns narrower.
    * The mean absolute error against the true R in the band of ±7 columns around the edge:
      box 1.23–1.32, adaptive 0.60–1.18 (the median is closest, biased low on the bright side).
    """
    reflectivity, noisy, boxed = edge_with_box
    filtered = despeckle(noisy, DespeckleSpec(name, WINDOW))
    assert rise_width(filtered) <= rise_width(boxed) - 2
    band = slice(64 - WINDOW, 64 + WINDOW)
    error = (filtered - reflectivity)[..., WINDOW:-WINDOW, band].abs().mean()
    box_error = (boxed - reflectivity)[..., WINDOW:-WINDOW, band].abs().mean()
    assert error < box_error


def test_lee_follows_the_looks_it_is_given() -> None:
    """Lee's weight is ``1 − Cu²/Ci²``: told L = 100 it all but keeps single-look speckle."""
    noisy = speckle(torch.ones(1, 1, 64, 64), 1, seed=4)
    kept = despeckle(noisy, "lee:7:100")
    assert (kept - noisy).abs().mean() < 0.05 * noisy.mean()
    assert equivalent_looks(interior(despeckle(noisy, "lee:7:1"))) > 10.0


@pytest.mark.parametrize("looks", [1, 4])
def test_estimate_looks_on_homogeneous_speckle(looks: int) -> None:
    """256 × 256 pure speckle: measured within 4 % (seeds 0–9), asserted within 10 %."""
    noisy = speckle(torch.ones(3, 2, 256, 256), looks, seed=5)
    estimate = estimate_looks(noisy)
    assert estimate.shape == (3, 2)
    assert torch.allclose(estimate, torch.full_like(estimate, float(looks)), rtol=0.10)


@pytest.mark.parametrize("looks", [1, 4])
def test_estimate_looks_ignores_the_scene(looks: int) -> None:
    """A mosaic of 32-px blocks spanning 30 dB: within 20 % (measured 13 %); the ENL of the
    whole image, which reads texture as noise, is below 0.35."""
    generator = torch.Generator().manual_seed(6)
    blocks = 10 ** (3 * torch.rand(1, 1, 8, 8, generator=generator) - 2)
    noisy = speckle(blocks.repeat_interleave(32, 2).repeat_interleave(32, 3), looks, seed=7)
    assert estimate_looks(noisy).item() == pytest.approx(looks, rel=0.20)
    assert equivalent_looks(noisy) < 0.35


def test_estimate_looks_of_degenerate_images() -> None:
    """No speckle → the upper clamp; all zero → 1; constant images of any size are finite."""
    assert estimate_looks(torch.full((1, 1, 32, 32), 3.0)).item() == 100.0
    assert estimate_looks(torch.zeros(1, 1, 32, 32)).item() == 1.0
    assert estimate_looks(torch.ones(1, 1, 1, 5)).item() == 1.0


def test_equivalent_looks() -> None:
    assert equivalent_looks(speckle(torch.ones(1, 1, 256, 256), 4, seed=8)) == pytest.approx(4.0, rel=0.05)
    assert equivalent_looks(torch.ones(10)) == math.inf


def test_local_stats_match_a_direct_window() -> None:
    x = speckle(torch.ones(1, 1, 20, 30), 2, seed=9) * 1e3
    mean, variance = local_stats(x, 5)
    patch = x[0, 0, 8:13, 10:15]
    assert mean[0, 0, 10, 12].item() == pytest.approx(patch.mean().item(), rel=1e-5)
    assert variance[0, 0, 10, 12].item() == pytest.approx(patch.var(unbiased=False).item(), rel=1e-4)


def test_parse_despeckle_valid() -> None:
    assert parse_despeckle("lee") == DespeckleSpec("lee", DEFAULT_WINDOW, None)
    assert parse_despeckle("lee").window == 7
    assert parse_despeckle("frost:5") == DespeckleSpec("frost", 5)
    assert parse_despeckle("gamma-map:9:4.4") == DespeckleSpec("gamma-map", 9, 4.4)
    assert parse_despeckle(" Enhanced_Lee:3 ") == DespeckleSpec("enhanced-lee", 3)
    for empty in (None, "", "none", "None"):
        assert parse_despeckle(empty) is None


@pytest.mark.parametrize(
    "spec",
    [DespeckleSpec("lee"), DespeckleSpec("frost", 5), DespeckleSpec("gamma-map", 9, 4.4)]
    + [DespeckleSpec(name, 11, 2.0) for name in FILTERS],
)
def test_spec_text_round_trips(spec: DespeckleSpec) -> None:
    assert parse_despeckle(str(spec)) == spec


def test_spec_text_form() -> None:
    assert str(DespeckleSpec("lee")) == "lee:7"
    assert str(DespeckleSpec("frost", 5, 4.4)) == "frost:5:4.4"


@pytest.mark.parametrize(
    "text", ["wiener", "lee:4", "lee:x", "lee:7:-1", "lee:1", "lee:7.0", "lee:7:0", "lee:7:nan", "lee:7:2:3"]
)
def test_parse_despeckle_invalid(text: str) -> None:
    with pytest.raises(SarcolorError) as info:
        parse_despeckle(text)
    message = str(info.value)
    assert "\n" not in message
    assert all(name in message for name in FILTERS)


def test_spec_validates_directly() -> None:
    with pytest.raises(SarcolorError, match="odd"):
        DespeckleSpec("median", 8)
    with pytest.raises(ValueError, match="odd"):
        local_stats(torch.ones(1, 1, 9, 9), 2)


@pytest.mark.parametrize("name", FILTERS)
def test_shape_and_dtype_kept_on_odd_non_square_images(name: str) -> None:
    noisy = speckle(torch.ones(1, 2, 37, 53), 2, seed=10)
    out = despeckle(noisy, DespeckleSpec(name, 5))
    assert out.shape == noisy.shape and out.dtype == torch.float32 and out.device == noisy.device
    assert torch.isfinite(out).all() and (out >= 0).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("name", ["lee", "gamma-map", "median"])
def test_low_and_high_precision_inputs(name: str, dtype: torch.dtype) -> None:
    """The arithmetic is float32 (float64 for float64), so half inputs agree with float32 ones."""
    noisy = speckle(torch.ones(1, 1, 32, 32), 1, seed=11).to(dtype)
    out = despeckle(noisy, DespeckleSpec(name))
    reference = despeckle(noisy.float(), DespeckleSpec(name))
    assert out.dtype == dtype
    assert torch.allclose(out.float(), reference, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("name", FILTERS)
def test_batch_and_channels_are_filtered_independently(name: str) -> None:
    """Four images of different scale and looks, filtered together or one by one, agree."""
    reflectivity = torch.tensor([1e-3, 1.0, 50.0, 0.2]).view(2, 2, 1, 1).expand(2, 2, 40, 48)
    looks = torch.tensor([1.0, 4.0, 2.0, 8.0]).view(2, 2, 1, 1).expand(2, 2, 40, 48)
    generator = torch.Generator().manual_seed(12)
    noisy = reflectivity * torch._standard_gamma(looks.contiguous(), generator=generator) / looks
    together = despeckle(noisy, DespeckleSpec(name))
    for b in range(2):
        for c in range(2):
            alone = despeckle(noisy[b : b + 1, c : c + 1], DespeckleSpec(name))
            assert torch.allclose(together[b : b + 1, c : c + 1], alone, rtol=1e-5, atol=0.0)


@pytest.mark.parametrize("name", FILTERS)
def test_all_zero_input_gives_zeros(name: str) -> None:
    out = despeckle(torch.zeros(2, 1, 16, 16), name)
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("name", FILTERS)
def test_image_smaller_than_the_window(name: str) -> None:
    """Smaller than half a window, the padding replicates instead of reflecting."""
    noisy = speckle(torch.ones(1, 1, 3, 5), 1, seed=13)
    out = despeckle(noisy, DespeckleSpec(name, 9))
    assert out.shape == noisy.shape and torch.isfinite(out).all() and (out >= 0).all()


@pytest.mark.parametrize("name", FILTERS)
def test_scale_equivariant_over_thirty_orders_of_magnitude(name: str) -> None:
    """Intensities of 1e-15 and 1e15 in one float32 batch filter like intensities near 1."""
    unit = speckle(torch.ones(1, 1, 32, 32), 1, seed=16)
    reference = despeckle(unit, name)
    both = despeckle(torch.cat([unit * 1e-15, unit * 1e15], dim=1), name)
    assert torch.allclose(both[:, :1] * 1e15, reference, rtol=1e-4)
    assert torch.allclose(both[:, 1:] * 1e-15, reference, rtol=1e-4)


def test_none_leaves_the_input_alone() -> None:
    noisy = speckle(torch.ones(1, 1, 8, 8), 1, seed=14)
    assert despeckle(noisy, "none") is noisy


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", FILTERS)
def test_cuda_matches_cpu(name: str) -> None:
    noisy = speckle(torch.ones(2, 1, 64, 64), 2, seed=15)
    on_gpu = despeckle(noisy.cuda(), DespeckleSpec(name))
    assert on_gpu.device.type == "cuda"
    assert torch.allclose(on_gpu.cpu(), despeckle(noisy, DespeckleSpec(name)), rtol=1e-4, atol=1e-6)
