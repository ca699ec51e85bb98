"""Failure modes: unsafe checkpoints, signals, killed writers, non-finite losses, bad files,
output checks. Every case runs on real files and real processes."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rasterio.transform import Affine
from safetensors import safe_open
from safetensors.torch import save_file

from conftest import write_geotiff
from sarcolor.checkpoint import resolve_checkpoint
from sarcolor.cli.main import main
from sarcolor.data.dataset import PairDataset
from sarcolor.data.io import read_image
from sarcolor.data.sources import discover_pairs
from sarcolor.data.split import select_split, split_scenes
from sarcolor.errors import SarcolorError

TINY = "--ngf 4 --ndf 4 --batch-size 2 --workers 0 --no-progress"


def cli(line: str) -> int:
    return main(line.split())


class Payload:
    """Unpickling this runs a shell command: the classic malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def one_line_error(capsys, needle: str) -> str:
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# ── checkpoints ──────────────────────────────────────────────────────────────────────────────


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
        assert cli(f"colorize {image} --checkpoint {ckpt} --out {tmp_path / 'o'}") == 2
        one_line_error(capsys, "sarcolor loads only safetensors checkpoints")
    assert cli(f"evaluate --checkpoint {zipped}") == 2
    assert cli(f"train --out {run.parent} --resume --no-progress") == 2
    capsys.readouterr()
    assert pickle.loads(plain.read_bytes()) == 0 and marker.exists()  # the payload is real…
    marker.unlink()
    for ckpt in (plain, zipped):
        cli(f"colorize {image} --checkpoint {ckpt} --out {tmp_path / 'o'}")
    assert not marker.exists()  # …and sarcolor never ran it


def test_truncated_and_mismatched_checkpoints(tiny_run: Path, tmp_path: Path, capsys):
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(image)
    real = resolve_checkpoint(tiny_run)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(real.read_bytes()[: real.stat().st_size // 2])
    assert cli(f"colorize {image} --checkpoint {cut} --out {tmp_path / 'o'}") == 2
    one_line_error(capsys, f"{cut}: not a sarcolor safetensors checkpoint, or truncated")
    with safe_open(str(real), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not iterable)
        meta = f.metadata()
    config = json.loads(meta["config"])
    config["model"]["ngf"] = 16  # the weights are ngf 8
    wrong = tmp_path / "wrong.safetensors"
    save_file(tensors, str(wrong), metadata={**meta, "config": json.dumps(config)})
    assert cli(f"colorize {image} --checkpoint {wrong} --out {tmp_path / 'o'}") == 2
    one_line_error(capsys, f"{wrong}: G weights do not fit the model")
    config["model"]["ngf"] = "eight"
    save_file(tensors, str(wrong), metadata={**meta, "config": json.dumps(config)})
    assert cli(f"colorize {image} --checkpoint {wrong} --out {tmp_path / 'o'}") == 2
    one_line_error(capsys, "model.ngf must be a number")


# ── interrupted work ─────────────────────────────────────────────────────────────────────────


def _records(run: Path) -> list[dict]:
    from sarcolor.figures import read_metrics_log  # skips a line being written right now

    return read_metrics_log(run / "metrics.jsonl")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_a_checkpoint_and_resume_reproduces_the_run(
    signum, synthetic_v2: Path, tmp_path: Path, capsys
):
    run = tmp_path / "run"
    argv = [
        sys.executable,
        "-m",
        "sarcolor",
        "train",
        "--data",
        str(synthetic_v2),
        "--out",
        str(run),
        "--steps",
        "100000",
        "--log-every",
        "1",
        "--sample-every",
        "100000",
        *TINY.split(),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while len(_records(run)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signum)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    step = int(output.split("interrupted at step ")[1].split("/")[0])
    assert (run / "checkpoints" / f"step_{step:07d}.safetensors").is_file()
    assert "--resume" in output

    assert cli(f"train --out {run} --resume --steps {step + 2} --no-progress") == 0
    assert f"resuming from step {step}" in capsys.readouterr().out
    straight = tmp_path / "straight"
    assert (
        cli(
            f"train --data {synthetic_v2} --out {straight} --steps {step + 2} "
            f"--log-every 1 --sample-every 100000 {TINY}"
        )
        == 0
    )
    with (
        safe_open(str(resolve_checkpoint(run)), "pt") as a,
        safe_open(str(resolve_checkpoint(straight)), "pt") as b,
    ):
        for key in a.keys():  # noqa: SIM118 (safe_open has no __iter__)
            if key.startswith(("G.", "D.")):
                assert np.array_equal(a.get_tensor(key).numpy(), b.get_tensor(key).numpy()), key


def test_a_writer_killed_mid_write_leaves_the_previous_file(tmp_path: Path):
    target = tmp_path / "checkpoint.safetensors"
    target.write_bytes(b"previous, complete checkpoint")
    code = (
        "import sys, time\n"
        "from sarcolor.data.io import atomic_write\n"
        "def slow(tmp):\n"
        "    with open(tmp, 'wb') as fh:\n"
        "        fh.write(b'x' * 1_000_000); fh.flush(); print('writing', flush=True); time.sleep(60)\n"
        f"atomic_write({str(target)!r}, slow)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert target.read_bytes() == b"previous, complete checkpoint"
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1 and leftovers[0].name.endswith(".tmp")  # the partial never took the name


def test_stale_temp_files_are_cleared_when_training_starts(tiny_run: Path, tmp_path: Path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    stale = run / "checkpoints" / ".step_0000006.safetensors.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert cli(f"train --out {run} --resume --steps 5 --no-progress") == 0
    assert not stale.exists()


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_non_finite_losses_stop_or_are_skipped(policy: str, synthetic_v2: Path, tmp_path: Path, capsys):
    run = tmp_path / policy
    # an absurd learning rate drives the weights to ±inf after one update: every later loss is NaN
    line = f"train --data {synthetic_v2} --out {run} --steps 30 --lr 1e30 --checkpoint-every 1"
    assert cli(f"{line} --on-nonfinite {policy} {TINY}") == 2
    err = capsys.readouterr().err
    if policy == "stop":
        assert "non-finite loss" in err and "training stopped" in err and "--on-nonfinite skip" in err
    else:
        assert "non-finite" in err and "training stopped" in err
    for ckpt in (run / "checkpoints").glob("*.safetensors"):  # nothing non-finite was ever saved
        with safe_open(str(ckpt), "pt") as f:
            names = [k for k in f.keys() if k[:2] in ("G.", "D.")]  # noqa: SIM118 (not iterable)
            assert all(np.isfinite(f.get_tensor(k).float().numpy()).all() for k in names)


def test_a_non_finite_step_changes_nothing(synthetic_v2: Path):
    import torch

    from conftest import tiny_config
    from sarcolor.training.pix2pix import NonFiniteLossError, Pix2Pix

    model = Pix2Pix(tiny_config(synthetic_v2), 10, torch.device("cpu"))
    x, y = torch.rand(2, 1, 256, 256) * 2 - 1, torch.rand(2, 3, 256, 256) * 2 - 1
    model.train_step(x, y, 0)
    before = {
        f"{n}.{k}": v.clone()
        for n, net in (("G", model.G), ("D", model.D))
        for k, v in net.state_dict().items()
    }
    bad = y.clone()
    bad[0, 0, 0, 0] = float("nan")  # one NaN pixel in one target
    with pytest.raises(NonFiniteLossError, match="neither network was updated"):
        model.train_step(x, bad, 1)
    after = {
        f"{n}.{k}": v for n, net in (("G", model.G), ("D", model.D)) for k, v in net.state_dict().items()
    }
    assert all(torch.equal(before[k], after[k]) for k in before if "num_batches" not in k)
    model.train_step(x, y, 1)  # training goes on from a clean state
    model.G.eval()
    assert torch.isfinite(model.G(x)).all() and model.weights_finite()


# ── bad input ────────────────────────────────────────────────────────────────────────────────


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares width × height but holds almost no data (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_bad_and_unusual_image_files(tmp_path: Path):
    bomb = png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(SarcolorError, match="decompression-bomb guard"):
        read_image(bomb)
    fine = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(48, 64)
    all_nodata = write_geotiff(tmp_path / "nodata.tif", np.full((48, 64), -99, np.float32), nodata=-99)
    with pytest.raises(SarcolorError, match="no valid pixel"):
        read_image(all_nodata)
    with pytest.raises(SarcolorError, match="no valid pixel"):
        read_image(write_geotiff(tmp_path / "nan.tif", np.full((48, 64), np.nan, np.float32)))
    holes = fine.copy()
    holes[:5] = np.nan
    holes[6, :3] = np.inf
    out = read_image(write_geotiff(tmp_path / "holes.tif", holes))
    assert (
        out.shape == (48, 64, 1) and np.isfinite(out).all() and out[:5].max() == 0 and out[6, :3].max() == 0
    )
    np.testing.assert_allclose(out[10:, :, 0], fine[10:], atol=1e-6)
    rotated = Affine.rotation(30) @ Affine(10, 0, 500000, 0, -10, 5000000)
    for name, kwargs in (("nocrs.tif", {"crs": None}), ("rotated.tif", {"transform": rotated})):
        np.testing.assert_allclose(
            read_image(write_geotiff(tmp_path / name, fine, **kwargs))[..., 0], fine, atol=1e-6
        )
    db = write_geotiff(tmp_path / "db.tif", fine * 30 - 25)  # float dB: not an image in [0, 1]
    with pytest.raises(SarcolorError, match="outside \\[0, 1\\]"):
        read_image(db)
    cut_tif = write_geotiff(tmp_path / "cut.tif", np.ones((400, 300), np.uint16))
    cut_tif.write_bytes(cut_tif.read_bytes()[:3000])
    with pytest.raises(SarcolorError, match=r"cut\.tif: cannot read image"):
        read_image(cut_tif)
    Image.fromarray(np.zeros((8, 8), np.int32) + 70_000, mode="I").save(tmp_path / "i32.tif")
    with pytest.raises(SarcolorError, match="int32 values outside 0…65535; expected 8 or 16 bit"):
        read_image(tmp_path / "i32.tif")


def corrupt(path: Path) -> Path:
    """Truncate an image file (keeps its header, loses most of its data)."""
    data = path.read_bytes()
    path.write_bytes(data[: min(100, len(data) // 2)])
    return path


def test_bad_training_files_are_listed_at_once_or_skipped(synthetic_v2: Path, tmp_path: Path, capsys):
    data = shutil.copytree(synthetic_v2.parent, tmp_path / "d")
    pairs = discover_pairs(data).pairs
    train = select_split(pairs, split_scenes(pairs, 0.1, 0.1, 0), "train")
    bad = [corrupt(train[1].s1), corrupt(train[5].s2)]
    small = train[8]
    Image.open(small.s1).crop((0, 0, 200, 200)).save(small.s1)  # its two images now differ in size
    assert cli(f"train --data {data} --out {tmp_path / 'r1'} --steps 2 {TINY}") == 2
    out, err = capsys.readouterr()
    listed = [line for line in out.splitlines() if line.startswith("bad sample:")]
    assert len(listed) == 3 and all(any(str(b) in line for line in listed) for b in bad)
    assert any("differs from its optical pair" in line for line in listed)
    assert "3 training pair(s) cannot be read (listed above)" in err
    assert cli(f"train --data {data} --out {tmp_path / 'r2'} --steps 2 --on-bad-sample skip {TINY}") == 0
    assert "leaving out 3 unreadable training pair(s)" in capsys.readouterr().out


def test_a_file_going_bad_mid_epoch_is_skipped(synthetic_v2: Path, tmp_path: Path):
    from sarcolor.config import PreprocessConfig

    data = shutil.copytree(synthetic_v2.parent, tmp_path / "d")
    pairs = discover_pairs(data).pairs
    corrupt(pairs[3].s1)  # after any check: fails only when the loader reaches it
    strict = PairDataset(pairs, PreprocessConfig())
    with pytest.raises(SarcolorError, match=str(pairs[3].s1)):
        strict[3]
    lenient = PairDataset(pairs, PreprocessConfig(), skip_bad=True)
    item = lenient[3]
    assert item.index == 4 and str(pairs[3].s1) in item.skipped and lenient[2].skipped == ""


def test_a_large_image_is_tiled_not_resized(tiny_run: Path, tmp_path: Path):
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (900, 1300), dtype=np.uint8)).save(big)
    assert cli(f"colorize {big} --checkpoint {tiny_run} --out {tmp_path / 'o'} --no-progress") == 0
    assert Image.open(tmp_path / "o" / "big.png").size == (1300, 900)


def test_colorize_checks_outputs_and_streams_past_bad_files(
    tiny_run: Path, tmp_path: Path, capsys, monkeypatch
):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        Image.fromarray(np.full((40, 30), 20 * i, np.uint8)).save(src / f"img{i}.png")
    corrupt(src / "img2.png")
    out = tmp_path / "out"
    assert cli(f"colorize {src} --checkpoint {tiny_run} --out {out} --no-progress") == 2
    one_line_error(capsys, "img2.png")
    assert (
        cli(
            f"colorize {src} --checkpoint {tiny_run} --out {out} --no-progress "
            "--on-bad-sample skip --overwrite"
        )
        == 1
    )
    report = capsys.readouterr().out
    assert "colorized 4 image(s)" in report and "1 input(s) failed" in report and "img2.png" in report
    assert sorted(p.name for p in out.iterdir()) == ["img0.png", "img1.png", "img3.png", "img4.png"]
    assert cli(f"colorize {src / 'img0.png'} --checkpoint {tiny_run} --out {out}") == 2
    one_line_error(capsys, "exists (1 output(s) would be replaced); pass --overwrite")
    assert (
        cli(f"colorize {src / 'img0.png'} --checkpoint {tiny_run} --out {out} --overwrite --no-progress") == 0
    )
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert cli(f"colorize {src / 'img0.png'} --checkpoint {tiny_run} --out {a_file / 'sub'}") == 2
    one_line_error(capsys, str(a_file))
    import sarcolor.outputs as outputs  # a nearly full disk, as the OS would report it

    monkeypatch.setattr(
        outputs.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100)
    )
    assert cli(f"colorize {src / 'img0.png'} --checkpoint {tiny_run} --out {tmp_path / 'o3'}") == 2
    one_line_error(capsys, "GB free, the outputs may need")


def test_training_refuses_unusable_output_locations(synthetic_v2: Path, tmp_path: Path, capsys, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert cli(f"train --data {synthetic_v2} --out {a_file} --steps 1 {TINY}") == 2
    one_line_error(capsys, str(a_file))
    import sarcolor.outputs as outputs

    monkeypatch.setattr(
        outputs.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000)
    )
    assert cli(f"train --data {synthetic_v2} --out {tmp_path / 'r'} --steps 1 {TINY}") == 2
    one_line_error(capsys, "checkpoints need about")


def test_empty_and_missing_data_folders(tmp_path: Path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "agri" / "s1").mkdir(parents=True)
    for folder, needle in (
        ("missing", "data folder not found"),
        ("empty", "no image pairs found"),
        ("v", "no complete SAR/optical pairs"),
    ):
        assert cli(f"train --data {tmp_path / folder} --out {tmp_path / 'r'} {TINY}") == 2
        one_line_error(capsys, needle)


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
