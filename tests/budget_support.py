"""Small real files that declare big work (issue 23's memory probes), for the budget tests and the
fuzz harness: valid PNGs of constant pixels (19000² in 400 kB), sparse GeoTIFFs (no block
written), a zip-bomb ``.pth`` and ONNX models whose signature sarcolor cannot feed."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np


def constant_png(path: Path, width: int, height: int, value: int = 100) -> Path:
    """A valid 8-bit grey PNG of ``width × height`` pixels of ``value``, streamed: never in memory."""
    row = b"\0" + bytes([value]) * width  # filter byte "none", then the pixels
    per_block = max(1, (1 << 22) // len(row))
    compressor, parts, left = zlib.compressobj(9), [], height
    while left:
        n = min(per_block, left)
        parts.append(compressor.compress(row * n))
        left -= n
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunks = ((b"IHDR", header), (b"IDAT", b"".join(parts)), (b"IEND", b""))
    body = b"".join(
        struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d)) for k, d in chunks
    )
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def sparse_geotiff(path: Path, width: int, height: int, dtype: str = "float32") -> Path:
    """A 1-band tiled GeoTIFF with no block written: a few kB on disk, zeros (valid) when read."""
    import rasterio
    from rasterio.transform import Affine

    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype=dtype, tiled=True)
    profile.update(blockxsize=256, blockysize=256, sparse_ok=True, compress="deflate")
    profile.update(crs="EPSG:32631", transform=Affine(10, 0, 500000, 0, -10, 5000000))
    with rasterio.open(path, "w", **profile):
        pass
    return path


def zip_bomb_pth(path: Path, inflated: int = 64 << 20) -> Path:
    """A real ``torch.save`` archive whose tensor record is replaced by ``inflated`` bytes of zeros,
    deflated (``torch.save`` stores records uncompressed; this one inflates ~1000×)."""
    import torch

    plain = path.with_suffix(".plain.pth")
    torch.save({"w": torch.zeros(inflated // 4)}, plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            if info.filename.endswith("/data/0"):
                packed = zipfile.ZipInfo(info.filename)
                packed.compress_type = zipfile.ZIP_DEFLATED
                with dst.open(packed, "w", force_zip64=True) as out:
                    zero = bytes(1 << 20)
                    for _ in range(inflated >> 20):
                        out.write(zero)
            else:
                dst.writestr(info, src.read(info.filename))
    plain.unlink()
    return path


def onnx_model(path: Path, checkpoint: Path, kind: str) -> Path:
    """An ONNX model carrying ``checkpoint``'s metadata (1 SAR band → RGB) whose graph is ``kind``:

    ``ok`` (the band repeated to 3 channels: what sarcolor expects), ``fixed128`` (input fixed
    to 128²), ``two_channels`` (a 2-channel input), ``grey_out`` (1 output channel) or ``x64``
    (the output 64× the input's size).
    """
    import onnx
    from onnx import TensorProto, helper

    from sarcolor.checkpoint import meta_strings, read_meta
    from sarcolor.inference.onnx_export import ONNX_FORMAT

    side: list[int | str] = [128, 128] if kind == "fixed128" else ["height", "width"]
    channels = 2 if kind == "two_channels" else 1
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, *side])
    nodes, inits = [], []
    if kind == "grey_out":
        nodes.append(helper.make_node("Identity", ["input"], ["output"]))
        out_shape: list[int | str | None] = ["batch", 1, *side]
    elif kind == "x64":
        nodes.append(helper.make_node("Concat", ["input", "input", "input"], ["rgb"], axis=1))
        inits.append(helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 64, 64]))
        nodes.append(helper.make_node("Resize", ["rgb", "", "scales"], ["output"], mode="nearest"))
        out_shape = ["batch", 3, None, None]
    else:
        nodes.append(helper.make_node("Concat", ["input"] * (3 // channels), ["output"], axis=1))
        out_shape = ["batch", 3 if channels == 1 else 2, *side]
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)
    graph = helper.make_graph(nodes, kind, [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    props = {
        **meta_strings(read_meta(checkpoint)),
        "sarcolor.onnx": ONNX_FORMAT,
        "sarcolor.precision": "fp32",
    }
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(model, str(path))
    return path


def grey_png(path: Path, side: int = 64) -> Path:
    """A small real grey PNG to colorize."""
    from PIL import Image

    Image.fromarray(np.full((side, side), 120, np.uint8)).save(path)
    return path
