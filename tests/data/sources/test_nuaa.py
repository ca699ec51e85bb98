"""The NUAA layout (Zhang et al. 2020): class folders, sar_<n> ↔ op_<n>, the authors' test split kept."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import shared_path
from sarcolor.config import PreprocessConfig
from sarcolor.data.sources import discover_pairs, load_sample, source_of
from sarcolor.data.split import split_scenes


def write_nuaa(root: Path, layout: dict[tuple[str, str], list[int]], seed: int = 0) -> Path:
    """Real 32×32 JPEG pairs: ``layout[(class, part)]`` lists the file numbers; grey SAR and optical."""
    rng = np.random.default_rng(seed)
    for (terrain, part), numbers in layout.items():
        for n in numbers:
            for side, prefix in (("A", "sar"), ("B", "op")):
                path = root / terrain / f"{part}_{side}" / f"{prefix}_{n}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8), "L").save(path, quality=95)
    return root


def test_pairs_by_number_with_class_as_terrain(tmp_path: Path):
    root = write_nuaa(tmp_path, {("forest", "train"): [2, 10, 100], ("river", "train"): [7]})
    (root / "river" / "train_B" / "op_8.jpg").write_bytes(
        (root / "river" / "train_B" / "op_7.jpg").read_bytes()
    )
    found = discover_pairs(root)
    assert found.layout == "nuaa" and found.terrains == ["forest", "river"]
    assert [p.name for p in found.pairs] == [
        "forest_train_10",
        "forest_train_100",
        "forest_train_2",
        "river_train_7",
    ]
    for pair in found.pairs:
        assert pair.s1.name.removeprefix("sar_") == pair.s2.name.removeprefix("op_")
        assert pair.split_group == pair.name and pair.dataset_split is None
    assert found.unpaired == [root / "river" / "train_B" / "op_8.jpg"]
    assert source_of(found.pairs[0]).prediction_stem(found.pairs[0]) == "forest_train_10"


def test_one_class_folder_is_a_root_too(tmp_path: Path):
    root = write_nuaa(tmp_path, {("gorge", "train"): [1, 2]})
    found = discover_pairs(root / "gorge")
    assert found.layout == "nuaa" and [p.terrain for p in found.pairs] == ["gorge", "gorge"]


def test_test_folders_are_the_test_split(tmp_path: Path):
    """The authors' test_* files are exactly the test split; val is carved from train_*."""
    root = write_nuaa(tmp_path, {("forest", "train"): list(range(20)), ("forest", "test"): [0, 1, 2]})
    found = discover_pairs(root)
    assert len(found.pairs) == 23
    assert Counter(p.dataset_split for p in found.pairs) == {None: 20, "test": 3}
    split = split_scenes(found.pairs, val_fraction=0.2, test_fraction=0.1, seed=3)
    assert split["test"] == ["forest_test_0", "forest_test_1", "forest_test_2"]
    assert len(split["val"]) == 5 and len(split["train"]) == 15  # 0.2 of all 23 pairs, rounded up
    assert all("_train_" in g for g in split["val"] + split["train"])


def test_misnamed_and_half_folders_are_reported(tmp_path: Path):
    root = write_nuaa(tmp_path, {("forest", "train"): [1]})
    (root / "forest" / "train_A" / "op_5.jpg").write_bytes(b"")
    (root / "forest" / "test_A").mkdir()
    found = discover_pairs(root)
    assert len(found.pairs) == 1
    assert any("op_5.jpg: not named sar_<n>" in p for p in found.problems)
    assert any("test_A/ has no test_B/" in p for p in found.problems)


def test_loads_grey_jpeg_pairs(tmp_path: Path):
    root = write_nuaa(tmp_path, {("resident", "train"): [3]})
    pair = discover_pairs(root).pairs[0]
    sample = load_sample(pair, PreprocessConfig())
    assert sample.source.shape == (1, 32, 32) and sample.rgb.shape == (3, 32, 32)
    grey = np.asarray(Image.open(pair.s2), dtype=np.float32) / 255.0
    np.testing.assert_allclose(sample.rgb[1].numpy(), grey, atol=1e-6)


def test_real_nuaa_training_files():
    root = shared_path("real", "sen1-2-nuaa")
    found = discover_pairs(root)
    assert found.layout == "nuaa" and len(found.pairs) == 1800
    assert found.unpaired == [] and found.problems == []
    assert Counter(p.terrain for p in found.pairs) == {
        "agriculture": 413,
        "forest": 449,
        "gorge": 428,
        "resident": 206,
        "river": 304,
    }
    split = split_scenes(found.pairs, val_fraction=0.1, test_fraction=0.1, seed=0)
    assert {k: len(v) for k, v in split.items()} == {"train": 1440, "val": 180, "test": 180}
    sample = load_sample(found.pairs[0], PreprocessConfig())
    assert sample.source.shape == (1, 256, 256)
    assert bool((sample.rgb[0] == sample.rgb[2]).all())  # the optical files are grey
