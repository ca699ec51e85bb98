"""Colour conversion and the encode/decode round trips, checked against scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color

from sarcolor.config import PreprocessConfig
from sarcolor.data.io import read_image
from sarcolor.data.preprocess import (
    AB_SCALE,
    L_SCALE,
    SAR_LEVEL_MEAN,
    SAR_LEVEL_STD,
    decode_output,
    encode_input,
    encode_target,
    sar_stats,
    standardise_sar,
    to_grey,
)


def random_rgb(seed: int = 0, size: int = 32) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((2, 3, size, size), dtype=np.float32))


def test_lab_matches_scikit_image_on_real_optical(real_sen12):
    rgb = read_image(real_sen12 / "agri" / "s2" / "ROIs1868_summer_s2_59_p30.png")  # (H, W, 3)
    reference = color.rgb2lab(rgb.astype(np.float64), illuminant="D65")
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    lab_target = encode_target(x, PreprocessConfig("optical-l", "lab"))[0].permute(1, 2, 0).numpy()
    ours = np.concatenate([(lab_target[..., :1] + 1) * L_SCALE, lab_target[..., 1:] * AB_SCALE], axis=-1)
    np.testing.assert_allclose(ours, reference, atol=2e-3)
    lightness = encode_input(x, PreprocessConfig("optical-l", "ab"))[0, 0].numpy()
    np.testing.assert_allclose((lightness + 1) * L_SCALE, reference[..., 0], atol=2e-3)


def test_lab_matches_scikit_image_on_random_colours():
    x = random_rgb()
    reference = color.rgb2lab(x[0].permute(1, 2, 0).double().numpy())
    lab = encode_target(x, PreprocessConfig("optical-l", "lab"))[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose((lab[..., 0] + 1) * L_SCALE, reference[..., 0], atol=2e-3)
    np.testing.assert_allclose(lab[..., 1:] * AB_SCALE, reference[..., 1:], atol=2e-3)
    assert np.abs(lab).max() <= 1.0  # a*, b* of sRGB colours fit the ±110 scale


@pytest.mark.parametrize(
    ("input_mode", "target"),
    [
        ("sar", "rgb"),
        ("sar", "lab"),
        ("optical-l", "lab"),
        ("optical-l", "ab"),
        ("optical-l", "rgb"),
    ],
)
def test_encode_decode_round_trip(input_mode, target):
    cfg = PreprocessConfig(input_mode, target)
    rgb = random_rgb(1)
    net_in = encode_input(rgb, cfg)
    assert net_in.shape == (2, 1, 32, 32) and net_in.min() >= -1 and net_in.max() <= 1
    encoded = encode_target(rgb, cfg)
    assert encoded.shape[1] == cfg.out_channels
    assert encoded.abs().max() <= 1.0
    back = decode_output(encoded, net_in, cfg)
    np.testing.assert_allclose(back.numpy(), rgb.numpy(), atol=2e-3)


def test_sar_scaling_is_linear_in_the_png_grey_levels():
    grey = torch.tensor([0.0, 128 / 255, 1.0]).view(1, 1, 1, 3)
    out = encode_input(grey, PreprocessConfig("sar", "rgb"))
    np.testing.assert_allclose(out.flatten().numpy(), [-1.0, 2 * 128 / 255 - 1, 1.0], atol=1e-6)
    same = torch.full((1, 3, 2, 2), 0.25)  # an RGB file with three identical channels
    assert torch.allclose(to_grey(same), torch.full((1, 1, 2, 2), 0.25))


def test_ab_target_needs_l_input():
    from sarcolor.errors import SarcolorError

    with pytest.raises(SarcolorError, match="--target ab needs --input optical-l"):
        PreprocessConfig("sar", "ab").validate()


def real_sar(real_sen12) -> torch.Tensor:
    """The real SEN1-2 SAR patch of ``real_sen12`` as (1, 1, 256, 256) in [0, 1]."""
    grey = read_image(real_sen12 / "agri" / "s1" / "ROIs1868_summer_s1_59_p30.png")
    return torch.from_numpy(grey).permute(2, 0, 1)[None, :1]


def test_standardised_levels_do_not_depend_on_a_release_s_brightness(real_sen12):
    sar = real_sar(real_sen12)
    # scene90 of SEN1-2 as released: bright and flat (mean 216, std 19 of 255) — the same radar, re-levelled
    bright = ((sar - sar.mean()) / sar.std() * (19 / 255) + 216 / 255).clamp(0, 1)
    std_cfg, raw_cfg = PreprocessConfig(sar_levels="standardise"), PreprocessConfig()
    same = encode_input(bright, std_cfg) - encode_input(sar, std_cfg)
    assert same.abs().mean() < 0.02  # identical but for 8-bit-free clipping at the ends
    assert (encode_input(bright, raw_cfg) - encode_input(sar, raw_cfg)).abs().mean() > 0.5
    levels = (encode_input(bright, std_cfg) + 1) / 2
    assert levels.mean().item() == pytest.approx(SAR_LEVEL_MEAN, abs=0.01)
    assert levels.std().item() == pytest.approx(SAR_LEVEL_STD, abs=0.01)


def test_standardising_with_given_statistics_is_what_tiles_of_one_image_share(real_sen12):
    sar = real_sar(real_sen12)
    cfg = PreprocessConfig(sar_levels="standardise")
    whole = sar_stats(sar)  # (1, 1, 2)
    assert whole[0, 0, 0].item() == pytest.approx(sar.mean().item(), abs=1e-5)
    assert whole[0, 0, 1].item() == pytest.approx(sar.std(correction=0).item(), abs=1e-5)
    tile = sar[..., :64, :64]
    own, shared = encode_input(tile, cfg), encode_input(tile, cfg, whole)
    assert torch.equal(shared, standardise_sar(tile, whole) * 2 - 1)
    assert (own - shared).abs().max() > 0.05  # a tile's own statistics are not its image's
    valid = torch.zeros(1, 256, 256, dtype=torch.bool)
    valid[:, :64, :64] = True
    assert torch.allclose(sar_stats(sar, valid), sar_stats(tile), atol=1e-5)  # nodata left out


def test_a_flat_image_is_not_stretched_into_noise():
    flat = torch.full((1, 1, 32, 32), 0.8)
    flat[..., 0, 0] = 0.8 + 1 / 255  # one 8-bit level apart
    levels = (encode_input(flat, PreprocessConfig(sar_levels="standardise")) + 1) / 2
    assert 0 < (levels.max() - levels.min()).item() * 255 < 6  # stretched at most ~5×, not to full range
    assert levels.mean().item() == pytest.approx(SAR_LEVEL_MEAN, abs=0.01)
