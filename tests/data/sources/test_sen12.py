"""The original SEN1-2 layout: ROI, season and scene folders."""

from __future__ import annotations

from pathlib import Path

from conftest import touch
from sarcolor.data.sources import discover_pairs


def test_original_sen12_layout(tmp_path: Path):
    for roi, scene, patches in (("ROIs1158_spring", 1, (1, 2)), ("ROIs2017_winter", 22, (5,))):
        for p in patches:
            touch(tmp_path / roi / f"s1_{scene}" / f"{roi}_s1_{scene}_p{p}.png")
            touch(tmp_path / roi / f"s2_{scene}" / f"{roi}_s2_{scene}_p{p}.png")
    touch(tmp_path / "ROIs1158_spring" / "s1_1" / "ROIs1158_spring_s1_1_p9.png")
    found = discover_pairs(tmp_path)
    assert found.layout == "sen12"
    assert [(p.split_group, p.patch) for p in found.pairs] == [
        ("ROIs1158_spring_1", 1),
        ("ROIs1158_spring_1", 2),
        ("ROIs2017_winter_22", 5),
    ]
    assert found.unpaired == [tmp_path / "ROIs1158_spring" / "s1_1" / "ROIs1158_spring_s1_1_p9.png"]
    assert len(discover_pairs(tmp_path / "ROIs2017_winter").pairs) == 1
