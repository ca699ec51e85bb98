"""Shared fixtures: the real samples in ../shared/data, and small synthetic datasets and runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sarcolor.config import Config
from sarcolor.data.synthetic import make_synthetic_dataset

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not available: {path} is absent (it lives in ../shared/data)")
    return path


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
    cfg = Config()
    cfg.data.root = str(data_root)
    cfg.data.num_workers = 0
    cfg.data.val_fraction = cfg.data.test_fraction = 0.25
    cfg.model.ngf = cfg.model.ndf = 8
    cfg.train.steps = steps
    cfg.train.batch_size = 2
    cfg.train.log_every = 2
    cfg.train.sample_every = 2
    cfg.train.checkpoint_every = 2
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg.validate()


@pytest.fixture(scope="session")
def tiny_run(synthetic_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder trained for 4 steps on the synthetic data (read-only for the tests)."""
    from sarcolor.training.trainer import train

    run = tmp_path_factory.mktemp("run") / "tiny"
    train(tiny_config(synthetic_v2), run, progress=False, echo=lambda _: None)
    return run
