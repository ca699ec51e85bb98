"""Colorizing an archive: a real ``torchrun --nproc_per_node 2`` on CPU shards the inputs, rank 0
writes the manifest, and ``--skip-existing`` resumes; sharding and the single-process flags."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

from conftest import corrupt, one_line_error, run_cli, untrained_checkpoint, write_geotiff
from sarcolor.inference.archive import MANIFEST_NAME, shard
from sarcolor.inference.files import Job

ROOT = Path(__file__).resolve().parents[2]

# Records, per rank, every file moved into the output folder: atomic_write's os.replace, or the
# os.link that places a new output without ever replacing one another process wrote meanwhile.
AUDIT_HOOK = textwrap.dedent(
    """
    import os, sys
    _out, _log = os.environ.get("AUDIT_OUT"), os.environ.get("AUDIT_LOG")
    if _out and _log:
        _file = os.path.join(_log, "rank%s.txt" % os.environ.get("RANK", "x"))
        def _hook(event, args):
            if event in ("os.rename", "os.link") and os.fsdecode(args[1]).startswith(_out):
                with open(_file, "a") as fh:
                    fh.write(os.fsdecode(args[1]) + "\\n")
        sys.addaudithook(_hook)
    """
)


@pytest.fixture(scope="module")
def archive(synthetic_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A folder of 5 SAR PNGs, one GeoTIFF scene and one unreadable PNG; and a checkpoint."""
    folder = tmp_path_factory.mktemp("archive") / "inputs"
    folder.mkdir()
    for source in sorted(p for p in synthetic_v2.rglob("*.png") if p.parent.name == "s1")[:5]:
        shutil.copyfile(source, folder / source.name)
    rng = np.random.default_rng(0)
    db = (-12 + 5 * np.sin(np.arange(300)[None, :] / 30) + rng.normal(0, 2, (280, 300))).astype(np.float32)
    db[:, :40] = np.nan
    write_geotiff(folder / "scene.tif", db)
    shutil.copyfile(folder / sorted(p.name for p in folder.glob("*.png"))[0], folder / "broken.png")
    corrupt(folder / "broken.png")
    checkpoint = untrained_checkpoint(folder.parent / "model.safetensors", gain=50.0)
    return folder, checkpoint


def torchrun(args: list[str], out: Path, audit: Path) -> subprocess.CompletedProcess:
    audit.mkdir(exist_ok=True)
    (audit / "sitecustomize.py").write_text(AUDIT_HOOK)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(audit), str(ROOT / "src")]),
        "AUDIT_OUT": str(out.resolve()),
        "AUDIT_LOG": str(audit),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "sarcolor", "colorize", *args, "--out", str(out), "--no-progress"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def renames(audit: Path) -> dict[str, list[str]]:
    """Every output renamed into place, per rank."""
    return {p.stem: p.read_text().split() for p in sorted(audit.glob("rank*.txt"))}


def pixels(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if path.suffix == ".png":
        return np.asarray(Image.open(path)), None
    with rasterio.open(path) as src:
        return src.read(), src.dataset_mask()


@pytest.mark.slow
def test_torchrun_shards_an_archive_and_resumes(archive: tuple[Path, Path], tmp_path: Path):
    folder, checkpoint = archive
    out, audit = tmp_path / "out", tmp_path / "audit"
    args = [str(folder), "--checkpoint", str(checkpoint), "--on-bad-sample", "skip"]
    done = torchrun(args, out, audit)
    assert done.returncode == 1, done.stderr[-3000:]  # one input failed: the run says so
    assert done.stdout.count("colorized 6 image(s) by 2 processes") == 1, done.stdout  # rank 0 alone
    assert "broken.png" in done.stdout

    manifest = json.loads((out / MANIFEST_NAME).read_text())
    inputs = sorted(str(p) for p in folder.iterdir())
    assert [item["input"] for item in manifest["items"]] == inputs
    assert manifest["world_size"] == 2
    assert manifest["counts"] == {"written": 6, "skipped": 0, "failed": 1, "not done": 0}
    (bad,) = [item for item in manifest["items"] if item["status"] == "failed"]
    assert (
        bad["input"].endswith("broken.png") and bad["output"] is None and "cannot read image" in bad["error"]
    )
    written = [item for item in manifest["items"] if item["status"] == "written"]
    assert {item["rank"] for item in written} == {0, 1}  # both processes worked

    # every output renamed into place exactly once, by the rank the manifest names
    by_rank = renames(audit)
    outputs = [p for paths in by_rank.values() for p in paths if not p.endswith(MANIFEST_NAME)]
    assert sorted(outputs) == sorted(str(out.resolve() / Path(i["output"]).name) for i in written)
    for item in written:
        assert str(out.resolve() / Path(item["output"]).name) in by_rank[f"rank{item['rank']}"]
    assert [p for p in by_rank["rank1"] if p.endswith(MANIFEST_NAME)] == []  # rank 0 writes it

    # the same outputs as one process, bit for bit
    single = tmp_path / "single"
    assert (
        run_cli(
            f"colorize {folder} --checkpoint {checkpoint} --out {single} --on-bad-sample skip --no-progress"
        )
        == 1
    )
    assert sorted(p.name for p in single.iterdir()) == sorted(
        p.name for p in out.iterdir() if p.name != MANIFEST_NAME
    )
    for path in single.iterdir():
        if path.suffix == ".png":
            assert path.read_bytes() == (out / path.name).read_bytes(), path.name
        a, b = pixels(path), pixels(out / path.name)
        assert np.array_equal(a[0], b[0]) and (a[1] is None or np.array_equal(a[1], b[1]))

    # interrupted or not, a second run with --skip-existing does no work
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != MANIFEST_NAME}
    audit2 = tmp_path / "audit2"
    again = torchrun([*args, "--skip-existing"], out, audit2)
    assert again.returncode == 1, again.stderr[-3000:]  # the broken file is tried, and fails, again
    assert [p for paths in renames(audit2).values() for p in paths if not p.endswith(MANIFEST_NAME)] == []
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != MANIFEST_NAME} == before
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["counts"] == {"written": 0, "skipped": 6, "failed": 1, "not done": 0}


def test_shard_gives_every_job_to_exactly_one_rank() -> None:
    jobs = [Job(Path(f"{i}.png"), Path(f"out/{i}.png")) for i in range(23)]
    sizes = [(i * 7919) % 13 for i in range(23)]
    for world in (1, 2, 3, 5, 30):
        shares = [shard(jobs, rank, world, sizes) for rank in range(world)]
        assert sorted(j.source.name for s in shares for j in s) == sorted(j.source.name for j in jobs)
        assert all(s == sorted(s, key=jobs.index) for s in shares)  # plan order kept
        if world <= len(jobs):
            loads = [sum(max(sizes[jobs.index(j)], 1) for j in s) for s in shares]
            assert max(loads) - min(loads) <= max(sizes)  # balanced to within one job


def test_skip_existing_and_manifest_in_one_process(archive: tuple[Path, Path], tmp_path: Path, capsys):
    folder, checkpoint = archive
    out, manifest = tmp_path / "out", tmp_path / "m.json"
    line = f"colorize {folder} --checkpoint {checkpoint} --out {out} --no-progress --on-bad-sample skip"
    assert run_cli(f"{line} --manifest {manifest}") == 1
    first = json.loads(manifest.read_text())
    assert first["world_size"] == 1 and first["counts"]["written"] == 6
    (out / "scene.tif").unlink()  # as if the run had stopped before the scene
    capsys.readouterr()
    assert run_cli(f"{line} --skip-existing --manifest {manifest}") == 1
    printed = capsys.readouterr().out
    assert "colorized 1 image(s)" in printed and "5 skipped (output exists)" in printed
    second = json.loads(manifest.read_text())
    assert second["counts"] == {"written": 1, "skipped": 5, "failed": 1, "not done": 0}
    assert run_cli(f"{line} --skip-existing --overwrite") == 2
    one_line_error(capsys, "--overwrite and --skip-existing exclude each other")
    assert run_cli(f"{line} --manifest {tmp_path / 'm.txt'} --overwrite") == 2
    one_line_error(capsys, "m.txt: the manifest is a JSON file")


def test_first_error_stops_the_run_and_is_in_the_manifest(archive: tuple[Path, Path], tmp_path: Path, capsys):
    folder, checkpoint = archive
    out, manifest = tmp_path / "out", tmp_path / "m.json"
    assert run_cli(f"colorize {folder} --checkpoint {checkpoint} --out {out} --manifest {manifest}") == 2
    one_line_error(capsys, "broken.png: cannot read image")
    items = {Path(i["input"]).name: i for i in json.loads(manifest.read_text())["items"]}
    assert items["broken.png"]["status"] == "failed" and "cannot read image" in items["broken.png"]["error"]
    assert items["scene.tif"]["status"] == "not done"  # images first, then scenes: never reached
