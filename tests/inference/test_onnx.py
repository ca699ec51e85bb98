"""``sarcolor export`` and ONNX Runtime: an exported model colorizes like its checkpoint.

Needs the optional extra ``sarcolor[onnx]`` (``make test`` installs it); without it these tests
skip and say so. The last test checks, in a fresh interpreter, that the rest of sarcolor needs
none of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import one_line_error, run_cli, shared_path, write_geotiff
from sarcolor.checkpoint import read_meta, resolve_checkpoint
from sarcolor.data.io import read_image, to_uint8
from sarcolor.errors import SarcolorError
from sarcolor.inference.colorizer import Colorizer
from sarcolor.inference.onnx_export import ONNX_FORMAT, export_onnx
from sarcolor.inference.options import SceneOptions
from sarcolor.inference.scene import colorize_scene

MISSING = "the optional extra sarcolor[onnx] is not installed (pip install 'sarcolor[onnx]')"
onnx = pytest.importorskip("onnx", reason=MISSING)
ort = pytest.importorskip("onnxruntime", reason=MISSING)
pytest.importorskip("onnxscript", reason=MISSING)

REAL_S1 = ("real", "sen1-2", "v_2", "agri", "s1", "ROIs1868_summer_s1_59_p30.png")


@pytest.fixture(scope="module")
def exported(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained test model (60 steps) exported through the CLI."""
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    assert run_cli(f"export --checkpoint {trained_run} --out {out}") == 0
    return out


def test_export_is_a_folded_dynamic_graph_with_the_checkpoint_config(trained_run: Path, exported: Path):
    model = onnx.load(str(exported))
    onnx.checker.check_model(model)
    ops = {node.op_type for node in model.graph.node}
    assert ops <= {"Conv", "ConvTranspose", "LeakyRelu", "Relu", "Concat", "Tanh"}, ops  # BatchNorm folded
    assert {"Conv", "ConvTranspose"} <= ops
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [18]
    for value in (model.graph.input[0], model.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        assert [d.dim_param or d.dim_value for d in dims] == ["batch", dims[1].dim_value, "height", "width"]
    props = {p.key: p.value for p in model.metadata_props}
    meta = read_meta(resolve_checkpoint(trained_run))
    assert props["sarcolor.onnx"] == ONNX_FORMAT and props["format"] == "sarcolor-checkpoint/1"
    assert json.loads(props["config"]) == json.loads(meta.config.to_json())
    assert int(props["step"]) == meta.step == 60
    # dynamic batch and size: 3 tiles of 512×768 run as they are
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(-1, 1, (3, 1, 512, 768)).astype(np.float32)
    assert session.run(None, {"input": x})[0].shape == (3, 3, 512, 768)


def test_real_patch_within_one_level_of_the_checkpoint(trained_run: Path, exported: Path, tmp_path: Path):
    patch = shared_path(*REAL_S1)
    torch_rgb = to_uint8(Colorizer(trained_run, "cpu").colorize(read_image(patch))).astype(int)
    onnx_colorizer = Colorizer(exported, "cpu")
    assert onnx_colorizer.generator is None and onnx_colorizer.precision == "fp32"
    assert onnx_colorizer.config == Colorizer(trained_run, "cpu").config
    onnx_rgb = to_uint8(onnx_colorizer.colorize(read_image(patch))).astype(int)
    assert torch_rgb.std() > 2  # a trained model: colours that follow the input, not flat grey
    assert np.abs(torch_rgb - onnx_rgb).max() <= 1
    # and through the CLI, files in → files out (a non-square crop: tiles and blending too)
    crop = tmp_path / "crop.png"
    from PIL import Image

    Image.open(patch).crop((0, 0, 256, 200)).resize((300, 200)).save(crop)
    for name, ckpt in (("torch", trained_run), ("onnx", exported)):
        assert run_cli(f"colorize {crop} --checkpoint {ckpt} --out {tmp_path / name} --no-progress") == 0
    a = np.asarray(Image.open(tmp_path / "torch" / "crop.png")).astype(int)
    b = np.asarray(Image.open(tmp_path / "onnx" / "crop.png")).astype(int)
    assert a.shape == b.shape == (200, 300, 3) and np.abs(a - b).max() <= 1


def test_geotiff_scene_same_as_the_checkpoint(trained_run: Path, exported: Path, tmp_path: Path):
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:300, 0:420]
    db = (-13 + 6 * np.sin(xx / 40) + 4 * np.cos(yy / 33) + rng.normal(0, 2, xx.shape)).astype(np.float32)
    db[:, :50] = np.nan  # a nodata swath edge
    db[200:230, 300:] = -9999.0
    scene = write_geotiff(tmp_path / "scene.tif", db, nodata=-9999.0)
    options = SceneOptions(sar_scale="db")
    outs = {}
    for name, ckpt in (("torch", trained_run), ("onnx", exported)):
        outs[name] = tmp_path / f"{name}.tif"
        report = colorize_scene(Colorizer(ckpt, "cpu"), scene, outs[name], options, progress=False)
        assert report.tiles > 0
    with rasterio.open(outs["torch"]) as a, rasterio.open(outs["onnx"]) as b, rasterio.open(scene) as src:
        assert (a.crs, a.transform) == (b.crs, b.transform) == (src.crs, src.transform)
        assert np.array_equal(a.dataset_mask(), b.dataset_mask())
        valid = a.dataset_mask() > 0
        assert not valid[:, :50].any() and not valid[200:230, 300:].any() and valid.mean() > 0.8
        diff = np.abs(a.read().astype(int) - b.read().astype(int))
        assert diff.max() <= 1 and a.read()[:, valid].std() > 2


def test_onnx_model_refuses_what_it_cannot_do(exported: Path, tmp_path: Path, capsys):
    with pytest.raises(SarcolorError, match="eval mode only"):
        Colorizer(exported, "cpu", train_mode=True)
    with pytest.raises(SarcolorError, match=r"precision it was exported in \(fp32\), not bf16"):
        Colorizer(exported, "cpu", precision="bf16")
    plain = tmp_path / "plain.onnx"  # a valid ONNX model that sarcolor did not write
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["input"], ["output"])],
        "plain",
        [onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 1, 256, 256])],
        [onnx.helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, 1, 256, 256])],
    )
    onnx.save(onnx.helper.make_model(graph), str(plain))
    with pytest.raises(SarcolorError, match="not a sarcolor export"):
        Colorizer(plain, "cpu")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model at all")
    image = tmp_path / "in.png"
    from PIL import Image

    Image.new("L", (64, 64), 90).save(image)
    assert run_cli(f"colorize {image} --checkpoint {broken} --out {tmp_path / 'o'}") == 2
    one_line_error(capsys, "broken.onnx: not a readable ONNX model")
    with pytest.raises(SarcolorError, match=r"needs a \.onnx name"):
        export_onnx(exported, tmp_path / "model.bin")
    with pytest.raises(SarcolorError, match="already an ONNX model"):
        export_onnx(exported, tmp_path / "again.onnx")


PROBE = """
import sys
for name in ("onnx", "onnxruntime", "onnxscript"):
    sys.modules[name] = None  # as if the extra were not installed: importing them fails
import sarcolor.inference.onnx_export, sarcolor.inference.onnx_backend, sarcolor.inference.colorizer
from sarcolor.inference.onnx_export import export_onnx
from sarcolor.errors import SarcolorError
try:
    export_onnx(sys.argv[1], sys.argv[2])
except SarcolorError as exc:
    print("ERROR", exc)
"""


def test_without_the_extra_only_onnx_needs_it(trained_run: Path, tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(trained_run), str(tmp_path / "m.onnx")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "ERROR ONNX export and runtime need the optional onnx package: pip install 'sarcolor[onnx]'" in (
        done.stdout
    )
