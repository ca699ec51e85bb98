"""The periodic-pattern score: a faint dot grid stands out, a natural-looking scene does not, and
pix2pix's transposed-convolution init prints a grid that the bilinear init does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarcolor.config import Config
from sarcolor.evaluation.periodic import grid_scores
from sarcolor.models import build_networks
from sarcolor.models.init import BILINEAR_TAPS


def _scenes(n: int = 6) -> list[np.ndarray]:
    """Natural-image-like fields: power falling as 1/f³, random phases, no period singled out."""
    rng = np.random.default_rng(0)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256), indexing="ij"))
    amplitude = 1.0 / np.maximum(f, 1 / 256) ** 1.5
    out = []
    for _ in range(n):
        field = np.fft.ifft2(amplitude * np.exp(2j * np.pi * rng.random((256, 256)))).real
        field = 0.5 + 0.15 * field / field.std()
        out.append(np.repeat(field[..., None], 3, axis=-1))
    return out


def test_periodic_score_sees_a_faint_dot_grid_and_not_a_natural_scene():
    scenes = _scenes()
    clean = grid_scores(scenes)
    assert set(clean) == {2, 4, 8, 16, 32} and max(abs(v) for v in clean.values()) < 1.0, clean
    dotted = []
    for image in scenes:
        image = image.copy()
        image[::8, ::8] += 0.03  # one pixel in 64, +3 % of the range
        dotted.append(image)
    scores = grid_scores(dotted)
    assert scores[8] > clean[8] + 5.0 and scores[8] > scores[32]
    assert set(grid_scores([s[:96, :96] for s in scenes])) == {2, 4, 8, 16, 32}  # 96 = 3·32
    assert set(grid_scores([s[:100, :100] for s in scenes])) == {2, 4}  # periods that divide 100
    with pytest.raises(ValueError, match="differ in size"):
        grid_scores([scenes[0], scenes[1][:128]])


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_the_untrained_generator_prints_a_grid_only_with_pix2pix_init(upsample: str):
    x = torch.rand(4, 1, 256, 256) * 2 - 1
    x = torch.nn.functional.avg_pool2d(x, 9, 1, 4)  # smooth, like despeckled radar
    scores = {}
    for init in ("normal", "bilinear"):
        cfg = Config().replace(model={"ngf": 8, "ndf": 8, "upsample_init": init, "upsample": upsample})
        torch.manual_seed(0)
        g, _ = build_networks(cfg.validate())
        with torch.no_grad():
            out = g.train()(x).permute(0, 2, 3, 1).numpy() * 0.5 + 0.5
        assert float(g.down[1][0].weight.detach().std()) == pytest.approx(0.02, rel=0.1)  # as pix2pix
        scores[init] = grid_scores(list(out))
        if init == "bilinear" and upsample == "transpose":
            taps = torch.tensor(BILINEAR_TAPS)
            w = g.last.weight.detach()
            assert torch.allclose(w, w[:, :, 1:2, 1:2] / 0.5625 * torch.outer(taps, taps))
    if upsample == "transpose":
        assert max(scores["normal"].values()) > 10.0, scores  # pix2pix's init prints a grid at step 0
        assert max(scores["bilinear"].values()) < 3.0, scores
    else:  # no transposed convolution to initialise: the same network, no grid
        assert scores["normal"] == scores["bilinear"] and max(scores["normal"].values()) < 3.0, scores
