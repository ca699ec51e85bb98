"""Tests of the synthetic SEN1-2-like dataset generator (real PNG files in tmp_path)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sarcolor import synthetic as syn

NAME_RE = re.compile(r"^(ROIs\d+)_(spring|summer|fall|winter)_(s1|s2)_(\d+)_p(\d+)\.png$")


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _box_mean(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over (2r+1)^2 windows (edge padded), same shape as ``a``."""
    k = 2 * r + 1
    c = np.pad(a.astype(np.float64), ((r + 1, r), (r + 1, r)), mode="edge").cumsum(0).cumsum(1)
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / k**2


def _linear(sar_u8: np.ndarray) -> np.ndarray:
    return 10.0 ** (syn.uint8_to_db(sar_u8).astype(np.float64) / 10.0)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("syn")
    return syn.make_synthetic_dataset(root, scenes_per_terrain=2, patches_per_scene=5, patch_size=48, seed=3)


# --- layout -----------------------------------------------------------------------------------
def test_layout_names_modes_and_sizes(small_dataset: Path) -> None:
    assert small_dataset.name == "v_2"
    assert sorted(p.name for p in small_dataset.iterdir()) == sorted(syn.TERRAINS)
    scenes: dict[tuple[str, str, str], set[int]] = {}
    for terrain in syn.TERRAINS:
        s1 = sorted((small_dataset / terrain / "s1").iterdir())
        s2 = sorted((small_dataset / terrain / "s2").iterdir())
        assert len(s1) == len(s2) == 2 * 5
        assert {p.name.replace("_s1_", "_s2_") for p in s1} == {p.name for p in s2}
        for p in s1:
            m = NAME_RE.match(p.name)
            assert m is not None, p.name
            roi, season, sensor, scene, patch = m.groups()
            assert sensor == "s1"
            scenes.setdefault((roi, season, scene), set()).add(int(patch))
            with Image.open(p) as im:
                assert im.mode == "L" and im.size == (48, 48)
            with Image.open(p.parent.parent / "s2" / p.name.replace("_s1_", "_s2_")) as im:
                assert im.mode == "RGB" and im.size == (48, 48)
    # Scene ids are unique across terrains; every scene has patches p1..p5.
    assert len(scenes) == 2 * len(syn.TERRAINS)
    assert len({scene for _, _, scene in scenes}) == len(scenes)
    assert all(patches == {1, 2, 3, 4, 5} for patches in scenes.values())
    assert len({season for _, season, _ in scenes}) == 4


def test_terrain_subset_and_counts(tmp_path: Path) -> None:
    out = syn.make_synthetic_dataset(
        tmp_path, scenes_per_terrain=1, patches_per_scene=1, patch_size=32, terrains=["urban"]
    )
    assert out == tmp_path / "v_2"
    assert [p.name for p in out.iterdir()] == ["urban"]
    assert len(list((out / "urban" / "s1").glob("*.png"))) == 1
    assert len(list((out / "urban" / "s2").glob("*.png"))) == 1


# --- determinism --------------------------------------------------------------------------------
def _contents(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_same_seed_gives_identical_bytes(tmp_path: Path, small_dataset: Path) -> None:
    again = syn.make_synthetic_dataset(
        tmp_path / "a", scenes_per_terrain=2, patches_per_scene=5, patch_size=48, seed=3, workers=1
    )
    assert _contents(again) == _contents(small_dataset)


def test_different_seed_gives_different_content(tmp_path: Path, small_dataset: Path) -> None:
    other = syn.make_synthetic_dataset(
        tmp_path / "b", scenes_per_terrain=2, patches_per_scene=5, patch_size=48, seed=4
    )
    a, b = _contents(small_dataset), _contents(other)
    assert a.keys() == b.keys()  # names do not depend on the seed
    for name in a:
        assert not np.array_equal(_load(small_dataset / name), _load(other / name)), name


def test_render_scene_is_deterministic_and_scenes_differ() -> None:
    sar1, opt1 = syn.render_scene("agri", 96, 7)
    sar2, opt2 = syn.render_scene("agri", 96, 7)
    sar3, opt3 = syn.render_scene("agri", 96, 8)
    assert sar1.shape == (96, 96) and sar1.dtype == np.uint8
    assert opt1.shape == (96, 96, 3) and opt1.dtype == np.uint8
    assert np.array_equal(sar1, sar2) and np.array_equal(opt1, opt2)
    assert not np.array_equal(sar1, sar3) and not np.array_equal(opt1, opt3)


# --- scenes are coherent maps -------------------------------------------------------------------
def test_neighbouring_patches_are_cut_from_one_map(small_dataset: Path) -> None:
    """With 5 patches per scene the grid is p1 p2 p3 / p4 p5: the optical image continues across
    the cuts p1|p2 and p1/p4 (the jump across a cut is like the step between two neighbouring
    rows or columns inside a patch), while a patch of another scene does not continue it."""
    cut, inside, foreign = [], [], []
    for terrain in syn.TERRAINS:
        folder = small_dataset / terrain / "s2"
        stems = sorted(n.name[: -len("_p1.png")] for n in folder.glob("*_p1.png"))
        assert len(stems) == 2
        p = [{k: _load(folder / f"{s}_p{k}.png").astype(float) for k in (1, 2, 4)} for s in stems]
        for a, b in ((0, 1), (1, 0)):
            cut.append(np.abs(p[a][1][:, -1] - p[a][2][:, 0]).mean())  # p2 is right of p1
            cut.append(np.abs(p[a][1][-1] - p[a][4][0]).mean())  # p4 is below p1
            inside.append(np.abs(np.diff(p[a][1], axis=1)).mean())
            inside.append(np.abs(np.diff(p[a][1], axis=0)).mean())
            foreign.append(np.abs(p[a][1][:, -1] - p[b][2][:, 0]).mean())
            foreign.append(np.abs(p[a][1][-1] - p[b][4][0]).mean())
    assert np.mean(cut) < 1.5 * np.mean(inside), (np.mean(cut), np.mean(inside))
    assert np.mean(foreign) > 2.0 * np.mean(cut), (np.mean(foreign), np.mean(cut))


def test_patches_of_one_scene_are_more_alike_than_patches_of_different_scenes(
    small_dataset: Path,
) -> None:
    means: dict[str, list[np.ndarray]] = {}
    for path in sorted(small_dataset.rglob("s2/*.png")):
        scene = path.name.rsplit("_p", 1)[0]
        means.setdefault(scene, []).append(_load(path).reshape(-1, 3).mean(0))
    within, across = [], []
    keys = sorted(means)
    for i, a in enumerate(keys):
        for j, b in enumerate(keys):
            for x in means[a]:
                for y in means[b]:
                    d = float(np.linalg.norm(x - y))
                    if i == j:
                        within.append(d)
                    elif i < j:
                        across.append(d)
    assert np.mean(within) < 0.5 * np.mean(across)


# --- SAR physics and class information --------------------------------------------------------
def test_sar_mean_per_class_follows_backscatter_order() -> None:
    classes = np.repeat(np.arange(syn.N_CLASSES, dtype=np.uint8), 64)[None].repeat(96, 0)
    lin = _linear(syn.render_sar(classes, np.random.default_rng(0)))
    mean_db = {c: 10 * np.log10(lin[:, 64 * c + 4 : 64 * c + 60].mean()) for c in range(syn.N_CLASSES)}
    for c in range(syn.N_CLASSES):  # class level +- regional variation (about 1 dB)
        assert abs(mean_db[c] - syn.SAR_DB[c]) < 2.5, (syn.CLASS_NAMES[c], mean_db[c])
    order = [syn.WATER, syn.ROAD, syn.SAND, syn.GRASS, syn.FOREST, syn.BUILDING]
    assert [mean_db[c] for c in order] == sorted(mean_db[c] for c in order)
    assert min(mean_db.values()) == mean_db[syn.WATER]
    assert max(mean_db.values()) in (mean_db[syn.BUILDING], mean_db[syn.ROOF_RED])


def test_sar_classes_separable_after_local_averaging() -> None:
    """Nearest class level classification: poor per pixel (strong speckle), good on 8x8 block
    means (in linear intensity)."""
    order = np.array([syn.WATER, syn.ROAD, syn.BARE, syn.GRASS, syn.FOREST, syn.BUILDING])
    classes = np.repeat(order.astype(np.uint8), 128)[None].repeat(128, 0)
    sar = syn.render_sar(classes, np.random.default_rng(1))
    levels = syn.SAR_DB[order]

    def classify(db: np.ndarray) -> np.ndarray:
        return order[np.abs(db[..., None] - levels).argmin(axis=-1)]

    pixel_acc = (classify(syn.uint8_to_db(sar)) == classes).mean()
    block_db = 10 * np.log10(_linear(sar).reshape(16, 8, -1, 8).mean(axis=(1, 3)))
    block_acc = (classify(block_db) == classes[::8, ::8]).mean()
    assert pixel_acc < 0.8, pixel_acc
    assert block_acc > 0.9, block_acc


@pytest.mark.parametrize("looks", [1.0, 4.0])
def test_speckle_coefficient_of_variation(looks: float) -> None:
    classes = np.full((256, 256), syn.GRASS, dtype=np.uint8)
    lin = _linear(syn.render_sar(classes, np.random.default_rng(2), looks=looks))
    cv = lin.std() / lin.mean()
    assert abs(cv - 1 / np.sqrt(looks)) < 0.12 / np.sqrt(looks), cv
    # Speckle is multiplicative and independent per pixel: the neighbour correlation of the
    # intensity ratio to its local mean is small.
    ratio = lin / _box_mean(lin, 7)
    r = np.corrcoef(ratio[:, :-2].ravel(), ratio[:, 2:].ravel())[0, 1]
    assert abs(r) < 0.1


def test_more_looks_means_less_speckle() -> None:
    classes = np.full((192, 192), syn.FOREST, dtype=np.uint8)
    cvs = []
    for looks in (1.0, 4.0, 16.0):
        lin = _linear(syn.render_sar(classes, np.random.default_rng(3), looks=looks))
        cvs.append(lin.std() / lin.mean())
    assert cvs[0] > cvs[1] > cvs[2]
    assert cvs[2] < 0.35


def test_sar_uint8_mapping_convention() -> None:
    assert syn.DB_MIN == -25.0 and syn.DB_MAX == 0.0
    db = np.array([-40.0, -25.0, -12.5, 0.0, 3.0])
    assert syn.db_to_uint8(db).tolist() == [0, 0, 128, 255, 255]
    assert np.allclose(syn.uint8_to_db(np.array([0, 255], dtype=np.uint8)), [-25.0, 0.0])


# --- optical / SAR alignment and learnability --------------------------------------------------
def _scene_with(terrain: str, cls: int, size: int = 192) -> tuple[np.ndarray, ...]:
    for seed in range(40):
        sar, opt, classes = syn.render_labelled_scene(terrain, size, seed)
        if (classes == cls).mean() > 0.01:
            return sar, opt, classes
    raise AssertionError(f"no {terrain} scene with {syn.CLASS_NAMES[cls]}")


def test_render_labelled_scene_matches_render_scene() -> None:
    sar, opt, classes = syn.render_labelled_scene("urban", 96, 5)
    sar2, opt2 = syn.render_scene("urban", 96, 5)
    assert np.array_equal(sar, sar2) and np.array_equal(opt, opt2)
    assert classes.shape == (96, 96) and classes.dtype == np.uint8
    assert classes.max() < syn.N_CLASSES


def test_water_is_dark_in_both_modalities() -> None:
    sar, opt, classes = _scene_with("agri", syn.WATER)
    water = classes == syn.WATER
    lin = _box_mean(_linear(sar), 1)
    lum = opt.astype(float).mean(axis=2)
    assert np.median(lin[water]) < 0.25 * np.median(lin[~water])
    assert lum[water].mean() < 0.6 * lum[~water].mean()
    assert opt[water].astype(float).mean(0)[2] > opt[water].astype(float).mean(0)[0]  # bluish


def test_optical_and_sar_are_aligned() -> None:
    """Both images follow the same class map pixel for pixel: the correlation with the class
    means is highest at zero shift."""
    sar, opt, classes = _scene_with("urban", syn.BUILDING)
    expected_db = syn.SAR_DB[classes].astype(float)
    expected_lum = syn.OPTICAL_RGB[classes].mean(axis=-1).astype(float)
    got_db = 10 * np.log10(_box_mean(_linear(sar), 1))
    got_lum = opt.astype(float).mean(axis=2)

    def corr(a: np.ndarray, b: np.ndarray, shift: int) -> float:
        return float(np.corrcoef(a[:, shift:].ravel(), b[:, : a.shape[1] - shift].ravel())[0, 1])

    for got, expected in ((got_db, expected_db), (got_lum, expected_lum)):
        aligned = corr(got, expected, 0)
        assert aligned > 0.6
        assert aligned > corr(got, expected, 6) + 0.1


def test_sar_predicts_optical_colour_better_than_the_mean() -> None:
    """A trivial per-pixel model (local mean backscatter -> average colour, fitted on some scenes)
    beats predicting the mean colour on other scenes by a wide margin."""

    def pairs(seeds: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        feats, colours = [], []
        for terrain in syn.TERRAINS:
            for seed in seeds:
                sar, opt = syn.render_scene(terrain, 160, seed)
                feats.append(10 * np.log10(_box_mean(_linear(sar), 3)).ravel())
                colours.append(opt.reshape(-1, 3).astype(float))
        return np.concatenate(feats), np.concatenate(colours)

    bins = np.linspace(-25, 0, 51)
    f_train, y_train = pairs((1, 2))
    f_test, y_test = pairs((21, 22))
    b_train, b_test = np.digitize(f_train, bins), np.digitize(f_test, bins)
    lut = np.array(
        [
            y_train[b_train == b].mean(0) if (b_train == b).any() else y_train.mean(0)
            for b in range(len(bins) + 1)
        ]
    )
    mse_model = ((lut[b_test] - y_test) ** 2).mean()
    mse_mean = ((y_train.mean(0) - y_test) ** 2).mean()
    assert mse_model < 0.7 * mse_mean, (mse_model, mse_mean)


# --- land cover and the optical palette ---------------------------------------------------------
@pytest.mark.parametrize("terrain", syn.TERRAINS)
def test_land_cover_map_shapes_and_character(terrain: str) -> None:
    classes = syn.land_cover_map(terrain, 256, np.random.default_rng(11))
    assert classes.shape == (256, 256) and classes.dtype == np.uint8
    assert classes.max() < syn.N_CLASSES
    frac = np.bincount(classes.ravel(), minlength=syn.N_CLASSES) / classes.size
    crops = frac[[syn.CROP_A, syn.CROP_B, syn.CROP_C, syn.CROP_D, syn.SOIL]].sum()
    bare = frac[[syn.SAND, syn.BARE, syn.ROCK]].sum()
    grass = frac[[syn.GRASS, syn.GRASS_DRY, syn.SHRUB, syn.FOREST]].sum()
    built = frac[[syn.BUILDING, syn.ROOF_RED]].sum()
    dominant = {
        "agri": crops,
        "barrenland": bare,
        "grassland": grass,
        "urban": built + frac[syn.ROAD],
    }
    assert dominant[terrain] > 0.35, (terrain, frac)
    assert (built > 0.1) == (terrain == "urban")


def test_optical_colours_are_sentinel2_like() -> None:
    classes = np.repeat(np.arange(syn.N_CLASSES, dtype=np.uint8), 32)[None].repeat(32, 0)
    opt = syn.render_optical(classes, np.random.default_rng(0)).astype(float)
    mean = {c: opt[:, 32 * c + 4 : 32 * c + 28].reshape(-1, 3).mean(0) for c in range(syn.N_CLASSES)}
    assert np.all(np.abs(mean[syn.WATER] - [30, 45, 60]) < 15)
    for c in (syn.GRASS, syn.CROP_A, syn.FOREST):  # vegetation: green dominates, dark
        r, g, b = mean[c]
        assert g > r and g > b and g < 140
    for c in (syn.SAND, syn.BARE, syn.SOIL):  # bare soil: r > g > b
        r, g, b = mean[c]
        assert r > g > b
    assert mean[syn.BUILDING].mean() > mean[syn.ROAD].mean() + 30


def test_smooth_noise_is_normalised_and_smooth() -> None:
    n = syn.smooth_noise((200, 300), 40, np.random.default_rng(0), octaves=3)
    assert n.shape == (200, 300) and n.dtype == np.float32
    assert abs(float(n.mean())) < 0.1 and abs(float(n.std()) - 1) < 0.1
    assert np.abs(np.diff(n, axis=1)).mean() < 0.2  # neighbouring pixels are close


# --- errors -------------------------------------------------------------------------------------
def test_invalid_terrain_names_the_valid_ones(tmp_path: Path) -> None:
    calls = [
        lambda: syn.land_cover_map("desert", 64, np.random.default_rng(0)),
        lambda: syn.render_scene("desert", 64, 0),
        lambda: syn.make_synthetic_dataset(tmp_path, terrains=("agri", "desert")),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="desert") as info:
            call()
        for terrain in syn.TERRAINS:
            assert terrain in str(info.value)
    assert not (tmp_path / "v_2").exists()  # validated before anything is written


def test_invalid_counts_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="patches_per_scene"):
        syn.make_synthetic_dataset(tmp_path, patches_per_scene=0)
    with pytest.raises(ValueError, match="looks"):
        syn.render_sar(np.zeros((4, 4), np.uint8), np.random.default_rng(0), looks=0)
