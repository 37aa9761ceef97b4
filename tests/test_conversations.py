"""Whole conversations through the trained model and the real action server (`rasa test`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.servers import MODEL, ROOT

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make test`")


def test_every_route_an_interruption_a_cancel_and_a_fallback_go_as_written(running_actions):
    out = ROOT / "results" / "conversation-tests"
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "test", "core",
         "--stories", "tests/conversations", "--model", str(MODEL),
         "--endpoints", "endpoints.yml", "--out", str(out), "--fail-on-prediction-errors"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    failed = out / "failed_test_stories.yml"
    detail = failed.read_text(encoding="utf-8") if failed.exists() else ""
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n{detail}"
    assert "story:" not in detail
