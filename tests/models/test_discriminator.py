"""The 70×70 PatchGAN: a 30×30 map of logits, each seeing 70×70 pixels."""

from __future__ import annotations

import torch

from conftest import n_params
from sarcolor.models import (
    PatchDiscriminator,
)
from sarcolor.models.discriminator import RECEPTIVE_FIELD


def test_discriminator_output_is_30x30():
    d = PatchDiscriminator(4, ndf=64)
    assert d(torch.randn(1, 4, 256, 256)).shape == (1, 1, 30, 30)
    assert n_params(d) == 2_766_657


def test_discriminator_receptive_field_is_70():
    """Backpropagate from one interior logit and measure the input area that affects it."""
    d = PatchDiscriminator(4, ndf=8).eval()
    x = torch.randn(1, 4, 256, 256, requires_grad=True)
    d(x)[0, 0, 15, 15].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)))
    cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 2)))
    assert int(rows.max() - rows.min() + 1) == RECEPTIVE_FIELD == 70
    assert int(cols.max() - cols.min() + 1) == 70
