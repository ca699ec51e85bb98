"""Property-based probes of the CLI: generated configuration files, checkpoint headers and metadata,
and image headers (shape, bands, sample type, compression), each through the real CLI.

The property, for every generated case: the command succeeds or refuses in one line with exit
status 2 (never a traceback, an internal error or a crash), and the process's peak resident
memory stays under :data:`CEILING` while its address space is capped at 6 GB. The cases of one
example run in one subprocess, so a few dozen cost one interpreter start. One example per test
by default; ``SARCOLOR_FUZZ_EXAMPLES=50`` hunts longer.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from conftest import assert_clean_exit, run_cli_cases, untrained_checkpoint
from sarcolor.config import SECTIONS, Config

CASES = 12  # per example: one subprocess each
EXAMPLES = int(os.environ.get("SARCOLOR_FUZZ_EXAMPLES", "1"))  # e.g. 50 for a longer hunt
CEILING = 1.2e9  # bytes: imports ≈ 300 MB, plus at most SARCOLOR_MEMORY_LIMIT for decoding
MEMORY = {"SARCOLOR_MEMORY_LIMIT": "512M"}  # the machine the header checks budget for
ONE_EXAMPLE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)

FIELDS = {s: [f.name for f in dataclasses.fields(type(getattr(Config(), s)))] for s in SECTIONS}
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["auto", "sar", "rgb", "VV", "lee:7", "lee:99999999", "1e999", "-1", "0"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)


@st.composite
def config_files(draw) -> str:
    """A YAML configuration: real sections and fields with arbitrary values, unknown keys, or noise."""
    kind = draw(st.sampled_from(["fields", "fields", "fields", "noise", "top"]))
    if kind == "noise":
        return draw(st.text(max_size=200))
    if kind == "top":
        return yaml.safe_dump(draw(json_values))
    doc: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from([*SECTIONS, "extra"]), min_size=1, max_size=4, unique=True)):
        names = FIELDS.get(section, ["x"])
        keys = draw(st.lists(st.sampled_from([*names, "unknown_key"]), min_size=1, max_size=4, unique=True))
        doc[section] = {k: draw(json_values) for k in keys}
    return yaml.safe_dump(doc, allow_unicode=True)


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    path = untrained_checkpoint(tmp_path_factory.mktemp("fuzz") / "base.safetensors", ngf=4)
    with safe_open(str(path), "pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


@st.composite
def checkpoint_changes(draw) -> dict:
    """What to do to a valid checkpoint: metadata entries, config fields, tensors, or its bytes."""
    return {
        "meta": draw(
            st.dictionaries(
                st.sampled_from(
                    ["format", "step", "split", "baselines", "training", "run", "stats", "config"]
                ),
                st.none() | json_values.map(json.dumps) | st.text(max_size=20),
                max_size=2,
            )
        ),
        "config": draw(
            st.lists(
                st.tuples(st.sampled_from(SECTIONS), st.integers(0, 40), json_values | st.integers(1, 1024)),
                max_size=2,
            )
        ),
        "tensor": draw(st.sampled_from([None, None, "drop", "shape", "dtype", "nan", "extra"])),
        "which": draw(st.integers(0, 10**6)),
        "cut": draw(st.none() | st.none() | st.floats(0, 1)),
    }


def write_checkpoint(path: Path, base: tuple[dict, dict], change: dict) -> Path:
    import torch

    meta, tensors = dict(base[0]), dict(base[1])
    config = json.loads(meta["config"])
    for section, index, value in change["config"]:
        names = FIELDS[section]
        config[section][names[index % len(names)]] = value
    meta["config"] = json.dumps(config)
    for key, value in change["meta"].items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    g = sorted(k for k in tensors if k.startswith("G."))
    name = g[change["which"] % len(g)]
    t = tensors[name]
    if change["tensor"] == "drop":
        del tensors[name]
    elif change["tensor"] == "shape":
        tensors[name] = torch.zeros((t.shape[0] + 1, *t.shape[1:]), dtype=t.dtype)
    elif change["tensor"] == "dtype":
        tensors[name] = t.to(torch.float16 if t.is_floating_point() else torch.float32)
    elif change["tensor"] == "nan":
        tensors[name] = torch.full_like(t, float("nan")) if t.is_floating_point() else t
    elif change["tensor"] == "extra":
        tensors["G.extra.weight"] = torch.zeros(3)
    save_file(tensors, str(path), metadata=meta)
    if change["cut"] is not None:  # a damaged header or body
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * change["cut"])])
    return path


@st.composite
def image_specs(draw) -> dict:
    """An image file: format, mode or sample type, bands, size (real, or declared by a tiny file)."""
    fmt = draw(st.sampled_from(["png", "jpeg", "tiff", "tiff"]))
    declared = draw(st.booleans())
    # declared sizes straddle both guards: the 400 MP limit and what 512 MB can decode
    side = st.integers(2_000, 30_000) if declared else st.integers(1, 300)
    spec = {"format": fmt, "declared": declared, "width": draw(side), "height": draw(side)}
    if fmt == "png":
        spec["mode"] = draw(st.sampled_from(["L", "LA", "RGB", "RGBA", "P", "I;16", "1"]))
    elif fmt == "jpeg":
        spec["mode"] = draw(st.sampled_from(["L", "RGB", "CMYK"]))
    else:
        spec["bands"] = draw(st.integers(1, 4) | st.integers(5, 300) if declared else st.integers(1, 6))
        spec["dtype"] = draw(
            st.sampled_from(
                ["uint8", "uint16", "int16", "uint32", "int32", "float32", "float64", "complex64"]
            )
        )
        spec["compress"] = draw(st.sampled_from(["none", "deflate", "lzw", "packbits"]))
        spec["nodata"] = draw(st.none() | st.just(0))
    spec["seed"] = draw(st.integers(0, 2**16))
    return spec


def write_image(folder: Path, spec: dict) -> Path:
    rng = np.random.default_rng(spec["seed"])
    w, h = spec["width"], spec["height"]
    if spec["format"] == "tiff":
        import rasterio

        path = folder / "x.tif"
        dtype = np.dtype(spec["dtype"])
        profile = dict(driver="GTiff", width=w, height=h, count=spec["bands"], dtype=spec["dtype"])
        profile.update(tiled=True, blockxsize=256, blockysize=256, interleave="band", nodata=spec["nodata"])
        if spec["compress"] != "none":
            profile["compress"] = spec["compress"]
        if spec["declared"]:
            profile["sparse_ok"] = True  # no block written: tiny on disk, zeros when read
        with rasterio.open(path, "w", **profile) as dst:
            if not spec["declared"]:
                if dtype.kind == "f":
                    data = rng.uniform(0, 1, (spec["bands"], h, w))
                elif dtype.kind == "c":
                    data = rng.uniform(0, 1, (spec["bands"], h, w)) * (1 + 1j)
                else:
                    data = rng.integers(0, min(np.iinfo(dtype).max, 65535), (spec["bands"], h, w))
                dst.write(data.astype(dtype))
        return path
    suffix = ".png" if spec["format"] == "png" else ".jpg"
    path = folder / f"x{suffix}"
    if spec["declared"]:  # a header declaring w × h, 1 kB of data
        if spec["format"] == "png":
            color, depth = {"L": (0, 8), "LA": (4, 8), "RGB": (2, 8), "RGBA": (6, 8), "P": (3, 8)}.get(
                spec["mode"], (0, 16 if spec["mode"] == "I;16" else 1)
            )
            ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0)
            body = b"".join(
                struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
                for k, d in ((b"IHDR", ihdr), (b"IDAT", zlib.compress(b"\0" * 1000)), (b"IEND", b""))
            )
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
        else:
            n = {"L": 1, "RGB": 3, "CMYK": 4}[spec["mode"]]
            sof = struct.pack(">BHHB", 8, h, w, n) + b"".join(bytes([i + 1, 0x11, 0]) for i in range(n))
            path.write_bytes(b"\xff\xd8\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9")
        return path
    mode = spec["mode"]
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65535, (h, w)).astype(np.uint16))
    else:
        image = Image.fromarray(rng.integers(0, 255, (h, w, 3)).astype(np.uint8)).convert(mode)
    image.save(path)
    return path


@ONE_EXAMPLE
@given(texts=st.lists(config_files(), min_size=CASES, max_size=CASES))
def test_generated_configuration_files(texts: list[str], tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("configs")  # no dataset here: a valid file ends at "no data folder"
    cases = []
    for i, text in enumerate(texts):
        (root / f"c{i}.yaml").write_text(text)
        cases.append(["train", "--config", root / f"c{i}.yaml", "--out", root / f"r{i}", "--no-progress"])
    results = run_cli_cases(cases, cwd=root, env=MEMORY)
    for result in results:
        assert_clean_exit(result, codes=(2,))
        config = result["argv"][2]
        assert config in result["err"] or "no data folder" in result["err"] or "flags" in result["err"], (
            result
        )
    assert max(r["rss"] for r in results) < CEILING


@ONE_EXAMPLE
@given(changes=st.lists(checkpoint_changes(), min_size=CASES, max_size=CASES))
def test_generated_checkpoint_headers_and_metadata(
    changes: list[dict], base_checkpoint: tuple[dict, dict], tmp_path_factory: pytest.TempPathFactory
):
    root = tmp_path_factory.mktemp("checkpoints")
    image = root / "x.png"
    Image.fromarray(np.full((80, 70), 120, np.uint8)).save(image)
    cases = []
    for i, change in enumerate(changes):
        ckpt = write_checkpoint(root / f"c{i}.safetensors", base_checkpoint, change)
        cases.append(["colorize", image, "--checkpoint", ckpt, "--out", root / f"o{i}", "--no-progress"])
    results = run_cli_cases(cases, env=MEMORY)
    for result in results:
        assert_clean_exit(result)
        if result["rc"] == 2:
            assert result["argv"][3] in result["err"], result  # the checkpoint is named
        else:
            assert (Path(result["argv"][5]) / "x.png").is_file()
    assert max(r["rss"] for r in results) < CEILING


@ONE_EXAMPLE
@given(specs=st.lists(image_specs(), min_size=CASES, max_size=CASES))
def test_generated_image_headers(specs: list[dict], tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("images")
    ckpt = untrained_checkpoint(root / "m.safetensors", ngf=4)
    cases = []
    for i, spec in enumerate(specs):
        data = root / f"d{i}"
        (data / "A").mkdir(parents=True)
        (data / "B").mkdir()
        image = write_image(data / "A", spec)
        Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(data / "B" / f"x{image.suffix}")
        cases.append(["data", data, "--json"])  # decodes every file: the training reader
        if not (spec["format"] == "tiff" and spec["declared"]):  # a real 60000² scene is just slow
            cases.append(["colorize", image, "--checkpoint", ckpt, "--out", root / f"o{i}", "--no-progress"])
    results = run_cli_cases(cases, env=MEMORY)
    for result in results:
        if result["argv"][0] == "data":
            assert result["rc"] in (0, 1) and not result["err"].strip(), result  # 1: unreadable listed
            report = json.loads(result["out"]) if result["out"].strip().startswith("{") else None
            assert report is None or all("\n" not in u["reason"] for u in report["unreadable"])
        else:
            assert_clean_exit(result)
    assert max(r["rss"] for r in results) < CEILING


def test_memory_probe_inputs_end_in_one_line(tmp_path: Path):
    """Issue 23's memory probes, small: files of a few kB that declare gigabytes of work (a PNG
    strip colorized as 1,500,000×256 tiles, a 19000² PNG header, a 256×400,000 GeoTIFF, a zip-bomb
    ``.pth``) and ONNX models sarcolor cannot feed, under the probe's 4 GB address-space limit and
    no SARCOLOR_MEMORY_LIMIT. Each is refused in one line naming the file (they ended in
    ``internal error: MemoryError`` or ``InvalidArgument``, or a grey PNG with exit status 0)."""
    from budget_support import constant_png, grey_png, onnx_model, sparse_geotiff, zip_bomb_pth

    ckpt = untrained_checkpoint(tmp_path / "m.safetensors", ngf=4)
    header = tmp_path / "declared.png"
    write_image(
        tmp_path,
        {"format": "png", "declared": True, "width": 19_000, "height": 19_000, "mode": "L", "seed": 0},
    )
    (tmp_path / "x.png").rename(header)
    files = [
        constant_png(tmp_path / "strip.png", 1_500_000, 8),
        header,
        sparse_geotiff(tmp_path / "wide.tif", 400_000, 256),
    ]
    cases = [
        ["colorize", f, "--checkpoint", ckpt, "--out", tmp_path / f"o{i}", "--no-progress"]
        for i, f in enumerate(files)
    ]
    bomb = zip_bomb_pth(tmp_path / "bomb.pth")
    cases.append(["import", "--from", "pix2pix", "--out", tmp_path / "bomb.safetensors", bomb])
    image = grey_png(tmp_path / "small.png")
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        models = []
    else:
        models = [
            onnx_model(tmp_path / f"{k}.onnx", ckpt, k)
            for k in ("fixed128", "two_channels", "grey_out", "x64")
        ]
    for i, model in enumerate(models):
        cases.append(["colorize", image, "--checkpoint", model, "--out", tmp_path / f"m{i}", "--no-progress"])
    named = [*files, bomb, *models]
    results = run_cli_cases(cases, address_space=4_000_000 * 1024, env={"SARCOLOR_MEMORY_LIMIT": ""})
    for path, result in zip(named, results, strict=True):
        assert_clean_exit(result, codes=(2,))
        assert str(path) in result["err"], result
    assert max(r["rss"] for r in results) < CEILING


def test_parser_and_band_probe_inputs_end_in_one_line(tiny_run: Path, tmp_path: Path):
    """Issue 23's items 12 and 17 through every command the probe ran them on: 900 nested
    brackets in a ``--config``, in checkpoint metadata and in a run's ``eval/test.json``,
    ``SARCOLOR_MAX_PIXELS=abc``, and ``--band VV`` on a 2-band GeoTIFF (they ended in ``internal
    error: RecursionError`` / ``ValueError``, or in "--band given 2 time(s)")."""
    import shutil

    from budget_support import grey_png
    from conftest import write_geotiff
    from test_probe_parsers import DEEP, _nested, _with_metadata  # the probe's hostile nesting

    image = grey_png(tmp_path / "sar.png")
    config = tmp_path / "deep.yaml"
    config.write_text(f"data:\n  terrains: {_nested(DEEP)}\n")
    plain = untrained_checkpoint(tmp_path / "plain.safetensors", ngf=4)
    deep_meta = _with_metadata(plain, tmp_path / "deep.safetensors", run=f'{{"x": {_nested(DEEP)}}}')
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "eval").mkdir(exist_ok=True)
    (run / "eval" / "test.json").write_text(f'{{"summary": {{"all": {_nested(DEEP)}}}}}')
    dual = np.random.default_rng(0).uniform(-25, -5, (2, 64, 64)).astype("float32")
    tif = write_geotiff(tmp_path / "dual.tif", dual, descriptions=("Sigma0_VH_db", "Sigma0_VV_db"))
    out = iter(tmp_path / f"out{i}" for i in range(100))
    refused = [  # one line naming the file, exit status 2
        ["train", "--config", config, "--out", next(out), "--steps", "1"],
        ["colorize", image, "--checkpoint", deep_meta, "--out", next(out)],
        ["evaluate", "--checkpoint", deep_meta, "--out", next(out) / "e.json"],
        ["models", deep_meta],
    ]
    working = [  # the hostile report is ignored ("not evaluated"); --band VV picks band 2
        ["models", run],
        ["colorize", image, "--checkpoint", run, "--out", next(out), "--no-progress"],
        ["colorize", tif, "--checkpoint", plain, "--band", "VV", "--out", next(out), "--no-progress"],
    ]
    results = run_cli_cases([*refused, *working], env=MEMORY)
    for result in results[: len(refused)]:
        assert_clean_exit(result, codes=(2,))
        assert "nested too deeply" in result["err"], result
    for result in results[len(refused) :]:
        assert_clean_exit(result, codes=(0,))
    assert "not evaluated" in results[len(refused)]["out"]
    [bad_env] = run_cli_cases(
        [["colorize", image, "--checkpoint", plain, "--out", next(out)]], env={"SARCOLOR_MAX_PIXELS": "abc"}
    )
    assert_clean_exit(bad_env, codes=(2,))
    assert "SARCOLOR_MAX_PIXELS='abc': expected" in bad_env["err"], bad_env
