"""Smoke test of benchmarks/run.py: it runs end to end on tiny shapes, writes its JSON and Markdown,
and reports a framework that is not installed instead of crashing. No timing is checked here
(benchmarks time themselves, as scripts)."""

import json
import os
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def test_run_tiny_writes_results_and_reports_missing_frameworks(tmp_path):
    env = dict(os.environ, BENCH_PRETEND_MISSING="pytorch")
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--tiny", "--only", "c",
         "--frameworks", "scratchrnn,nonexistent,pytorch", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    data = json.loads((tmp_path / "results.json").read_text())
    result = data["results"]["scratchrnn"]["c"]
    assert result["status"] == "ok", result.get("error")
    for cell in ("lstm", "gru", "simple_rnn"):
        summary = result["metrics"][f"{cell}_ms_per_step"]
        assert summary["min"] <= summary["median"] <= summary["max"]
    assert result["backend"] in ("numpy", "numba")
    assert data["results"]["nonexistent"]["c"]["status"] == "not installed"
    assert data["results"]["pytorch"]["c"]["status"] == "not installed"

    markdown = (tmp_path / "RESULTS.md").read_text()
    assert "LSTM(128) training step" in markdown
    assert "not installed" in markdown
    assert "## Environment" in markdown
