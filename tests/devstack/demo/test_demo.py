"""The main job: `make demo` plays the whole flow on its own stack and exits 0."""

from __future__ import annotations

import pytest

from devstack.demo import SECRET, run_demo
from devstack.stack import STATE_FILE


def test_demo_runs_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    status = run_demo()

    output = capsys.readouterr().out
    assert status == 0, output
    assert "None of the pushes contains the secret" in output
    assert "The two answers are identical byte for byte." in output
    assert "second GET -> 404" in output
    assert "Stopped everything the demo started." in output


def test_demo_shows_secret_only_in_fetch(capsys: pytest.CaptureFixture[str]) -> None:
    run_demo()

    output = capsys.readouterr().out
    fetch_step = output.index("== 4.")
    assert SECRET["code"] not in output[:fetch_step]
    assert SECRET["code"] in output[fetch_step:]


def test_demo_leaves_no_state_file() -> None:
    run_demo()

    assert not STATE_FILE.exists()
