"""One generator conditioned on the terrain: it trains, is stored with its terrains, and colorizes
differently per terrain it is told (real runs on the synthetic data, through the CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import one_line_error, run_cli, tiny_config
from sarcolor.checkpoint import read_meta, resolve_checkpoint
from sarcolor.data.io import read_image
from sarcolor.errors import SarcolorError
from sarcolor.evaluation.evaluate import evaluate
from sarcolor.inference.colorizer import Colorizer
from sarcolor.inference.modelset import load_registry
from sarcolor.models import build_generator
from sarcolor.models.conditioned import FiLMUNetGenerator
from sarcolor.models.terrain_condition import decide_terrains, one_hot
from sarcolor.training.trainer import train

TERRAINS = ["agri", "barrenland", "grassland", "urban"]


@pytest.fixture(scope="module", params=["input", "bottleneck"])
def conditioned_run(request, synthetic_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("cond") / f"cond-{request.param}"
    cfg = tiny_config(synthetic_v2, steps=6, lr=2e-3)
    cfg = cfg.replace(model={"condition": "terrain", "condition_at": request.param})
    train(cfg, run, progress=False, echo=lambda _: None)
    return run


def test_a_conditioned_model_trains_and_stores_its_terrains(conditioned_run: Path) -> None:
    cfg = read_meta(resolve_checkpoint(conditioned_run)).config
    assert cfg.model.condition == "terrain" and cfg.model.condition_terrains == TERRAINS
    g = build_generator(cfg)
    if cfg.model.condition_at == "bottleneck":
        assert isinstance(g, FiLMUNetGenerator) and g.down[0][0].in_channels == 1
        assert float(Colorizer(conditioned_run, "cpu").generator.film.weight.abs().sum()) > 0  # it learned
    else:
        assert g.down[0][0].in_channels == 1 + 4  # SAR + four one-hot planes
    model = load_registry([conditioned_run]).models[0]
    assert model.conditioned and model.terrains == TERRAINS


def test_a_conditioned_model_colorizes_by_the_terrain_it_is_told(
    conditioned_run: Path, synthetic_v2: Path, tmp_path: Path, capsys
) -> None:
    sar = next((synthetic_v2 / "urban" / "s1").iterdir())
    outputs = {}
    for terrain in ("agri", "urban"):
        out = tmp_path / terrain
        line = f"colorize {sar} --checkpoint {conditioned_run} --terrain {terrain} --out {out} --no-progress"
        assert run_cli(line + " --device cpu") == 0
        outputs[terrain] = read_image(out / sar.name)
    assert outputs["agri"].shape == outputs["urban"].shape == (256, 256, 3)
    colorizer = Colorizer(conditioned_run, "cpu")  # six steps in: small differences, before 8-bit rounding
    tile = torch.from_numpy(read_image(sar)).permute(2, 0, 1)[None]
    told = {t: colorizer.predict(tile, [t]) for t in ("agri", "urban")}
    if colorizer.config.model.condition_at == "input":  # FiLM starts at zero: six steps barely move it
        assert np.abs(told["agri"] - told["urban"]).max() > 1e-4  # the terrain changes the colours
    np.testing.assert_allclose(outputs["urban"], told["urban"][0], atol=1 / 255 + 1e-6)
    capsys.readouterr()
    assert (
        run_cli(f"colorize {sar} --checkpoint {conditioned_run} --out {tmp_path / 'none'} --no-progress") == 2
    )
    one_line_error(capsys, "conditioned on the terrain")


def test_evaluation_tells_a_conditioned_model_each_pairs_terrain(conditioned_run: Path) -> None:
    result = evaluate(conditioned_run, split="test", device="cpu", perceptual=False, progress=False)
    assert result.images and {r.terrain for r in result.images} <= set(TERRAINS)


def test_conditioning_needs_terrains_it_knows() -> None:
    assert one_hot(["grassland"], TERRAINS).tolist() == [[0.0, 0.0, 1.0, 0.0]]
    with pytest.raises(SarcolorError, match="not desert"):
        one_hot(["desert"], TERRAINS)
    cfg = tiny_config(Path("data")).replace(model={"condition": "terrain"})
    assert decide_terrains(cfg, ["urban", "agri", "urban"], "d").model.condition_terrains == ["agri", "urban"]
    with pytest.raises(SarcolorError, match="needs a terrain for every pair; 1 have none"):
        decide_terrains(cfg, ["urban", None], "d")
    plain = tiny_config(Path("data"))
    assert decide_terrains(plain, [None], "d") is plain  # the default recipe is untouched
    assert build_generator(plain).down[0][0].in_channels == 1
    with pytest.raises(SarcolorError, match="--condition-terrain needs --condition terrain"):
        plain.replace(model={"condition_terrains": ["agri"]}).validate()


def test_a_plain_generator_ignores_terrains(tiny_run: Path) -> None:
    colorizer = Colorizer(tiny_run, "cpu")
    tiles = torch.rand(2, 1, 256, 256)
    np.testing.assert_array_equal(colorizer.predict(tiles), colorizer.predict(tiles, ["agri", "urban"]))
    assert colorizer.condition_terrains == []


def test_film_scales_and_shifts_the_bottleneck_per_terrain() -> None:
    torch.manual_seed(0)
    g = FiLMUNetGenerator(1, 3, ngf=4, dropout=0.0, terrains=2).train()  # batch statistics: no init decay
    sar = torch.rand(1, 1, 256, 256)

    def run(code: list[float]) -> torch.Tensor:
        planes = torch.tensor(code).view(1, 2, 1, 1).expand(-1, -1, 256, 256)
        return g(torch.cat([sar, planes], dim=1))

    assert torch.equal(run([1.0, 0.0]), run([0.0, 1.0]))  # zero at initialisation: unconditioned
    with torch.no_grad():
        g.film.weight.normal_(0.0, 1.0)
    assert (run([1.0, 0.0]) - run([0.0, 1.0])).abs().max() > 1e-3
