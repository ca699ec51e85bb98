"""Shared fixtures: the real samples in ../shared/data, and small synthetic datasets and runs."""

from __future__ import annotations

import csv
import importlib.util
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from sarcolor.config import Config

if TYPE_CHECKING:
    import torch
from sarcolor.synthetic import make_synthetic_dataset

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# ``--precision auto`` picks bf16 on CPUs with bf16 instructions (sarcolor.runtime). The suite
# runs every default path in fp32, so that its numbers are the same on every CI machine
# (subprocesses inherit this); the bf16 paths are tested by asking for bf16 explicitly.
os.environ["SARCOLOR_CPU_BF16"] = "0"
# ``--form auto`` measures the generator's forms at first use (sarcolor.inference.autotune): the
# suite runs one fixed form instead, the same on every machine (its autotune tests unset this).
os.environ["SARCOLOR_FORM"] = "prepacked"
# Training's auto precision/layout is measured too (sarcolor.training.autotune): the suite takes
# the fixed rule instead (its training-autotune tests unset this).
os.environ["SARCOLOR_TRAIN_TUNE"] = "0"
# What those measure, and the onnxruntime form's exported models, go to a folder of the suite's
# own, never the user's ~/.cache (tests of the cache set their own).
os.environ["SARCOLOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="sarcolor-test-cache.")


# Headless Chromium for the browser tests (the report's rendering, the app): offline, no GPU,
# nothing fetched in the background.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not available: {path} is absent (it lives in ../shared/data)")
    return path


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(monkeypatch: pytest.MonkeyPatch, name: str):
    """``benchmarks/<name>.py`` imported as a module for this test (with its siblings importable:
    the benchmarks import each other), under a name of its own that the test's end removes."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, f"{name}_under_test", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def real_sen12() -> Path:
    """The two real SEN1-2 pairs in the Kaggle layout (``…/sen1-2/v_2``)."""
    return shared_path("real", "sen1-2", "v_2")


@pytest.fixture(scope="session")
def kaggle_filelist() -> Path:
    return shared_path("kaggle_v2_filelist.csv")


@pytest.fixture(scope="session")
def synthetic_v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic dataset: 4 terrains × 2 scenes × 4 patches (32 pairs)."""
    root = tmp_path_factory.mktemp("synthetic")
    return make_synthetic_dataset(root, scenes_per_terrain=2, patches_per_scene=4, seed=1)


def tiny_config(data_root: Path, steps: int = 4, **train) -> Config:
    """A configuration small enough for tests: ngf = ndf = 8, batch 2, no workers."""
    fast = {"steps": steps, "batch_size": 2, "log_every": 2, "sample_every": 2, "checkpoint_every": 2}
    return (
        Config()
        .replace(
            data={"root": str(data_root), "num_workers": 0, "val_fraction": 0.25, "test_fraction": 0.25},
            model={"ngf": 8, "ndf": 8},
            train={**fast, **train},
        )
        .validate()
    )


@pytest.fixture(scope="session")
def trained_run(synthetic_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run trained for 60 steps (lr 2e-3): enough for colours that follow the input (~7 s)."""
    from sarcolor.training.trainer import train

    run = tmp_path_factory.mktemp("run") / "trained"
    cfg = tiny_config(synthetic_v2, steps=60, lr=2e-3, batch_size=4, sample_every=60, checkpoint_every=60)
    train(cfg, run, progress=False, echo=lambda _: None)
    return run


@pytest.fixture(scope="session")
def tiny_run(synthetic_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder trained for 4 steps on the synthetic data (read-only for the tests)."""
    from sarcolor.training.trainer import train

    run = tmp_path_factory.mktemp("run") / "tiny"
    train(tiny_config(synthetic_v2), run, progress=False, echo=lambda _: None)
    return run


def write_geotiff(
    path: Path,
    data: np.ndarray,
    *,
    nodata: float | None = None,
    crs: str | None = "EPSG:32631",
    transform=None,
    descriptions: tuple[str, ...] | None = None,
) -> Path:
    """Write a real GeoTIFF: ``data`` (H, W) or (C, H, W); default grid UTM 31N, 10 m pixels."""
    import rasterio
    from rasterio.transform import Affine

    bands = data[None] if data.ndim == 2 else data
    profile = dict(
        driver="GTiff",
        width=bands.shape[2],
        height=bands.shape[1],
        count=bands.shape[0],
        dtype=bands.dtype.name,
    )
    if nodata is not None:
        profile["nodata"] = nodata
    if crs:
        profile.update(crs=crs, transform=transform or Affine(10, 0, 500000, 0, -10, 5000000))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
        for i, name in enumerate(descriptions or (), start=1):
            dst.set_band_description(i, name)
    return path


def untrained_checkpoint(
    path: Path,
    *,
    bands: Sequence[str] = ("VV",),
    ngf: int = 8,
    gain: float = 1.0,
    terrains: Sequence[str] = (),
    target: str = "rgb",
    sar_levels: str = "as-read",
) -> Path:
    """A real checkpoint of a freshly initialised model (seeded) taking ``bands``, predicting
    ``target`` (``grey``: one output channel).

    ``gain`` scales the last layer: pix2pix's N(0, 0.02) init gives near-constant grey
    outputs, a gain of ~50 makes them follow the input (for tests that compare outputs).
    """
    import torch

    from sarcolor.checkpoint import CheckpointMeta, save_checkpoint
    from sarcolor.models import build_networks

    cfg = Config().replace(
        data={"terrains": list(terrains)},  # as `train --terrain` stores them
        preprocess={"bands": list(bands), "sar_scale": "db", "target": target, "sar_levels": sar_levels},
        model={"ngf": ngf, "ndf": ngf},
    )
    torch.manual_seed(0)
    g, d = build_networks(cfg.validate())
    with torch.no_grad():
        g.last.weight.mul_(gain)
    return save_checkpoint(path, CheckpointMeta(cfg, 0), {"G": g, "D": d})


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


@pytest.fixture(scope="module")
def kaggle_tree(kaggle_filelist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Empty placeholder files named exactly as the 16,000 Kaggle pairs."""
    root = tmp_path_factory.mktemp("kaggle") / "dataset"
    with open(kaggle_filelist) as fh:
        for row in csv.DictReader(fh):
            touch(root / "v_2" / row["terrain"] / "s1" / row["s1_filename"])
            touch(root / "v_2" / row["terrain"] / "s2" / row["s2_filename"])
    return root


def write_tif(path: Path, data: np.ndarray, crs: str, transform, **kw) -> Path:
    """A GeoTIFF of (C, H, W) ``data``; ``descriptions``, ``tags``, ``scales``, ``offsets``, ``nodata``."""
    descriptions, tags = kw.pop("descriptions", None), kw.pop("tags", {})
    scales, offsets = kw.pop("scales", None), kw.pop("offsets", None)
    profile = dict(driver="GTiff", count=data.shape[0], height=data.shape[1], width=data.shape[2])
    import rasterio

    with rasterio.open(path, "w", dtype=data.dtype, crs=crs, transform=transform, **profile, **kw) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
        dst.update_tags(**tags)
        if scales:
            dst.scales, dst.offsets = scales, offsets
    return path


def run_cli(line: str) -> int:
    """``sarcolor LINE`` in this process: its exit status."""
    from sarcolor.cli.main import main

    return main(line.split())


def one_line_error(capsys, needle: str) -> str:
    """The command's stderr: one line holding ``needle``, no traceback."""
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def corrupt(path: Path) -> Path:
    """Truncate an image file (keeps its header, loses most of its data)."""
    data = path.read_bytes()
    path.write_bytes(data[: min(100, len(data) // 2)])
    return path


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# The real CLI in a fresh interpreter, several command lines in one process (imports are paid
# once): per line its exit status, stderr, the end of stdout, and the process's peak resident
# memory so far. The peak is the kernel's VmHWM of this process's own memory: getrusage's
# ru_maxrss would do, but Linux carries it over exec from the process that spawned it (pytest,
# which may be larger), so it can report the parent's peak instead. RLIMIT_AS (resource) bounds
# the address space, so a case that would allocate gigabytes fails there instead of taking the
# test machine's memory.
_CLI_CASES = """
import contextlib, io, json, resource, sys
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from sarcolor.cli.main import main
def peak():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
results = []
for argv in json.loads(sys.argv[1]):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
    stdout = out.getvalue()[-3000:]
    results.append({"argv": argv, "rc": rc, "err": err.getvalue(), "out": stdout, "rss": peak()})
print(json.dumps(results))
"""


def run_cli_cases(
    cases: Sequence[Sequence[str]],
    *,
    address_space: int = 6 << 30,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> list[dict]:
    """Run ``sarcolor ARGV`` for every argv of ``cases`` in one subprocess (see ``_CLI_CASES``)."""
    import json
    import subprocess
    import sys

    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **(env or {})}
    argvs = json.dumps([list(map(str, c)) for c in cases])
    done = subprocess.run(
        [sys.executable, "-c", _CLI_CASES, argvs, str(address_space)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def assert_clean_exit(result: dict, codes: Sequence[int] = (0, 2)) -> None:
    """Success, or one line ``sarcolor CMD: error: …`` with exit status 2: never a traceback or an
    internal error."""
    err = result["err"].strip()
    assert result["rc"] in codes, result
    assert "Traceback" not in err and "internal error" not in err, result
    if result["rc"] == 2:
        assert len(err.splitlines()) == 1 and ": error: " in err, result
