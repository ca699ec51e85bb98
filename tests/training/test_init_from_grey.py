"""``--init-from`` a grey generator (``--target grey``) into a colour one (``--target rgb``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import one_line_error, run_cli, tiny_config
from sarcolor.checkpoint import CheckpointMeta, read_meta, resolve_checkpoint, save_checkpoint
from sarcolor.config import Config
from sarcolor.errors import SarcolorError
from sarcolor.models import build_networks
from sarcolor.training.init_from import init_config, load_generator


def grey_checkpoint(path: Path, upsample: str = "transpose") -> Path:
    """A real checkpoint of a seeded 1-output-channel generator (last layer scaled to follow the input)."""
    cfg = Config().replace(
        preprocess={"target": "grey", "sar_scale": "db"}, model={"ngf": 8, "ndf": 8, "upsample": upsample}
    )
    torch.manual_seed(0)
    g, d = build_networks(cfg.validate())
    with torch.no_grad():
        for p in g.last.parameters():
            p.mul_(50)
    return save_checkpoint(path, CheckpointMeta(cfg, 0), {"G": g, "D": d})


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_grey_generator_becomes_rgb_drawing_its_grey_image(tmp_path, synthetic_v2, upsample):
    ckpt = grey_checkpoint(tmp_path / "grey.safetensors", upsample)
    rgb = init_config(
        tiny_config(synthetic_v2).replace(preprocess={"target": "rgb"}), ckpt, {("preprocess", "target")}
    )
    assert rgb.preprocess.target == "rgb" and rgb.model.upsample == upsample
    torch.manual_seed(1)
    colour, _ = build_networks(rgb)
    load_generator(ckpt, colour, rgb)
    grey, _ = build_networks(read_meta(ckpt).config)
    load_generator(ckpt, grey, read_meta(ckpt).config)
    x = torch.rand(2, 1, 256, 256) * 2 - 1
    with torch.no_grad():
        want, got = grey.eval()(x), colour.eval()(x)
    assert want.shape == (2, 1, 256, 256) and got.shape == (2, 3, 256, 256)
    assert want.std() > 0.05  # the generator draws an image, not a constant
    assert torch.allclose(got, want.expand(-1, 3, -1, -1), atol=1e-6)  # R = G = B = its grey


def test_grey_target_is_kept_unless_rgb_is_given(tmp_path, synthetic_v2):
    ckpt = grey_checkpoint(tmp_path / "grey.safetensors")
    assert init_config(tiny_config(synthetic_v2), ckpt).preprocess.target == "grey"  # rgb, the default
    with pytest.raises(SarcolorError, match="--target cannot change with --init-from"):
        init_config(tiny_config(synthetic_v2).replace(preprocess={"target": "lab"}), ckpt)


def test_cli_fine_tunes_a_grey_generator_for_colour(tmp_path, synthetic_v2, capsys):
    ckpt = grey_checkpoint(tmp_path / "grey.safetensors", "resize")
    base = (
        f"train --init-from {ckpt} --data {synthetic_v2} --workers 0 --no-progress --batch-size 2 --steps 2"
    )
    assert run_cli(f"{base} --target rgb --out {tmp_path / 'rgb'}") == 0
    meta = read_meta(resolve_checkpoint(tmp_path / "rgb"))
    assert meta.config.preprocess.target == "rgb" and meta.config.model.upsample == "resize"
    capsys.readouterr()
    assert run_cli(f"{base} --target lab --out {tmp_path / 'lab'}") != 0
    one_line_error(capsys, "--target cannot change with --init-from")
