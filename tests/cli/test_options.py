"""Each option is declared once, on its dataclass field: flags, help and resume rules follow."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from sarcolor.app.options import ServeOptions
from sarcolor.cli.main import build_parser
from sarcolor.config import DEFAULT_EPOCHS, SECTIONS, Config, with_overrides
from sarcolor.config.terrain import ClassifierOptions
from sarcolor.errors import SarcolorError
from sarcolor.importer import ImportOptions
from sarcolor.inference.onnx_export import ExportOptions
from sarcolor.inference.options import InferenceOptions, OutputOptions, SceneOptions
from sarcolor.options import default_of, option_of
from sarcolor.terrain.options import TerrainOptions


def subparser(name: str):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name]


def section_classes() -> dict[str, type]:
    return {name: type(getattr(Config(), name)) for name in SECTIONS}


def shown(value: Any) -> str:
    """How a default should read, worked out here independently of the CLI code."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


# Fields that only `sarcolor import` writes (what generator a checkpoint holds): a flag on `train`
# would let a run claim an architecture its weights are not. They are declared cli=False.
WRITTEN_BY_IMPORT = {"model.arch", "model.foreign"}


def test_every_config_field_has_exactly_one_flag():
    train = subparser("train")
    dests = [a.dest for a in train._actions]
    flags = [s for a in train._actions for s in a.option_strings]
    assert len(flags) == len(set(flags)), "a flag is declared twice"
    without_flag = set()
    for section, cls in section_classes().items():
        for f in dataclasses.fields(cls):
            spec = option_of(f)
            assert spec is not None, f"{section}.{f.name} has no option declaration"
            expected = 1 if spec.cli else 0
            assert dests.count(f"{section}.{f.name}") == expected, f"{section}.{f.name}"
            if not spec.cli:
                without_flag.add(f"{section}.{f.name}")
    assert without_flag == WRITTEN_BY_IMPORT


@pytest.mark.parametrize(
    ("command", "classes"),
    [
        ("train", [(f"{s}.", c) for s, c in section_classes().items()]),
        ("colorize", [("infer.", InferenceOptions), ("output.", OutputOptions), ("scene.", SceneOptions)]),
        ("export", [("export.", ExportOptions)]),
        ("import", [("import.", ImportOptions)]),
        ("colorize", [("terrain.", TerrainOptions)]),
        ("serve", [("serve.", ServeOptions)]),
        ("train-terrain", [("classifier.", ClassifierOptions)]),
    ],
)
def test_every_help_names_the_default_the_code_uses(command: str, classes):
    actions = {a.dest: a for a in subparser(command)._actions}
    for prefix, cls in classes:
        for f in dataclasses.fields(cls):
            spec, default = option_of(f), default_of(f)
            if not spec.cli:
                assert prefix + f.name in WRITTEN_BY_IMPORT and prefix + f.name not in actions
                continue
            action = actions[prefix + f.name]
            if default is True:  # a --no-… flag
                assert action.help.endswith(f"(default: {f.name} on)"), action.help
            elif spec.default_text is not None:
                assert action.help.endswith(f"(default {spec.default_text})"), action.help
            else:
                assert default is not None, f"{f.name}: a None default needs words for --help"
                assert action.help.endswith(f"(default {shown(default)})"), action.help
            if command in (
                "colorize",
                "export",
                "serve",
                "import",
            ):  # these flags carry the real default, not "not given"
                assert action.default in (default, None)


def test_budget_default_reads_from_the_code():
    actions = {a.dest: a for a in subparser("train")._actions}
    assert f"(default {DEFAULT_EPOCHS} epochs)" in actions["train.steps"].help


def test_precision_help_agrees_with_the_choice_made(monkeypatch: pytest.MonkeyPatch):
    import torch

    from sarcolor.runtime import resolve_precision

    for command, dest in (("train", "train.precision"), ("colorize", "infer.precision")):
        text = {a.dest: a for a in subparser(command)._actions}[dest].help
        assert "CPUs with bf16 instructions" in text and "fp32 on other CPUs" in text
    monkeypatch.setenv("SARCOLOR_CPU_BF16", "1")
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"
    monkeypatch.setenv("SARCOLOR_CPU_BF16", "0")
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"


def test_what_may_change_on_resume_is_declared_on_the_fields():
    cfg = Config()
    for section, cls in section_classes().items():
        for f in dataclasses.fields(cls):
            value = default_of(f)
            change = {section: {f.name: value}}
            if option_of(f).resumable:
                with_overrides(cfg, change, resuming=True)
            else:
                with pytest.raises(SarcolorError, match="cannot change when resuming"):
                    with_overrides(cfg, change, resuming=True)
    resumed = with_overrides(cfg.replace(train={"epochs": 3}), {"train": {"steps": 9}}, resuming=True)
    assert (resumed.train.steps, resumed.train.epochs) == (9, None)  # a new budget replaces the old


def test_configs_are_frozen():
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.steps = 5  # type: ignore[misc]
    assert cfg.replace(train={"steps": 5}).train.steps == 5 and cfg.train.steps is None


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--ngf", "inf", "model.ngf"),  # parsed as an int: argparse refuses
        ("--lr", "nan", "train.lr must be a finite number"),
        ("--calibration", "-1", "preprocess.calibration must be > 0"),
        ("--val-fraction", "1.5", "data.val_fraction must be in [0, 1)"),
    ],
)
def test_bad_values_are_refused_in_one_line(flag: str, value: str, message: str, tmp_path, capsys):
    from sarcolor.cli.main import main

    try:
        code = main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), flag, value])
    except SystemExit as exc:  # argparse's own refusal of a malformed number
        code = exc.code
        assert flag in capsys.readouterr().err
    else:
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert code == 2
