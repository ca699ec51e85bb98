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

from conftest import one_line_error, run_cli
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

    from sarcolor.checkpoint import _open

    for pad in range(300):
        path = tmp_path / "c.safetensors"
        save_file({"x": torch.zeros(1)}, str(path), metadata={"pad": "p" * pad})
        if path.read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no header length with a 0x80 first byte was produced")
    with _open(path) as f:
        assert f.metadata()["pad"] == "p" * pad
