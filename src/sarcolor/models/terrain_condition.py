"""The terrain as an input: one-hot planes appended to a conditioned generator's input.

A generator trained with ``--condition terrain`` takes ``in_channels + T`` channels, ``T`` being
``model.condition_terrains`` (stored in the checkpoint, in one-hot order). Training appends the
planes of each pair's terrain; colorizing appends those of the terrain given or classified per
tile. Plain generators (``condition none``) are left untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sarcolor.config import Config
from sarcolor.errors import SarcolorError


def one_hot(terrains: Sequence[str], names: Sequence[str]) -> torch.Tensor:
    """(B, T) float32 one-hot codes of ``terrains`` in the order of ``names``.

    Raises:
        SarcolorError: a terrain the model does not know.

    Example:
        >>> one_hot(["urban", "agri"], ["agri", "urban"]).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted({t for t in terrains if t not in index})
    if unknown:
        raise SarcolorError(
            f"the conditioned model knows the terrains {', '.join(names)}, not {', '.join(map(str, unknown))}"
        )
    codes = torch.zeros(len(terrains), len(names))
    for row, terrain in enumerate(terrains):
        codes[row, index[terrain]] = 1.0
    return codes


def with_terrain(net_input: torch.Tensor, terrains: Sequence[str], names: Sequence[str]) -> torch.Tensor:
    """(B, C, H, W) → (B, C + T, H, W): the input with the one-hot planes of each item's terrain."""
    if len(terrains) != net_input.shape[0]:
        raise ValueError(f"{len(terrains)} terrains for a batch of {net_input.shape[0]}")
    codes = one_hot(terrains, names).to(net_input.device, net_input.dtype)
    planes = codes[:, :, None, None].expand(-1, -1, *net_input.shape[-2:])
    return torch.cat([net_input, planes], dim=1)


def condition_input(net_input: torch.Tensor, terrains: Sequence[str] | None, cfg: Config) -> torch.Tensor:
    """The generator input for ``cfg``: unchanged for a plain model, with terrain planes for a
    conditioned one (which then needs ``terrains``)."""
    if cfg.model.condition_channels == 0:
        return net_input
    if terrains is None:
        raise SarcolorError(
            "this model is conditioned on the terrain: name one (--terrain NAME) or let a terrain "
            "classifier find it (--terrain auto)"
        )
    return with_terrain(net_input, terrains, cfg.model.condition_terrains)


def decide_terrains(cfg: Config, train_terrains: Sequence[str | None], source: str) -> Config:
    """``cfg`` with ``model.condition_terrains`` decided (the training pairs' terrains, sorted)
    when conditioning asks for it; every training pair must have a terrain it names.

    Raises:
        SarcolorError: conditioning on data without terrains, or pairs of an unnamed terrain.
    """
    if cfg.model.condition != "terrain":
        return cfg
    missing = sum(t is None or t == "-" for t in train_terrains)
    if missing:
        raise SarcolorError(
            f"{source}: --condition terrain needs a terrain for every pair; {missing} have none "
            "(this layout has no terrain folders)"
        )
    found = sorted({str(t) for t in train_terrains})
    names = list(cfg.model.condition_terrains) or found
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise SarcolorError(f"{source}: pairs of terrain {', '.join(unknown)} not in --condition-terrain")
    return cfg.replace(model={"condition_terrains": names})
