"""Configuration: YAML, flags over YAML, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from sarcolor.cli.commands import build_config
from sarcolor.cli.main import build_parser
from sarcolor.config import Config
from sarcolor.errors import SarcolorError


def parse(*argv: str):
    return build_parser().parse_args(["train", "--out", "r", *argv])


def test_flags_override_yaml(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "model: {ngf: 32}\n"
        "train: {steps: 50, batch_size: 4, lr: 0.001}\n"
        "preprocess: {input: optical-l, target: ab}\n"
    )
    cfg = build_config(
        parse("--config", str(path), "--batch-size", "2", "--terrain", "agri", "--terrain", "urban")
    )
    assert cfg.model.ngf == 32 and cfg.train.steps == 50 and cfg.train.lr == 0.001
    assert cfg.train.batch_size == 2
    assert cfg.data.terrains == ["agri", "urban"]
    assert (cfg.preprocess.input, cfg.preprocess.target) == ("optical-l", "ab")
    assert build_config(parse("--config", str(path), "--epochs", "3")).train.steps is None  # flags win


def test_yaml_round_trip():
    cfg = Config().replace(model={"ngf": 16}, data={"terrains": ["agri"]}, train={"steps": 7})
    assert Config.from_dict(Config.from_dict(cfg.to_dict()).to_dict()) == cfg


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("model: {ngff: 3}\n", "unknown key"),
        ("train: {batch_size: two}\n", "must be a number"),
        ("preprocess: {input: radar}\n", "must be one of sar, optical-l"),
        ("train: {steps: 1.5}\n", "must be an integer"),
        ("- a\n- b\n", "expected a mapping"),
        ("model: {ngf: [\n", "not a readable YAML"),
    ],
)
def test_bad_yaml_is_one_clear_line(tmp_path: Path, yaml_text: str, message: str):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(SarcolorError, match=message) as info:
        Config.from_yaml(path)
    assert str(path) in str(info.value)


def test_validation():
    cfg = Config().replace(data={"val_fraction": 0.5, "test_fraction": 0.5})
    with pytest.raises(SarcolorError, match="leave a train split"):
        cfg.validate()
    cfg = Config().replace(train={"steps": 3, "epochs": 3})
    with pytest.raises(SarcolorError, match="either --steps or --epochs"):
        cfg.validate()


def test_yaml_aliases_and_huge_files_are_refused_before_parsing(tmp_path: Path):
    bomb = tmp_path / "bomb.yaml"  # nine nested levels of aliases: billions of strings if expanded
    levels = ["    - &a0 [" + ", ".join(["x"] * 9) + "]"]
    levels += [f"    - &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb.write_text("data:\n  terrains:\n" + "\n".join(levels) + "\n")
    assert bomb.stat().st_size < 600
    with pytest.raises(SarcolorError, match="anchors and aliases are not accepted") as info:
        Config.from_yaml(bomb)
    assert str(bomb) in str(info.value)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2 << 20))
    with pytest.raises(SarcolorError, match="larger than"):
        Config.from_yaml(big)
