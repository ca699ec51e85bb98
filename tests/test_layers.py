"""The README's Design section draws the layers that pyproject.toml's import-linter contract
states (``lint-imports`` checks the code against the contract; this checks the README)."""

from __future__ import annotations

import re
import sys
from itertools import pairwise
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def contract_layers() -> list[list[str]]:
    """The layers contract's layers, top first, each a list of sibling packages."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    return [[name.strip() for name in re.split(r"[|:]", layer)] for layer in layers]


def design_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("\n## Design\n", 1)[1].split("\n## ", 1)[0]


def diagram_edges(section: str) -> tuple[set[str], list[tuple[str, str]]]:
    """The node ids and the arrows (``a & b --> c & d`` is four) of the Design mermaid diagram."""
    diagram = section.split("```mermaid\n", 1)[1].split("```", 1)[0]
    nodes: set[str] = set()
    edges: list[tuple[str, str]] = []
    for line in diagram.splitlines()[1:]:  # after "flowchart TD"
        parts = [re.findall(r"(?:^|&)\s*(\w+)", part.strip()) for part in line.split("-->")]
        for part in parts:
            nodes.update(part)
        for upper, lower in pairwise(parts):
            edges += [(a, b) for a in upper for b in lower]
    return nodes, edges


def test_the_diagram_draws_the_contract_layers_in_order() -> None:
    layers = contract_layers()
    level = {name: i for i, layer in enumerate(layers) for name in layer}
    nodes, edges = diagram_edges(design_section())
    assert nodes == set(level), "README Design diagram and [tool.importlinter] layers name different packages"
    upward = [(a, b) for a, b in edges if level[a] >= level[b]]
    assert not upward, f"arrows that do not point down a layer: {upward}"
    linked = {(level[a], level[b]) for a, b in edges}
    missing = [(layers[i], layers[i + 1]) for i in range(len(layers) - 1) if (i, i + 1) not in linked]
    assert not missing, f"the diagram does not draw these layers one above the other: {missing}"


def test_the_tree_lists_every_layer_package() -> None:
    tree = design_section().split("```\nsrc/sarcolor/\n", 1)[1].split("```", 1)[0]
    listed = set(re.findall(r"[├└]── (\w+)", tree))
    missing = {name for layer in contract_layers() for name in layer} - listed
    assert not missing, f"the README's tree lacks {sorted(missing)}"
