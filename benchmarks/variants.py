"""Training variants named on a benchmark's command line: ``LABEL=RECIPE,section.field=value,…``.

Example:
    >>> parse_variant("fm=pix2pix,train.lambda_fm=10")
    ('fm', 'pix2pix', {'train': {'lambda_fm': 10}})
    >>> parse_variant("hd=pix2pixhd,train.d_augment=translation,cutout")
    ('hd', 'pix2pixhd', {'train': {'d_augment': 'translation,cutout'}})
"""

from __future__ import annotations

import yaml

from sarcolor.training.recipes import RECIPES


def parse_variant(spec: str) -> tuple[str, str, dict]:
    """``"fm=pix2pix,train.lambda_fm=10"`` → (label, recipe, {"train": {"lambda_fm": 10}})."""
    label, _, body = spec.partition("=") if "=" in spec.split(",")[0] else (spec, "", spec)
    items: list[str] = []
    for part in (i for i in body.split(",") if i):  # "train.d_augment=translation,cutout": one item
        if "=" in part or not items or "=" not in items[-1]:
            items.append(part)
        else:
            items[-1] += "," + part
    recipe = items.pop(0) if items and "=" not in items[0] else "pix2pix"
    if recipe not in RECIPES:
        raise SystemExit(f"variant {spec!r}: unknown recipe {recipe!r} (one of {', '.join(RECIPES)})")
    values: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        if not name:
            raise SystemExit(f"variant {spec!r}: {item!r} is not section.field=value")
        values.setdefault(section, {})[name] = yaml.safe_load(value)
    return label or recipe, recipe, values
