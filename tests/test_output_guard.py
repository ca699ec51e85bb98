"""Outputs never replace inputs or foreign files, and temp files of killed writers never stay.

Issue 23, items 1, 4, 5 and 7: ``evaluate --out`` onto a checkpoint, a run file or a data
image; two ``colorize`` runs into one folder; ``report`` over a foreign ``.md``; ``train --out``
into a folder that is not a run folder; safetensors' own temp files after a SIGKILL; and a
SIGTERMed ``colorize``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import one_line_error, run_cli, untrained_checkpoint, write_geotiff


@pytest.fixture
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """A copy of the tiny run, which a failing guard may damage."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


# ── item 1: evaluate --out ─────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("out", "extra", "message"),
    [
        ("checkpoints/step_0000004.safetensors", "", "evaluate writes .json files"),
        ("config.yaml", "", "evaluate writes .json files"),
        ("split.json", "--overwrite", "is a file of the run"),  # an input, even with --overwrite
        ("link.json", "", "is the checkpoint"),  # a symlink to the checkpoint
        ("notes.json", "", "exists and was not written by sarcolor evaluate"),
    ],
)
def test_evaluate_never_writes_over_an_input_or_a_foreign_file(
    run_copy: Path, out: str, extra: str, message: str, capsys
):
    ckpt = run_copy / "checkpoints" / "step_0000004.safetensors"
    (run_copy / "link.json").symlink_to(ckpt)
    (run_copy / "notes.json").write_text('{"mine": 1}')
    before = {p: p.read_bytes() for p in run_copy.rglob("*") if p.is_file()}
    line = f"evaluate --checkpoint {ckpt} --out {run_copy / out} --no-progress {extra}"
    assert run_cli(line) == 2
    one_line_error(capsys, message)
    assert {p: p.read_bytes() for p in run_copy.rglob("*") if p.is_file()} == before


def test_evaluate_refuses_a_data_image(run_copy: Path, synthetic_v2: Path, capsys):
    image = next(synthetic_v2.rglob("*.png"))
    before = image.read_bytes()
    assert run_cli(f"evaluate --checkpoint {run_copy} --out {image} --overwrite --no-progress") == 2
    one_line_error(capsys, "evaluate writes .json files")
    inside = image.parent / "scores.json"
    assert run_cli(f"evaluate --checkpoint {run_copy} --data {synthetic_v2} --out {inside}") == 2
    one_line_error(capsys, "inside the data folder")
    assert image.read_bytes() == before and not inside.exists()


def test_scores_evaluate_wrote_may_be_replaced(tmp_path: Path):
    from sarcolor.errors import SarcolorError
    from sarcolor.evaluation.evaluate import check_scores_out, write_json
    from sarcolor.evaluation.metrics import METRICS
    from sarcolor.evaluation.scores import BASELINES, Evaluation, ImageScore

    scores = dict.fromkeys(METRICS, 0.5)
    image = ImageScore("a", "-", "g", dict(scores), {b: dict(scores) for b in BASELINES})
    out = write_json(Evaluation("m", "test", "data", images=[image]), tmp_path / "s.json")
    (tmp_path / "s_examples.png").write_bytes(b"an earlier gallery")
    assert check_scores_out(out, []) == out
    out.write_text('{"summary": "someone else\'s"}')
    with pytest.raises(SarcolorError, match="not written by sarcolor evaluate"):
        check_scores_out(out, [])
    assert check_scores_out(out, [], overwrite=True) == out


# ── item 5: report and train --out ─────────────────────────────────────────────────────────────


def test_report_never_replaces_a_foreign_markdown_twin(run_copy: Path, tmp_path: Path, capsys):
    notes = tmp_path / "notes.md"
    notes.write_text("my notes\n")
    assert run_cli(f"report {run_copy} --out {tmp_path / 'notes.html'} --no-progress") == 2
    one_line_error(capsys, "notes.md: exists and was not written by sarcolor report")
    assert notes.read_text() == "my notes\n" and not (tmp_path / "notes.html").exists()
    assert run_cli(f"report {run_copy} --out {run_copy / 'config.html'} --data {run_copy}") == 2
    one_line_error(capsys, "inside the data folder")


def test_report_replaces_its_own_report_and_foreign_files_only_when_asked(tmp_path: Path):
    from sarcolor.errors import SarcolorError
    from sarcolor.evaluation.report import write_report

    out = tmp_path / "r.html"
    for _ in range(2):
        assert write_report([], out) == (out, tmp_path / "r.md")
    (tmp_path / "s.md").write_text("mine")
    with pytest.raises(SarcolorError, match=r"s\.md: exists and was not written by sarcolor report"):
        write_report([], tmp_path / "s.html")
    write_report([], tmp_path / "s.html", overwrite=True)
    assert (tmp_path / "s.md").read_text().startswith("# sarcolor report")


def test_train_refuses_a_folder_that_is_not_a_run_folder(synthetic_v2: Path, tmp_path: Path, capsys):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "config.yaml").write_text("# my own settings\n")
    (folder / "notes.txt").write_text("x")
    args = f"--data {synthetic_v2} --steps 1 --batch-size 2 --ngf 4 --ndf 4 --workers 0 --no-progress"
    assert run_cli(f"train {args} --out {folder}") == 2
    one_line_error(capsys, "not a run folder")
    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml", "notes.txt"]  # not even a lock
    assert (folder / "config.yaml").read_text() == "# my own settings\n"
    (folder / "notes.txt").unlink()  # the config the run would write over
    assert run_cli(f"train {args} --config {folder / 'config.yaml'} --out {folder}") == 2
    one_line_error(capsys, "--config is the config.yaml the run writes")
    assert (folder / "config.yaml").read_text() == "# my own settings\n"


# ── item 4: two colorize runs into one folder ──────────────────────────────────────────────────


def test_an_output_written_by_another_process_meanwhile_is_not_replaced(tmp_path: Path):
    from sarcolor.errors import SarcolorError
    from sarcolor.inference.colorizer import Colorizer
    from sarcolor.inference.files import colorize_paths, plan_colorize

    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 30), 60 * i, np.uint8)).save(src / f"img{i}.png")
    write_geotiff(src / "scene.tif", np.full((64, 64), -10.0, np.float32))
    colorizer = Colorizer(untrained_checkpoint(tmp_path / "a.safetensors"), device="cpu")
    out = tmp_path / "out"
    for name in ("img1.png", "scene.tif"):
        jobs = plan_colorize([src], out, overwrite=True)  # both runs plan while the folder is empty
        (out / name).write_bytes(b"the other run's output")  # the other run wrote it since
        with pytest.raises(
            SarcolorError, match=re.escape(f"{name}: written by another process since this one started")
        ):
            colorize_paths(colorizer, jobs, on_bad_sample="skip", progress=False)
        assert (out / name).read_bytes() == b"the other run's output"
        assert not [p for p in out.iterdir() if p.name.startswith(".")]
        shutil.rmtree(out)
    out.mkdir()  # --overwrite: a file there at the start, changed since
    (out / "img0.png").write_bytes(b"old")
    jobs = plan_colorize([src], out, overwrite=True)
    (out / "img0.png").write_bytes(b"changed by the other run")
    with pytest.raises(SarcolorError, match=r"img0\.png: written by another process"):
        colorize_paths(colorizer, jobs, progress=False)
    assert (out / "img0.png").read_bytes() == b"changed by the other run"


# ── item 7: temp files of killed writers ───────────────────────────────────────────────────────


def test_stale_colorize_temps_of_dead_writers_are_removed_at_the_next_start(tmp_path: Path):
    from sarcolor.inference.files import plan_colorize

    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(src)
    out = tmp_path / "out"
    out.mkdir()
    dead, live = _dead_pid(), os.getpid()
    stale = [out / f".b.png.{dead}-x1y2.tmp", out / f".c.tif.{dead}-ab_c.tmp.{dead}-q9.tmp"]
    kept = out / f".d.png.{live}-zz.tmp"  # a live writer's
    for path in [*stale, kept]:
        path.write_bytes(b"partial")
    plan_colorize([src], out)
    assert not any(p.exists() for p in stale) and kept.exists()


@pytest.mark.slow
def test_a_checkpoint_writer_killed_mid_write_leaves_nothing_the_next_run_keeps(tmp_path: Path):
    from sarcolor.outputs import remove_stale_temps

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    code = (
        "import torch\n"
        "from sarcolor.checkpoint import CheckpointMeta, save_checkpoint\n"
        "from sarcolor.config import Config\n"
        "net = torch.nn.Linear(8000, 8000)\n"  # 256 MB: safetensors' own temp file lives a while
        "while True:\n"
        f"    save_checkpoint({str(folder / 'step_0000001.safetensors')!r}, CheckpointMeta(Config(), 1), "
        "{'G': net})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(".tmp") for p in folder.rglob("*")):  # safetensors' own
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    legacy = folder / ".tmpAb12Cd"  # left by a version that let safetensors write beside the checkpoint
    legacy.write_bytes(b"partial")
    remove_stale_temps(folder, unnamed=True)  # what `train --resume` does under the run lock
    assert [p.name for p in folder.iterdir() if p.name != "step_0000001.safetensors"] == []


@pytest.mark.slow
def test_a_terminated_colorize_removes_its_temp_file(tmp_path: Path):
    scene = write_geotiff(
        tmp_path / "scene.tif", np.random.default_rng(0).normal(-12, 3, (1536, 1536)).astype("f4")
    )
    ckpt = untrained_checkpoint(tmp_path / "m.safetensors", ngf=16)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sarcolor", "colorize", str(scene), "--checkpoint", str(ckpt)]
    proc = subprocess.Popen(
        [*cmd, "--out", str(out), "--no-progress", "--device", "cpu"], stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not (out.is_dir() and any(p.name.endswith(".tmp") for p in out.iterdir())):
            assert time.monotonic() < deadline and proc.poll() is None, "finished before it could be stopped"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == 130 and b"interrupted" in err, err
    assert list(out.iterdir()) == []
