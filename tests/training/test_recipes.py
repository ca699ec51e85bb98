"""The issue-13 options in a run: recipes under YAML and flags, the configuration round trip,
old configurations, a step with every option, and exact resume with them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from conftest import tiny_config
from sarcolor.checkpoint import read_meta
from sarcolor.cli.commands import build_config
from sarcolor.cli.main import build_parser
from sarcolor.config import Config
from sarcolor.errors import SarcolorError
from sarcolor.training.pix2pix import Pix2Pix
from sarcolor.training.recipes import RECIPES, apply_recipe
from sarcolor.training.trainer import train

quiet = {"progress": False, "echo": lambda _: None}
NEW = {
    "model": {"upsample": "resize", "d_scales": 2, "spectral_norm": True},
    "train": {"gan_loss": "lsgan", "lambda_fm": 10.0, "d_augment": "translation,cutout,color", "lr_d": 1e-4},
}


def parse(*argv: str):
    return build_parser().parse_args(["train", "--out", "r", *argv])


def test_the_default_recipe_is_the_founding_description():
    founding = build_config(parse())
    assert founding == build_config(parse("--recipe", "pix2pix")) == Config().validate()
    m, t = founding.model, founding.train
    assert (m.upsample, m.upsample_init, m.d_scales, m.spectral_norm) == ("transpose", "normal", 1, False)
    assert (t.recipe, t.gan_loss, t.lambda_fm, t.d_augment, t.lr_d) == ("pix2pix", "bce", 0.0, "", None)
    assert (t.lr, t.beta1, t.lambda_l1) == (2e-4, 0.5, 100.0)
    assert RECIPES["pix2pix"].keys() == RECIPES["pix2pixhd"].keys()
    for section, values in RECIPES["pix2pix"].items():  # the founding preset is the defaults, named
        assert values.keys() == RECIPES["pix2pixhd"][section].keys()
        assert all(getattr(getattr(Config(), section), k) == v for k, v in values.items())


def test_a_recipe_sets_only_what_the_user_did_not_give(tmp_path: Path):
    hd = build_config(parse("--recipe", "pix2pixhd"))
    preset = RECIPES["pix2pixhd"]
    assert hd.train.recipe == "pix2pixhd"
    for section, values in preset.items():
        for name, value in values.items():
            assert getattr(getattr(hd, section), name) == value, name
    path = tmp_path / "c.yaml"
    path.write_text("train: {recipe: pix2pixhd, gan_loss: hinge}\nmodel: {ngf: 16, upsample: transpose}\n")
    cfg = build_config(parse("--config", str(path), "--d-scales", "2"))
    assert cfg.train.recipe == "pix2pixhd" and cfg.train.gan_loss == "hinge"  # the YAML over the preset
    assert cfg.model.upsample == "transpose" and cfg.model.ngf == 16
    assert cfg.model.d_scales == 2  # a flag over the preset
    assert cfg.train.lambda_fm == preset["train"]["lambda_fm"]  # the rest of the preset stays
    back = build_config(parse("--config", str(path), "--recipe", "pix2pix"))  # a flag over the YAML
    assert back.train.recipe == "pix2pix" and back.model.d_scales == 1 and back.train.gan_loss == "hinge"
    flags = build_config(
        parse("--gan-loss", "lsgan", "--lambda-fm", "5", "--d-augment", "translation", "--lr-d", "1e-4",
              "--spectral-norm", "--upsample-init", "bilinear")
    )  # fmt: skip
    t = flags.train
    assert (t.gan_loss, t.lambda_fm, t.d_augment, t.lr_d) == ("lsgan", 5.0, "translation", 1e-4)
    assert flags.model.spectral_norm and flags.model.upsample_init == "bilinear"
    assert apply_recipe(hd, given={("model", "d_scales")}) == hd  # applying twice changes nothing


def test_new_options_round_trip_validate_and_old_configs_read_as_founding(tmp_path: Path):
    cfg = Config().replace(**NEW).validate()
    assert Config.from_dict(Config.from_dict(cfg.to_dict()).to_dict()) == cfg
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert Config.from_yaml(path) == cfg
    old = Config().to_dict()
    for section, values in NEW.items():
        for name in values:
            del old[section][name]
    del old["train"]["recipe"]
    assert Config.from_dict(old) == Config()  # a configuration written before these options
    for section, name, value, message in [
        ("model", "d_scales", 4, r"model\.d_scales must be in \[1, 3\]"),
        ("model", "upsample", "pixelshuffle", "model.upsample must be one of"),
        ("train", "gan_loss", "wgan", "train.gan_loss must be one of"),
        ("train", "recipe", "cyclegan", "train.recipe must be one of"),
        ("train", "d_augment", "rotate", "train.d_augment: augmentation policy"),
        ("train", "lr_d", 0.0, "train.lr_d must be > 0"),
        ("train", "lambda_fm", -1.0, "train.lambda_fm must be >= 0"),
    ]:
        with pytest.raises(SarcolorError, match=message):
            Config().replace(**{section: {name: value}}).validate()


def test_a_step_with_every_option_updates_both_networks(synthetic_v2: Path):
    model = Pix2Pix(tiny_config(synthetic_v2).replace(**NEW).validate(), 10, torch.device("cpu"))
    assert model.opt_D.param_groups[0]["lr"] == 1e-4 and model.opt_G.param_groups[0]["lr"] == 2e-4
    g0 = [p.detach().clone() for p in model.G.parameters()]
    d0 = [p.detach().clone() for p in model.D.parameters()]
    x, y = torch.rand(2, 1, 256, 256) * 2 - 1, torch.rand(2, 3, 256, 256) * 2 - 1
    losses = model.train_step(x, y, 0)
    assert {"D_real", "D_fake", "D", "G_GAN", "G_L1", "G_FM", "G"} <= set(losses)
    assert losses["G"] == pytest.approx(
        losses["G_GAN"] + 100 * losses["G_L1"] + 10 * losses["G_FM"], rel=1e-5
    )
    assert all(math.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.G.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.D.parameters(), strict=True))


def test_resume_with_the_new_options_continues_exactly(synthetic_v2: Path, tmp_path: Path):
    def config(steps: int) -> Config:
        return tiny_config(synthetic_v2, steps=steps, checkpoint_every=2).replace(**NEW).validate()

    straight = train(config(4), tmp_path / "straight", **quiet)
    train(config(2), tmp_path / "resumed", **quiet)
    resumed = train(config(4), tmp_path / "resumed", resume=True, **quiet)
    meta = read_meta(resumed.checkpoint)
    assert meta.config.model.d_scales == 2 and meta.config.train.d_augment == "translation,cutout,color"
    with safe_open(str(straight.checkpoint), "pt") as a, safe_open(str(resumed.checkpoint), "pt") as b:
        keys = sorted(k for k in list(a.keys()) if k.startswith(("G.", "D.", "optim.")))
        assert keys == sorted(k for k in list(b.keys()) if k.startswith(("G.", "D.", "optim.")))
        assert any(".parametrizations." in k for k in keys) and any(k.startswith("D.scales.1.") for k in keys)
        for key in keys:
            assert torch.equal(a.get_tensor(key), b.get_tensor(key)), key


def test_the_recipe_cannot_change_on_resume(synthetic_v2: Path, tmp_path: Path):
    from sarcolor.cli.commands import train as train_command

    run = tmp_path / "run"
    train(tiny_config(synthetic_v2, steps=2), run, **quiet)
    for flag in (["--recipe", "pix2pixhd"], ["--d-scales", "2"], ["--upsample", "resize"]):
        with pytest.raises(SarcolorError, match="cannot change when resuming"):
            train_command(build_parser().parse_args(["train", "--out", str(run), "--resume", *flag]))
