"""The Run record: str statuses, SciPy's names, the padded histories, throw=True."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import taylorlr as tl


def test_a_single_run_status_equals_its_string_and_keeps_an_array_type():
    single = tl.run("(x - 3)**2", [0.0], rule="exact", steps=20)
    batch = tl.run("(x - 3)**2", [[0.0], [1.0]], rule="exact", steps=20)
    assert single.status == "converged" and single.status.shape == () and single.status.item() == "converged"
    assert type(single.status) is type(batch.status) is np.ndarray
    assert (batch.status == "converged").tolist() == [True, True]
    assert tl.Status("saddle") is tl.Status.SADDLE and f"{tl.Status.ROSE}" == "rose"


def test_every_status_has_advice_and_json_keeps_the_value_strings():
    assert all(len(s.message) > 20 for s in tl.Status)
    assert {s.value for s in tl.Status} == {
        "converged", "max_steps", "diverged", "nonfinite", "unbounded", "rose", "saddle", "maximum",
    }  # fmt: skip
    run = tl.run("x**2 - y**2", [[0.0, 0.0], [1.0, 1.0]], steps=3)
    assert json.loads(json.dumps(run.to_dict()))["status"] == ["saddle", "max_steps"]


def test_scipy_names_answer_per_member():
    """gd with the exact rule on (x - 3)**2: one step lands on 3 (alpha 1/2 is exact)."""
    run = tl.run("(x - 3)**2", [[0.0], [3.0], [10.0]], rule="exact", gamma=1.0, alpha0=0.5, steps=5)
    assert run.x.shape == (3, 1) and run.x[:, 0].tolist() == [3.0, 3.0, 3.0]
    assert run.fun.tolist() == [0.0, 0.0, 0.0]
    assert run.success.tolist() == [True, True, True]
    assert run.nit.tolist() == [1, 0, 1]  # the member started at the minimum took no step
    assert (
        run.nfev.tolist() == run.counts.values.tolist() and run.njev.tolist() == run.counts.gradients.tolist()
    )
    assert run.nhev.tolist() == run.counts.hvps.tolist() and run.nhev.tolist() == [1, 0, 1]
    assert run.message.shape == (3,) and run.message[1].startswith("converged at step 0")
    single = tl.run("(x - 3)**2", [0.0], steps=1)
    assert isinstance(single.message, str) and single.message.startswith("max_steps at step 1")
    assert not single.success and single.x.shape == (1,)


def test_histories_end_at_the_last_stop_are_padded_and_valid_and_history_cut_the_padding():
    run = tl.run("(x - 3)**2", [[0.0], [3.0], [7.0]], rule="exact", gamma=1.0, alpha0=0.5, steps=4)
    # the history ends at the batch's last stop (step 1 of 4): no rows for steps never taken;
    # padded up to there: after its stop a member repeats its last point
    assert run.stopped_at.tolist() == [1, 0, 1] and run.points.shape == (2, 3, 1)
    assert run.points[:, 1, 0].tolist() == [3.0, 3.0] and run.oracle_alphas.shape == (1, 3)
    assert run.valid.tolist() == [[True, True, True], [True, False, True]]
    first = run.history(0)
    assert first["points"].tolist() == [[0.0], [3.0]] and first["losses"].tolist() == [9.0, 0.0]
    assert first["alphas"].shape == (2,) and first["oracle_alphas"].shape == (1,)
    assert run.history(1)["points"].tolist() == [[3.0]]
    single = tl.run("(x - 3)**2", [0.0], rule="exact", gamma=1.0, alpha0=0.5, steps=4)
    assert single.history()["points"].tolist() == [[0.0], [3.0]]


def test_throw_raises_a_typed_error_carrying_the_run():
    with pytest.raises(tl.RunFailedError) as caught:
        tl.run(
            "x**2 + (y - 1)**4",
            [[0.0, 1.0], [0.0, 3.0], [1.0, 1.0]],
            gamma=1.0,
            alpha0=0.5,
            steps=3,
            throw=True,
        )
    error = caught.value
    assert isinstance(error, tl.TaylorLRError) and error.run.status.tolist() == [
        "converged", "max_steps", "converged",  # (y - 1)**4 from y = 3 converges only sublinearly
    ]  # fmt: skip
    message = str(error)
    assert message.startswith("1 of 3 member(s) did not end 'converged'")
    assert "member 1: max_steps at step 3" in message and "member 0" not in message
    assert pickle.loads(pickle.dumps(error)).run.status.tolist() == error.run.status.tolist()
    converged = tl.run("(x - 3)**2", [0.0], gamma=1.0, alpha0=0.5, throw=True)
    assert converged.status == "converged"
