"""The benchmark harness still runs (tiny counts); its numbers are not judged here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_harness_runs_and_writes_its_table(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "benchmarks" / "run.py"), "--quick",
         "--only", "events", "--platform", "offscreen", "--json", str(out)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| figure | sessionmgr | baseline | ratio | target | met? |" in done.stdout
    results = json.loads(out.read_text())
    figures = {row["figure"]: row for row in results["rows"]}
    p50 = next(row for name, row in figures.items() if "webhook received, p50" in name)
    assert p50["value"] > 0 and p50["baseline"] > 0 and p50["target"]
    assert len(results["raw"]["events"]["latency_ms"]) == results["config"]["events"]
