"""The generator backends' shared checks (inference/backend.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sarcolor.errors import SarcolorError
from sarcolor.inference.backend import check_finite_output


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_one_non_finite_value_among_many_is_refused(bad: float, dtype: torch.dtype) -> None:
    out = (torch.rand(4, 3, 64, 64) * 2 - 1).to(dtype)
    out[2, 1, 17, 40] = bad
    message = r"^m\.pt: the generator's output is NaN or infinite \(0% of it\); nothing written"
    with pytest.raises(SarcolorError, match=message):
        check_finite_output(out, Path("m.pt"))


def test_finite_values_whose_sum_overflows_pass() -> None:
    out = torch.full((2, 3, 32, 32), 60000.0, dtype=torch.float16)  # sums to ±inf in float16
    assert not torch.isfinite(out.sum())
    check_finite_output(out, Path("m.pt"))  # no error: every value is finite
    out[0, 0, 0, 0], out[1, 0, 0, 0] = float("inf"), float("-inf")  # a sum of NaN, also refused
    with pytest.raises(SarcolorError, match="NaN or infinite"):
        check_finite_output(out, Path("m.pt"))
