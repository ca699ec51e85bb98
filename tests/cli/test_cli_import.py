"""``sarcolor import`` end to end: each source's file → checkpoint → colorize, evaluate, report, train.

The generators are built in the test from their sources' published layouts
(tests/foreign_support.py), given random weights, and saved with ``torch.save`` as their training
code saves them; everything else runs through the command line on real files.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from PIL import Image
from safetensors import safe_open

from conftest import one_line_error, run_cli, shared_path
from foreign_support import (
    Payload,
    RefSar2OpticalGenerator,
    RefUnetGenerator,
    randomise,
    sen12_patches,
    source_uint8,
)
from sarcolor.checkpoint import list_checkpoints, read_meta

SCENE = ("real", "s1-geotiff", "S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif")


@pytest.fixture(scope="module")
def sar2optical(tmp_path_factory) -> tuple[torch.nn.Module, Path]:
    """SAR2Optical's generator at its published size (54.5 M parameters), saved as the source does."""
    ref = randomise(RefSar2OpticalGenerator(3, 3), 11)
    path = tmp_path_factory.mktemp("sar2optical") / "pix2pix_gen_180.pth"
    torch.save(ref.state_dict(), path)
    return ref, path


@pytest.fixture(scope="module")
def pix2pix(tmp_path_factory) -> tuple[torch.nn.Module, Path]:
    """A canonical unet_256 (ngf 8, input_nc 1), saved as ``BaseModel.save_networks`` does."""
    ref = randomise(RefUnetGenerator(1, 3, 8, ngf=8, norm="batch", use_dropout=True), 12)
    path = tmp_path_factory.mktemp("pix2pix") / "latest_net_G.pth"
    torch.save(ref.state_dict(), path)
    return ref, path


def import_cli(capsys, line: str) -> str:
    assert run_cli(f"import {line}") == 0
    return capsys.readouterr().out


def test_sar2optical_import_colorizes_patches_a_png_and_a_scene_like_the_source(
    sar2optical, real_sen12, tmp_path, capsys
):
    ref, pth = sar2optical
    ckpt = tmp_path / "sar2optical.safetensors"
    out = import_cli(capsys, f"--from sar2optical {pth} --out {ckpt}")
    lines = out.strip().splitlines()
    assert lines[0] == (
        "found: a SAR2Optical U-Net (batch norm, 3 → 3 channels) from yuuIind/SAR2Optical, 54.5 M parameters"
    )
    assert "VV -25…0 dB" in lines[1] and "BatchNorm on running statistics" in lines[1]
    assert f"wrote {ckpt}" in out and len(lines) <= 5
    # the source's outputs on the real patches, as its inference script writes them (8-bit)
    patches = sorted(real_sen12.glob("*/s1/*.png"))
    with torch.no_grad():
        expected = source_uint8(ref(sen12_patches(real_sen12, 3)))
    big = tmp_path / "big.png"  # 600×520, not a multiple of 256: tiled and blended
    grey = np.asarray(Image.open(patches[0]))
    Image.fromarray(np.pad(grey, ((0, 264), (0, 344)), mode="reflect")).save(big)
    scene = shared_path(*SCENE)
    colour = tmp_path / "colour"
    inputs = " ".join(map(str, [*patches, big, scene]))
    assert (
        run_cli(f"colorize {inputs} --checkpoint {ckpt} --out {colour} --no-progress --precision fp32") == 0
    )
    for path, theirs in zip(patches, expected, strict=True):
        ours = np.asarray(Image.open(colour / path.name))
        assert ours.shape == (256, 256, 3)
        assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
    large = np.asarray(Image.open(colour / "big.png"))
    assert large.shape == (520, 600, 3) and large.std() > 10
    # the top-left corner is the first patch itself, and far from other tiles' blending
    assert np.abs(large[:128, :128].astype(int) - expected[0][:128, :128].astype(int)).max() <= 1
    with rasterio.open(scene) as src, rasterio.open(colour / scene.name) as dst:
        assert (dst.count, dst.width, dst.height, dst.crs, dst.transform) == (
            3,
            src.width,
            src.height,
            src.crs,
            src.transform,
        )
        rgb = dst.read()
    assert rgb.std() > 10


@pytest.mark.slow
def test_pix2pix_import_evaluates_beside_the_baselines_and_reports(pix2pix, real_sen12, tmp_path, capsys):
    _, pth = pix2pix
    folder = tmp_path / "imported"
    ckpt = folder / "model.safetensors"
    out = import_cli(capsys, f"--from pix2pix {pth} --out {ckpt} --input-channels 1 --norm batch")
    assert "pix2pix unet_256 (batch norm, ngf 8, 1 → 3 channels)" in out
    scores = tmp_path / "scores.json"
    data = real_sen12.parent
    assert run_cli(f"evaluate --checkpoint {ckpt} --data {data} --out {scores} --no-progress") == 0
    printed = capsys.readouterr().out
    for name in ("mean_colour", "terrain_colour", "level_lut"):
        assert name in printed
    assert "imported model (from pix2pix): it stores no split, so the split was recomputed" in printed
    result = json.loads(scores.read_text())
    assert result["protocol"]["split_source"] == "recomputed"
    assert result["summary"]["all"]["n"] == 1 and set(result["summary"]["all"]["baselines"]) == {
        "mean_colour",
        "terrain_colour",
        "level_lut",
    }
    assert (
        run_cli(f"evaluate --checkpoint {ckpt} --data {data} --split all --test-fraction 0.5 --no-progress")
        == 0
    )
    assert "2 images from 2 scenes" in capsys.readouterr().out
    assert run_cli(f"evaluate --checkpoint {ckpt} --no-progress") == 2
    one_line_error(capsys, "the checkpoint names no dataset; give --data DIR")
    assert run_cli(f"report {folder} --data {data} --no-progress") == 0
    html = (folder / "report.html").read_text()
    assert "arch: pix2pix_unet" in html and "recomputed from this data" in html
    assert (folder / "eval" / "test.json").is_file()


@pytest.mark.slow
def test_resume_is_refused_and_init_from_fine_tunes(pix2pix, synthetic_v2, tmp_path, capsys):
    _, pth = pix2pix
    ckpt = tmp_path / "model.safetensors"
    import_cli(capsys, f"--from pix2pix {pth} --out {ckpt} --norm-stats image")
    assert run_cli(f"train --out {tmp_path} --resume --no-progress") == 2
    one_line_error(capsys, "an imported pix2pix generator cannot be resumed: it has no discriminator")
    assert run_cli(f"train --out {ckpt} --resume --data {synthetic_v2} --no-progress") == 2
    one_line_error(capsys, f"sarcolor train --init-from {ckpt} --data DIR --out NEW_RUN")
    base = f"train --init-from {ckpt} --data {synthetic_v2} --workers 0 --no-progress --batch-size 2"
    assert run_cli(f"{base} --out {tmp_path / 'x'} --ngf 16") == 2
    one_line_error(capsys, "--ngf cannot change with --init-from")
    run = tmp_path / "fine-tuned"
    assert run_cli(f"{base} --out {run} --steps 3 --ndf 8 --checkpoint-every 3 --sample-every 3") == 0
    assert "generator initialised from" in capsys.readouterr().out
    done = list_checkpoints(run)[-1]
    meta = read_meta(done)
    assert meta.imported is None and meta.step == 3 and any(meta.split.values())
    assert meta.config.model.arch == "pix2pix_unet" and meta.config.model.foreign["norm_stats"] == "running"
    with safe_open(str(done), "pt") as f, safe_open(str(ckpt), "pt") as g:
        keys = set(f.keys())
        assert any(k.startswith("D.") for k in keys) and any(k.startswith("optim.G.") for k in keys)
        start = {k: g.get_tensor(k) for k in g.keys() if k.startswith("G.")}  # noqa: SIM118
        assert set(start) <= keys
        changed = [
            k for k, v in start.items() if v.is_floating_point() and not torch.equal(f.get_tensor(k), v)
        ]
    assert len(changed) > len(start) // 2  # trained: the weights moved away from the imported ones
    assert run_cli(f"train --out {run} --resume --steps 4 --workers 0 --no-progress") == 0  # a normal run
    assert (
        run_cli(
            f"colorize {sorted((synthetic_v2 / 'agri' / 's1').iterdir())[0]} --checkpoint {run} "
            f"--out {tmp_path / 'c'} --no-progress"
        )
        == 0
    )


def test_import_refuses_bad_inputs_in_one_line(pix2pix, tmp_path, capsys):
    _, pth = pix2pix
    out = tmp_path / "m.safetensors"
    cases = [
        (f"--from pix2pix {pth} --out {out} --input-channels 3", "takes 1 input channel(s)"),
        (f"--from sar2optical {pth} --out {out}", "not a sar2optical generator (use --from pix2pix)"),
        (f"--from pix2pix {pth} --out {tmp_path / 'm.pth'}", "the checkpoint is written as .safetensors"),
        (f"--from pix2pix {pth} --out {out} --band VV --band VH", "2 --band given for a model of 1"),
    ]
    for line, needle in cases:
        assert run_cli(f"import {line}") == 2
        one_line_error(capsys, needle)
    import_cli(capsys, f"--from pix2pix {pth} --out {out}")
    assert run_cli(f"import --from pix2pix {out} --out {tmp_path / 'n.safetensors'}") == 2
    one_line_error(capsys, "not a .pth file (a safetensors file)")
    assert run_cli(f"import --from pix2pix {pth} --out {out}") == 2
    one_line_error(capsys, "already exists (pass --overwrite to replace it)")
    assert run_cli(f"import --from pix2pix {pth} --out {out} --overwrite") == 0


@pytest.mark.parametrize("form", ["zip", "raw-pickle"])
def test_a_crafted_pth_is_refused_by_import_and_every_other_command_and_never_runs(form, tmp_path, capsys):
    marker = tmp_path / "must-not-exist"
    evil = tmp_path / "latest_net_G.pth"
    obj = {"model.model.0.weight": torch.zeros(1), "x": Payload(marker)}
    if form == "zip":
        torch.save(obj, evil)
    else:
        evil.write_bytes(pickle.dumps(obj))
    out = tmp_path / "m.safetensors"
    assert run_cli(f"import --from pix2pix {evil} --out {out}") == 2
    one_line_error(capsys, "refused: the file holds more than tensors")
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(image)
    for line in (
        f"colorize {image} --checkpoint {evil} --out {tmp_path / 'o'}",
        f"evaluate --checkpoint {evil} --data {tmp_path}",
        f"train --init-from {evil} --data {tmp_path} --out {tmp_path / 'r'}",
    ):
        assert run_cli(line) == 2
        one_line_error(capsys, "sarcolor loads only safetensors checkpoints")
    assert not marker.exists() and not out.exists()
