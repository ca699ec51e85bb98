"""``sarcolor import`` as a library: files the sources save become checkpoints sarcolor runs as they do.

Each source's generator is built independently (tests/foreign_support.py), filled with random
weights, saved with ``torch.save`` as its training code saves it, imported, and colorized through
:class:`~sarcolor.inference.colorizer.Colorizer` (its CPU fast path: BatchNorm folded, weights
packed) on real SEN1-2 patches; the result must equal the source graph's output.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from torch import nn

from foreign_support import (
    RefSar2OpticalGenerator,
    RefUnetGenerator,
    randomise,
    sar_unit,
    sen12_patches,
    source_uint8,
)
from sarcolor.app.schemas import ModelOut
from sarcolor.checkpoint import read_meta
from sarcolor.config import Config
from sarcolor.data.io import read_image, to_uint8
from sarcolor.data.preprocess import encode_input
from sarcolor.errors import SarcolorError
from sarcolor.importer import ImportOptions, import_generator
from sarcolor.inference.colorizer import Colorizer
from sarcolor.inference.modelset import load_registry
from sarcolor.models.foreign_nets import ImageStatsBatchNorm2d

FIXTURES = Path(__file__).parent / "fixtures"


def saved(tmp_path: Path, net: nn.Module, name: str) -> Path:
    path = tmp_path / name
    torch.save(net.state_dict(), path)  # as both sources save their generators
    return path


def colorized(checkpoint: Path, root: Path, expected: torch.Tensor) -> np.ndarray:
    """sarcolor's 8-bit output of the real patches, after checking its raw outputs (fp32) against
    ``expected``: the generator as loaded to 1e-5, the fast path (packed oneDNN convolutions,
    whose summation order differs) to 1e-4."""
    colorizer = Colorizer(checkpoint, "cpu", precision="fp32")
    images = [read_image(f) for f in sorted(root.glob("*/s1/*.png"))]
    rgb = np.stack([to_uint8(x) for x in colorizer.colorize_many(images)])
    with torch.inference_mode():
        net_in = encode_input(sar_unit(root), colorizer.config.preprocess)
        loaded, fast = colorizer.generator.eval()(net_in), colorizer.model(net_in)
    assert torch.allclose(loaded, expected, rtol=0, atol=1e-5), (loaded - expected).abs().max()
    assert torch.allclose(fast, expected, rtol=0, atol=1e-4), (fast - expected).abs().max()
    return rgb


@pytest.mark.parametrize(
    ("norm", "input_nc", "output_nc", "num_downs"),
    [("batch", 3, 3, 8), ("instance", 1, 3, 8), ("batch", 1, 1, 7)],
)
def test_imported_pix2pix_colorizes_like_its_source(
    real_sen12, tmp_path, norm, input_nc, output_nc, num_downs
):
    ref = randomise(RefUnetGenerator(input_nc, output_nc, num_downs, ngf=8, norm=norm, use_dropout=True), 7)
    result = import_generator("pix2pix", saved(tmp_path, ref, "latest_net_G.pth"), tmp_path / "m.safetensors")
    assert result.arch.label.startswith(f"pix2pix unet_{2**num_downs} ({norm} norm, ngf 8")
    with torch.no_grad():
        expected = ref(sen12_patches(real_sen12, input_nc))
    assert expected.std() > 0.1
    if output_nc == 1:
        expected = expected.expand(-1, 3, -1, -1)
    rgb = colorized(result.path, real_sen12, expected)
    diff = np.abs(rgb.astype(int) - source_uint8(expected).astype(int))
    assert diff.max() <= 1 and rgb.std() > 10


def test_image_statistics_reproduce_test_py_without_eval_through_the_fast_path(real_sen12, tmp_path):
    """``--norm-stats image``: the canonical test.py's default (BatchNorm in training mode,
    batch size 1), dropout left out; BatchNorm folding must leave these layers alone."""
    ref = randomise(RefUnetGenerator(3, 3, 8, ngf=8, norm="batch", use_dropout=True), 8)
    path = saved(tmp_path, ref, "200_net_G.pth")
    result = import_generator("pix2pix", path, tmp_path / "m.safetensors", ImportOptions(norm_stats="image"))
    colorizer = Colorizer(result.path, "cpu", precision="fp32")
    assert any(isinstance(m, ImageStatsBatchNorm2d) for m in colorizer.model.modules())  # not folded
    x = sen12_patches(real_sen12, 3)
    with torch.no_grad():
        running = ref(x)
        ref.train()
        for m in ref.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
        expected = torch.cat([ref(x[i : i + 1]) for i in range(len(x))])
    assert (expected - running).abs().max() > 0.05  # the two statistics differ on these weights
    rgb = colorized(result.path, real_sen12, expected)
    assert np.abs(rgb.astype(int) - source_uint8(expected).astype(int)).max() <= 1
    assert read_meta(result.path).imported["epoch"] == 200


def test_the_checkpoint_holds_the_generator_and_its_conventions_only(tmp_path):
    ref = randomise(RefSar2OpticalGenerator(3, 3), 9)
    pth = saved(tmp_path, ref, "pix2pix_gen_180.pth")
    out = tmp_path / "sar2optical.safetensors"
    result = import_generator("sar2optical", pth, out, preprocess={"db_ranges": [[-30.0, 5.0]]})
    with safe_open(str(out), "pt") as f:
        keys = list(f.keys())
    assert {k.split(".")[0] for k in keys} == {"G", "rng"}  # no D, no optim
    assert len([k for k in keys if k.startswith("G.net.")]) == len(ref.state_dict())
    meta = read_meta(out)
    model, pre = meta.config.model, meta.config.preprocess
    assert (model.arch, model.foreign["in_channels"], model.foreign["norm_stats"]) == (
        "sar2optical_unet",
        3,
        "running",
    )
    assert (pre.input, pre.target, pre.bands, pre.sar_scale, pre.ranges) == (
        "sar",
        "rgb",
        ["VV"],
        "uint8",
        [(-30.0, 5.0)],
    )
    assert not any(meta.split.values()) and meta.baselines == {} and meta.step == 0
    info = meta.imported
    assert (
        info["from"] == "sar2optical" and info["repository"] == "yuuIind/SAR2Optical" and info["epoch"] == 180
    )
    assert info["sha256"] == hashlib.sha256(pth.read_bytes()).hexdigest()
    assert Config.from_dict(json.loads(meta.config.to_json())).validate() == meta.config  # round trip
    assert result.parameters == sum(p.numel() for p in ref.parameters())
    lines = result.lines()
    label = "SAR2Optical U-Net (batch norm, 3 → 3 channels)"
    assert lines[0] == f"found: a {label} from yuuIind/SAR2Optical, 54.5 M parameters"
    assert "VV -30…5 dB" in lines[1] and "on 3 channel(s)" in lines[1]
    # the app's registry lists it with its architecture and origin
    info = load_registry([out]).models[0]
    assert (info.arch, info.imported_from, info.step) == (
        "SAR2Optical U-Net (batch norm, 3 → 3 channels)",
        "sar2optical",
        0,
    )
    assert ModelOut(**info.to_dict()).arch == info.arch


def test_refusals_are_one_line_and_write_nothing(tmp_path):
    pix = saved(tmp_path, randomise(RefUnetGenerator(3, 3, 8, ngf=8), 1), "latest_net_G.pth")
    out = tmp_path / "m.safetensors"
    sar = saved(tmp_path, RefSar2OpticalGenerator(3, 3), "pix2pix_gen_5.pth")
    cases = [
        (("pix2pix", pix, tmp_path / "m.pt"), {}, "m.pt: the checkpoint is written as .safetensors"),
        (("sar2optical", sar, out), {"options": ImportOptions(dropout=False)}, "decoder always has dropout"),
        (
            ("sar2optical", sar, out),
            {"options": ImportOptions(upsampling="bilinear")},
            "transposed convolutions",
        ),
        (
            ("pix2pix", FIXTURES / "v0_ngf2_step150.safetensors", out),
            {},
            "not a .pth file (a safetensors file)",
        ),
        (("sar2optical", pix, out), {}, "not a sar2optical generator (use --from pix2pix)"),
        (("pix2pix", pix, out), {"options": ImportOptions(input_channels=1)}, "takes 3 input channel(s)"),
        (("pix2pix", pix, out), {"options": ImportOptions(norm="instance")}, "not of --norm instance"),
        (("pix2pix", pix, out), {"options": ImportOptions(upsampling="bilinear")}, "--upsampling applies to"),
        (("pix2pix", pix, out), {"preprocess": {"bands": ["VV", "VH"]}}, "2 --band given for a model of 3"),
    ]
    for args, kwargs, needle in cases:
        with pytest.raises(SarcolorError) as info:
            import_generator(*args, **kwargs)
        assert needle in str(info.value) and "\n" not in str(info.value), str(info.value)
    assert not out.exists() and not (tmp_path / "m.pt").exists()
    deep = saved(tmp_path, RefUnetGenerator(1, 3, 9, ngf=4), "unet_512.pth")
    with pytest.raises(
        SarcolorError, match="needs images in multiples of 512 pixels; sarcolor colorizes 256×256"
    ):
        import_generator("pix2pix", deep, out)
    two = saved(tmp_path, RefUnetGenerator(1, 2, 8, ngf=4), "two.pth")
    with pytest.raises(SarcolorError, match="outputs 2 channels; sarcolor colorizes into RGB"):
        import_generator("pix2pix", two, out)
    import_generator("pix2pix", pix, out)
    with pytest.raises(SarcolorError, match="already exists"):
        import_generator("pix2pix", pix, out)
    import_generator("pix2pix", pix, out, overwrite=True)


def test_the_architecture_fields_are_checked_and_old_checkpoints_keep_theirs(tmp_path):
    old = read_meta(FIXTURES / "v0_ngf2_step150.safetensors").config
    assert (old.model.arch, old.model.foreign, old.model.imported) == ("sarcolor_unet", {}, False)
    foreign = {"name": "pix2pix_unet", "in_channels": 3, "out_channels": 3}
    with pytest.raises(SarcolorError, match=r"model\.foreign describes imported generators only"):
        Config().replace(model={"foreign": foreign}).validate("x")
    with pytest.raises(
        SarcolorError, match=r"model\.arch sar2optical_unet but model\.foreign describes a pix2pix_unet"
    ):
        Config().replace(model={"arch": "sar2optical_unet", "foreign": foreign}).validate("x")
    with pytest.raises(SarcolorError, match=r"x: model\.foreign: .*in_channels"):
        Config().replace(model={"arch": "pix2pix_unet", "foreign": {"name": "pix2pix_unet"}}).validate("x")
    with pytest.raises(SarcolorError, match=r"model\.foreign: norm must be one of"):
        Config().replace(model={"arch": "pix2pix_unet", "foreign": {**foreign, "norm": "group"}}).validate(
            "x"
        )
    assert Config().replace(model={"arch": "pix2pix_unet", "foreign": foreign}).validate().model.imported


def test_sar2optical_upsampling_mode_is_the_users_statement(tmp_path):
    """``use_upsampling: true`` leaves no trace of its ``mode`` in the weights: nearest unless stated."""
    pth = saved(tmp_path, RefSar2OpticalGenerator(3, 3, use_upsampling=True), "pix2pix_gen_20.pth")
    default = import_generator("sar2optical", pth, tmp_path / "a.safetensors")
    stated = import_generator(
        "sar2optical", pth, tmp_path / "b.safetensors", ImportOptions(upsampling="bilinear")
    )
    assert default.arch.upsampling == "nearest" and stated.arch.upsampling == "bilinear"
    assert read_meta(stated.path).config.model.foreign["upsampling"] == "bilinear"
    assert "bilinear upsampling" in stated.lines()[0]
