"""benchmarks/soak.py in small (4 clients x 5 s, toy model), so the soak harness itself cannot rot.

The full soak (16 clients x 60 s, BERT-Tiny export) and its numbers are in docs/RESULTS.md ("Soak").
"""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_soak_smoke(tmp_path):
    output = tmp_path / "soak.json"
    command = [sys.executable, os.path.join(REPO, "benchmarks", "soak.py"), "--model=toy", "--clients=4",
               "--seconds=5", "--swap_at=0.2", "--idle_sockets=10", "--slow_sockets=4",
               "--rest_api_idle_timeout_seconds=2", f"--output={output}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=REPO,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert output.exists(), (result.returncode, result.stdout[-3000:], result.stderr[-3000:])
    report = json.loads(output.read_text())
    summary = result.stdout[-4000:]

    good = report["good"]
    assert good["requests"] > 50 and good["errors"] == 0, (good["error_samples"], summary)
    assert set(good["by_kind"]) == {"grpc_predict", "grpc_classify", "grpc_status", "rest_predict",
                                    "rest_classify", "rest_status"}
    server = report["server"]
    assert server["alive_at_end"] and server["died_at_s"] is None, summary
    assert server["after_load"]["answered"] == 6 and server["after_load"]["errors"] == [], summary
    assert server["after_load"]["versions"] == {"2": 4}, summary  # the swap happened
    assert server["exit_code_after_sigterm"] == 0
    assert server["log_tracebacks"] == 0, server["log_first_traceback"]

    hostile = report["hostile"]
    assert hostile["requests"] > 20 and hostile["unexpected"] == {}, (hostile["unexpected"], summary)
    assert hostile["by_kind"]["rest_plain_http_to_https"]["skipped"]
    assert report["sockets"]["head_drip"]["ended"].get("408", 0) >= 1  # slowloris heads cut off (2 s timeout)
    assert report["sockets"]["idle"]["ended"].get("closed", 0) >= 1
    assert report["rss"]["within_bound"] and report["rss"]["baseline_mb"] > 0
    # Version 2 was copied in at 1 s; on a very busy machine its first answer may come after the 5 s.
    late_swap = "version 2 never answered during the soak"
    assert [f for f in report["failures"] if f != late_swap] == [], summary
    assert result.returncode == (1 if report["failures"] else 0)
