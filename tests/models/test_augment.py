"""DiffAugment of what the discriminator sees: one transform per sample, the same on real and
fake, differentiable, drawn from (seed, step) for the global batch."""

from __future__ import annotations

import pytest
import torch

from sarcolor.models import augment as diffaugment


def test_diffaugment_applies_the_same_transform_to_real_and_fake():
    params = diffaugment.draw(diffaugment.TRANSFORMS, (64, 64), seed=3, global_batch=4)
    cond = torch.rand(4, 1, 64, 64)
    real = torch.cat([cond, torch.rand(4, 3, 64, 64)], dim=1)
    fake = torch.cat([cond, torch.rand(4, 3, 64, 64)], dim=1)
    a, b = diffaugment.apply(real, params, 3), diffaugment.apply(fake, params, 3)
    # the conditioning channel is the same image in both, so it must come out the same
    assert torch.equal(a[:, :1], b[:, :1]) and not torch.equal(a[:, :1], cond)
    assert not torch.equal(a[:, 1:], b[:, 1:])
    # the spatial part is one shift per sample: a pure-translation policy moves a dot by (dy, dx)
    shift_only = diffaugment.AugmentParams(("translation",), params.shift, params.cut, params.color)
    dot = torch.zeros(4, 4, 64, 64)
    dot[:, :, 32, 32] = 1
    moved = diffaugment.apply(dot, shift_only, 3)
    for i, (dy, dx) in enumerate(params.shift.tolist()):
        assert moved[i, :, 32 + dy, 32 + dx].eq(1).all() and float(moved[i].sum()) == 4
    assert params.shift.abs().max() <= 8 and params.shift.abs().max() > 0
    # cutout zeroes a 32×32 square (clipped at the border), the same place in every channel
    cut_only = diffaugment.AugmentParams(("cutout",), params.shift, params.cut, params.color)
    zeros = (diffaugment.apply(torch.ones(4, 4, 64, 64), cut_only, 3) == 0).float()
    assert torch.equal(zeros[:, :1].expand_as(zeros), zeros)
    assert 0 < float(zeros[0, 0].sum()) <= 32 * 32
    # differentiable: G's gradient passes through
    x = real.clone().requires_grad_(True)
    diffaugment.apply(x, params, 3).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_diffaugment_draws_depend_on_the_seed_and_slice_the_global_batch():
    whole = diffaugment.draw(("translation",), (256, 256), seed=9, global_batch=4)
    half = diffaugment.draw(("translation",), (256, 256), seed=9, global_batch=4, rows=slice(2, 4))
    assert torch.equal(whole.shift[2:], half.shift) and torch.equal(whole.cut[2:], half.cut)
    other = diffaugment.draw(("translation",), (256, 256), seed=10, global_batch=4)
    assert not torch.equal(whole.shift, other.shift)
    assert diffaugment.parse_policy("translation, cutout") == ("translation", "cutout")
    assert diffaugment.parse_policy("none") == diffaugment.parse_policy("") == ()
    with pytest.raises(ValueError, match="comma-separated subset"):
        diffaugment.parse_policy("translation,rotate")
    with pytest.raises(ValueError, match="draws for a batch of"):
        diffaugment.apply(torch.zeros(3, 4, 256, 256), whole, 3)
