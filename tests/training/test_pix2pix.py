"""One pix2pix step: a non-finite loss changes no weight and no BatchNorm statistic."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_a_non_finite_step_changes_nothing(synthetic_v2: Path):
    import torch

    from conftest import tiny_config
    from sarcolor.training.pix2pix import NonFiniteLossError, Pix2Pix

    model = Pix2Pix(tiny_config(synthetic_v2), 10, torch.device("cpu"))
    x, y = torch.rand(2, 1, 256, 256) * 2 - 1, torch.rand(2, 3, 256, 256) * 2 - 1
    model.train_step(x, y, 0)
    before = {
        f"{n}.{k}": v.clone()
        for n, net in (("G", model.G), ("D", model.D))
        for k, v in net.state_dict().items()
    }
    bad = y.clone()
    bad[0, 0, 0, 0] = float("nan")  # one NaN pixel in one target
    with pytest.raises(NonFiniteLossError, match="neither network was updated"):
        model.train_step(x, bad, 1)
    after = {
        f"{n}.{k}": v for n, net in (("G", model.G), ("D", model.D)) for k, v in net.state_dict().items()
    }
    assert all(torch.equal(before[k], after[k]) for k in before if "num_batches" not in k)
    model.train_step(x, y, 1)  # training goes on from a clean state
    model.G.eval()
    assert torch.isfinite(model.G(x)).all() and model.weights_finite()
