"""Property-based tests (hypothesis) of the pair matcher: every pair found, never a wrong one."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sarcolor.data.sources import discover_pairs
from sarcolor.data.sources.naming import SENSOR_TOKEN
from sarcolor.errors import SarcolorError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


name_part = st.sampled_from(
    ["ROIs1970", "ROIs1868", "x", "s1", "s2", "fall", "summer", "p1", "p12", "7", "59"]
)


@FAST
@given(
    names=st.lists(
        st.lists(name_part, min_size=1, max_size=6).map("_".join), min_size=1, max_size=12, unique=True
    ),
    layout=st.lists(st.sampled_from(["s1", "s2", "both"]), min_size=12, max_size=12),
)
def test_pair_matcher_invariants(names: list[str], layout: list[str]):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "v_2" / "agri"
        files = []
        for name, where in zip(names, layout, strict=False):
            for sensor in ("s1", "s2") if where == "both" else (where,):
                tokens = SENSOR_TOKEN.findall(name)
                stem = SENSOR_TOKEN.sub(sensor, name, count=1) if len(tokens) == 1 else name
                path = root / sensor / f"{stem}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    path.touch()
                    files.append(path)
        (root / "s1").mkdir(parents=True, exist_ok=True)
        (root / "s2").mkdir(parents=True, exist_ok=True)
        try:
            found = discover_pairs(Path(tmp))
        except SarcolorError:
            return
        used = [f for p in found.pairs for f in (p.s1, p.s2)]
        assert len(used) == len(set(used))  # a file is in one pair at most
        assert all(p.s1.parent.name == "s1" and p.s2.parent.name == "s2" for p in found.pairs)
        assert not set(used) & set(found.unpaired)
        named = {f for f in files if any(str(f) in problem for problem in found.problems)}
        assert set(used) | set(found.unpaired) | named == set(files)  # nothing silently dropped
