"""Checkpoints from elsewhere: pickles refused unread, truncated or mismatched files named in one line."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from conftest import assert_clean_exit, one_line_error, run_cli, run_cli_cases, untrained_checkpoint
from sarcolor.checkpoint import resolve_checkpoint


class Payload:
    """Unpickling this runs a shell command: the classic malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_checkpoints_are_refused_and_never_run(tiny_run: Path, tmp_path: Path, capsys):
    import torch

    marker = tmp_path / "PWNED"
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(image)
    plain = tmp_path / "evil.safetensors"
    plain.write_bytes(pickle.dumps(Payload(marker)))
    zipped = tmp_path / "evil.pt"
    torch.save({"G": Payload(marker)}, zipped)
    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    shutil.copy(plain, run / "step_0000009.safetensors")
    for ckpt in (plain, zipped, run.parent):
        assert run_cli(f"colorize {image} --checkpoint {ckpt} --out {tmp_path / 'o'}") == 2
        one_line_error(capsys, "sarcolor loads only safetensors checkpoints")
    assert run_cli(f"evaluate --checkpoint {zipped}") == 2
    assert run_cli(f"train --out {run.parent} --resume --no-progress") == 2
    capsys.readouterr()
    assert pickle.loads(plain.read_bytes()) == 0 and marker.exists()  # the payload is real…
    marker.unlink()
    for ckpt in (plain, zipped):
        run_cli(f"colorize {image} --checkpoint {ckpt} --out {tmp_path / 'o'}")
    assert not marker.exists()  # …and sarcolor never ran it


def test_truncated_and_mismatched_checkpoints(tiny_run: Path, tmp_path: Path, capsys):
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(image)
    real = resolve_checkpoint(tiny_run)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(real.read_bytes()[: real.stat().st_size // 2])
    assert run_cli(f"colorize {image} --checkpoint {cut} --out {tmp_path / 'o'}") == 2
    one_line_error(capsys, f"{cut}: not a sarcolor safetensors checkpoint, or truncated")
    with safe_open(str(real), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not iterable)
        meta = f.metadata()
    config = json.loads(meta["config"])
    config["model"]["ngf"] = 16  # the weights are ngf 8
    wrong = tmp_path / "wrong.safetensors"
    save_file(tensors, str(wrong), metadata={**meta, "config": json.dumps(config)})
    assert run_cli(f"colorize {image} --checkpoint {wrong} --out {tmp_path / 'o'}") == 2
    one_line_error(capsys, f"{wrong}: G weights do not fit the model")
    config["model"]["ngf"] = "eight"
    save_file(tensors, str(wrong), metadata={**meta, "config": json.dumps(config)})
    assert run_cli(f"colorize {image} --checkpoint {wrong} --out {tmp_path / 'o'}") == 2
    one_line_error(capsys, "model.ngf must be a number")


def test_a_safetensors_file_whose_first_byte_looks_like_pickle_still_loads(tmp_path: Path):
    """The header length is little-endian: its first byte can be 0x80, the pickle opcode."""
    import torch

    from sarcolor.checkpoint import open_checkpoint

    for pad in range(300):
        path = tmp_path / "c.safetensors"
        save_file({"x": torch.zeros(1)}, str(path), metadata={"pad": "p" * pad})
        if path.read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no header length with a 0x80 first byte was produced")
    with open_checkpoint(path) as f:
        assert f.metadata()["pad"] == "p" * pad


def _rewrite(src: Path, dst: Path, *, tensors=None, config=None, **metadata: str) -> Path:
    """A copy of a checkpoint with some tensors, config fields or metadata entries replaced."""
    with safe_open(str(src), "pt") as f:
        meta = {**f.metadata(), **metadata}
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not iterable)
    state.update(tensors(state) if tensors else {})
    if config:
        values = json.loads(meta["config"])
        for section, fields in config.items():
            values[section].update(fields)
        meta["config"] = json.dumps(values)
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(dst), metadata=meta)
    return dst


def test_a_small_file_claiming_a_huge_model_is_refused_from_its_header(tmp_path: Path):
    """Defect 3: a ngf-8 file whose config says ngf 512 once built a 6 GB model before failing."""
    small = untrained_checkpoint(tmp_path / "small.safetensors", ngf=8)
    huge = _rewrite(
        small, tmp_path / "run" / "checkpoints" / "step_0000000.safetensors", config={"model": {"ngf": 512}}
    )
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(image)
    results = run_cli_cases(
        [
            ["colorize", image, "--checkpoint", huge, "--out", tmp_path / "o", "--no-progress"],
            ["train", "--out", tmp_path / "run", "--resume", "--steps", "9", "--no-progress"],
        ]
    )
    for result in results:
        assert_clean_exit(result, codes=(2,))
        assert (
            f"{huge}: G weights do not fit the model: tensor G.down.0.0.weight is [8, 1, 4, 4]"
            in result["err"]
        )
        assert "model.ngf 512" in result["err"]
    assert results[-1]["rss"] < 600e6, results[-1]["rss"]  # measured ≈ 300 MB (the ngf-512 model: 6 GB)


def test_non_finite_weights_and_outputs_are_refused_and_nothing_is_written(tmp_path: Path, capsys):
    """Defect 6: NaN weights once colorized to an all-black image with exit status 0."""
    import torch

    good = untrained_checkpoint(tmp_path / "good.safetensors")
    image = tmp_path / "x.png"
    Image.fromarray(np.full((300, 280), 90, np.uint8)).save(image)
    nan = _rewrite(
        good, tmp_path / "nan.safetensors", tensors=lambda s: {"G.last.weight": s["G.last.weight"] * np.nan}
    )
    assert run_cli(f"colorize {image} --checkpoint {nan} --out {tmp_path / 'o1'}") == 2
    one_line_error(capsys, f"{nan}: tensor G.last.weight holds NaN or infinite values")
    assert not (tmp_path / "o1" / "x.png").exists()
    var = "G.down.1.1.running_var"  # a BatchNorm variance below 0: NaN once folded into its convolution
    negative = _rewrite(good, tmp_path / "var.safetensors", tensors=lambda s: {var: -torch.ones_like(s[var])})
    assert run_cli(f"colorize {image} --checkpoint {negative} --out {tmp_path / 'o1'}") == 2
    one_line_error(capsys, f"{negative}: tensor {var} holds negative variances")
    # finite weights whose output is not: a first layer that overflows to ±inf, which the next
    # layer's weights of both signs turn into NaN
    first = "G.down.0.0.weight"
    overflow = _rewrite(
        good, tmp_path / "inf.safetensors", tensors=lambda s: {first: torch.full_like(s[first], 3e38)}
    )
    for mode in ("", "--train-mode"):  # the folded inference form and the plain network alike
        assert (
            run_cli(f"colorize {image} --checkpoint {overflow} --out {tmp_path / 'o2'} {mode}".strip()) == 2
        )
        one_line_error(
            capsys, f"{overflow}: the generator's output is NaN or infinite (100% of it); nothing written"
        )
        assert not (tmp_path / "o2" / "x.png").exists()


def test_checkpoint_tensors_are_checked_by_name_shape_and_kind(tmp_path: Path, capsys):
    import torch

    good = untrained_checkpoint(tmp_path / "good.safetensors")
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(image)
    cases = {
        "no tensor G.last.bias": lambda s: {k: v for k, v in s.items() if k != "G.last.bias"},
        "tensor G.extra is not part of the model": lambda s: {**s, "G.extra": torch.zeros(2)},
        "tensor G.last.weight is of type I32, not a float": lambda s: {
            **s,
            "G.last.weight": s["G.last.weight"].to(torch.int32),
        },
    }
    for needle, change in cases.items():
        with safe_open(str(good), "pt") as f:
            meta, state = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        bad = tmp_path / "bad.safetensors"
        save_file(change(state), str(bad), metadata=meta)
        assert run_cli(f"colorize {image} --checkpoint {bad} --out {tmp_path / 'o'}") == 2
        one_line_error(capsys, f"{bad}: G weights do not fit the model: {needle}")
