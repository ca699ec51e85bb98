"""The decoded uint8 cache: batches equal to the DataLoader's, staleness, refusals, atomic builds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from sarcolor.config import Config, PreprocessConfig
from sarcolor.data import cache as cache_module
from sarcolor.data.augment import Augment
from sarcolor.data.cache import CacheMismatch, DeviceBatches, build_cache, ensure_cache, open_cache
from sarcolor.data.dataset import EpochBatchSampler, PairDataset, loader_options
from sarcolor.data.pairs import Pair
from sarcolor.data.records import Batch
from sarcolor.data.sources import discover_pairs
from sarcolor.errors import SarcolorError


@pytest.fixture()
def data(synthetic_v2: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic dataset (32 pairs of 256×256 PNGs), free to modify."""
    return Path(shutil.copytree(synthetic_v2, tmp_path / "v_2"))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the tests that only read: each source sensor is built once."""
    return tmp_path_factory.mktemp("cache")


def preprocess(**fields) -> PreprocessConfig:
    return Config().replace(preprocess=fields).preprocess


def loader_batch(pairs: list[Pair], cfg: PreprocessConfig, crop: int, augment, items) -> Batch:
    dataset = PairDataset(pairs, cfg, crop, augment)
    return next(iter(DataLoader(dataset, batch_sampler=[items], collate_fn=Batch.collate)))


@pytest.mark.parametrize(
    ("augment", "crop", "fields"),
    [
        (None, 256, {}),
        (Augment(flip=True, rotate90=True), 256, {}),
        (Augment(jitter=True), 256, {}),
        (Augment(), 288, {}),  # larger than the images: mirror padding and a partial mask
        (Augment(jitter=True), 96, {"input": "optical-l", "target": "lab"}),  # Lab is slow on a CPU
    ],
    ids=["plain", "flip-rot90", "jitter", "padded", "optical-l-lab-jitter"],
)
def test_device_batches_equal_the_dataloader(synthetic_v2: Path, shared_cache: Path, augment, crop, fields):
    pairs = discover_pairs(synthetic_v2).pairs
    cfg = preprocess(**fields)
    cache = ensure_cache(pairs, cfg, shared_cache, progress=False)
    batches = DeviceBatches(cache, pairs, cfg, crop, augment)
    sampler = iter(EpochBatchSampler(len(pairs), 4, seed=5))
    for _ in range(2):
        items = next(sampler)
        want, got = loader_batch(pairs, cfg, crop, augment, items), batches.batch(items)
        assert type(got) is type(want) is Batch  # one record, from the cache and from the files
        assert got.all_valid == bool(want.mask.all())  # decided without looking at the mask
        for key, value in vars(want).items():
            if isinstance(value, torch.Tensor):  # same CPU arithmetic: exactly equal
                assert torch.equal(getattr(got, key), value), key
            else:
                assert getattr(got, key) == value, key
    if crop > 256:
        assert 0 < float(got.mask.mean()) < 1


def test_iterate_reads_ahead_in_order(synthetic_v2: Path, shared_cache: Path):
    pairs = discover_pairs(synthetic_v2).pairs
    cfg = preprocess()
    batches = DeviceBatches(ensure_cache(pairs, cfg, shared_cache), pairs, cfg, 256, Augment())
    sampler = EpochBatchSampler(len(pairs), 8, seed=1)
    expected = [batches.batch(items) for items, _ in zip(sampler, range(5), strict=False)]
    streamed = batches.iterate(sampler)
    for want in expected:
        got = next(streamed)
        assert got.name == want.name and torch.equal(got.input, want.input)
    streamed.close()


def test_cache_holds_the_decoded_bytes(data: Path, tmp_path: Path):
    pairs = discover_pairs(data).pairs
    cache = build_cache(pairs, preprocess(), tmp_path / "cache", progress=False)
    assert cache.pixels.shape == (32, 1 + 3 + 1, 256, 256) and cache.pixels.dtype == np.uint8
    row = cache.pixels[cache.rows_of(pairs[3:4])[0]]
    assert np.array_equal(row[0], np.asarray(Image.open(pairs[3].s1)))
    assert np.array_equal(row[1:4].transpose(1, 2, 0), np.asarray(Image.open(pairs[3].s2)))
    assert (row[4] == 255).all()  # every pixel of a PNG is valid


def test_a_changed_file_is_never_served_from_the_cache(data: Path, tmp_path: Path):
    pairs = discover_pairs(data).pairs
    cfg = preprocess()
    folder = tmp_path / "cache"
    build_cache(pairs, cfg, folder, progress=False)
    target = pairs[5].s2
    pixels = np.asarray(Image.open(target)).copy()
    pixels[:8] = 255 - pixels[:8]
    Image.fromarray(pixels).save(target)
    info = target.stat()
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns + 1))  # even on coarse-clock filesystems

    with pytest.raises(CacheMismatch, match="changed since the cache was built"):
        open_cache(folder, pairs, cfg)
    said: list[str] = []
    rebuilt = ensure_cache(pairs, cfg, folder, progress=False, echo=said.append)
    assert said and "rebuilding" in said[0]
    row = rebuilt.pixels[rebuilt.rows_of(pairs[5:6])[0]]
    assert np.array_equal(row[1:4].transpose(1, 2, 0), pixels)


def test_subsets_and_other_sources(data: Path, tmp_path: Path):
    pairs = discover_pairs(data).pairs
    folder = tmp_path / "cache"
    build_cache(pairs[:20], preprocess(), folder, progress=False)
    assert len(open_cache(folder, pairs[4:12], preprocess()).rows_of(pairs[4:12])) == 8  # another split
    with pytest.raises(CacheMismatch, match="not in the cache"):
        open_cache(folder, pairs, preprocess())
    with pytest.raises(CacheMismatch, match="no cache"):  # L* input reads the optical file
        open_cache(folder, pairs[:20], preprocess(input="optical-l"))
    optical = ensure_cache(pairs[:20], preprocess(input="optical-l"), folder, progress=False)
    assert optical.pixels.shape[1] == 3 + 3 + 1
    assert open_cache(folder, pairs[:20], preprocess()).pixels.shape[1] == 1 + 3 + 1  # both kept


def test_a_16_bit_file_is_refused_by_name(data: Path, tmp_path: Path):
    pairs = discover_pairs(data).pairs
    deep = (np.arange(256 * 256, dtype=np.uint16).reshape(256, 256) * 7) | 1  # not multiples of 257
    Image.fromarray(deep).save(pairs[9].s1)
    with pytest.raises(SarcolorError, match=rf"{pairs[9].s1.name}: values are not 8-bit"):
        build_cache(pairs, preprocess(), tmp_path / "cache", progress=False)
    assert not any((tmp_path / "cache").iterdir())  # no cache, no leftovers


def test_an_unreadable_file_is_named(data: Path, tmp_path: Path):
    pairs = discover_pairs(data).pairs
    pairs[20].s2.write_bytes(pairs[20].s2.read_bytes()[:300])  # truncated
    with pytest.raises(SarcolorError, match=rf"{pairs[20].s2.name}: cannot read image"):
        build_cache(pairs, preprocess(), tmp_path / "cache", progress=False)
    assert not any((tmp_path / "cache").iterdir())


def test_other_sizes_and_geotiff_pairs_are_refused(data: Path, tmp_path: Path):
    pairs = discover_pairs(data).pairs
    for path in (pairs[2].s1, pairs[2].s2):
        Image.open(path).resize((128, 128)).save(path)
    with pytest.raises(SarcolorError, match=rf"{pairs[2].s1.name}: .*128×128.*256×256"):
        build_cache(pairs, preprocess(), tmp_path / "cache", progress=False)
    geo = Pair(Path("p/S1/x/x_VV.tif"), Path("p/S2/y/y_B04.tif"), "x", "x", source="bigearthnet")
    with pytest.raises(SarcolorError, match=r"x_VV\.tif: bigearthnet GeoTIFF pairs are not cached"):
        build_cache([geo], preprocess(), tmp_path / "cache", progress=False)


def test_an_interrupted_build_leaves_no_cache(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pairs = discover_pairs(data).pairs
    folder = tmp_path / "cache"
    real_row = cache_module._row
    calls = []

    def interrupted(pair, *args):
        calls.append(pair)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return real_row(pair, *args)

    monkeypatch.setattr(cache_module, "_row", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_cache(pairs, preprocess(), folder, progress=False, workers=1)
    assert list(folder.iterdir()) == []
    with pytest.raises(CacheMismatch, match="no cache"):
        open_cache(folder, pairs, preprocess())

    monkeypatch.setattr(cache_module, "_row", real_row)
    build_cache(pairs, preprocess(), folder, progress=False)
    monkeypatch.setattr(cache_module, "_row", interrupted)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):  # a rebuild interrupted: the previous cache stays whole
        build_cache(pairs, preprocess(), folder, progress=False, workers=1)
    assert [p.name for p in folder.iterdir()] == ["s1"]
    assert open_cache(folder, pairs, preprocess()).pixels.shape[0] == 32


def test_loader_options():
    assert loader_options(0, torch.device("cpu")) == {"num_workers": 0, "pin_memory": False}
    cuda = loader_options(4, torch.device("cuda"))
    assert cuda == {"num_workers": 4, "pin_memory": True, "persistent_workers": True, "prefetch_factor": 4}


def test_training_from_the_cache_equals_training_from_files(synthetic_v2: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from conftest import tiny_config
    from sarcolor.training.trainer import train

    plain = tiny_config(synthetic_v2, steps=3)
    plain = plain.replace(data={"jitter": True})  # every augmentation path: jitter, crop, flips, turns
    assert plain.data.cache == "auto"  # auto reads files on a CPU
    files = train(plain, tmp_path / "files", progress=False, echo=lambda _: None)
    assert not (synthetic_v2 / ".sarcolor-cache").exists()

    cached_cfg = tiny_config(synthetic_v2, steps=3).replace(
        data={"jitter": True, "cache": str(tmp_path / "cache")}
    )
    lines: list[str] = []
    cached = train(cached_cfg, tmp_path / "cached", progress=False, echo=lines.append)
    assert any(line.startswith("decoded-pair cache:") for line in lines)
    assert (tmp_path / "cache").is_dir()
    a, b = load_file(str(files.checkpoint)), load_file(str(cached.checkpoint))
    for key in a:
        if key.startswith(("G.", "D.")):
            assert torch.equal(a[key], b[key]), key
