"""The README's Python example runs and says what it claims."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_runs_as_written():
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    block = block.replace("size=(1_000_000, 2)", "size=(1_000, 2)")  # same code, a smaller batch
    names: dict[str, object] = {}
    exec(compile(block, str(README), "exec"), names)
    np.testing.assert_allclose(names["step"].point, [6 / 11, 10 / 11])
    assert names["step"].curvature == "saddle"
    run = names["run"]
    np.testing.assert_allclose(run.alphas[1:4], run.oracle_alphas[0:3], rtol=1e-12)
    assert run.status.item().value == "converged"
    assert names["solution"].bounded_below.verdict == "unbounded"
    bounded = names["bounded"]
    assert bounded.summary == "min f = 0 (proved)" and bounded.attained and bounded.point == (1.0, 0.0)
    assert len(names["solution"].critical_points) == 1
