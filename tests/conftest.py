"""Shared test fixtures. Test data lives in tests/testdata (copied from the project's references, with licenses)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

TESTDATA = os.path.join(os.path.dirname(__file__), "testdata")
PARITY = os.path.join(TESTDATA, "parity")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def minilm_dir():
    """The real all-MiniLM-L6-v2 weights from the pip package, SHA-256 verified."""
    from bert_tf.pretrained import minilm_l6_dir
    return minilm_l6_dir(verify=True)


# The test files that take longest (a full run's `--durations=0`, summed per file, 2026-12-07), longest first: with
# two pytest-xdist workers taking one file at a time (run_tests.sh: `-n 2 --dist loadfile`), a long file picked up
# last would leave one worker idle while the other finishes it. Order only; every test still runs, and the rest
# keep pytest's order.
LONGEST_FILES = ("tests/scripts/test_run_finetuning.py", "tests/export/test_export.py",
                 "tests/scripts/test_build_korean_bert.py", "tests/training/test_run_pretraining.py",
                 "tests/test_readme.py", "tests/training/test_distribute.py", "tests/export/test_export_script.py",
                 "tests/tasks/test_finetune_api.py", "tests/export/test_export_ner_qa.py",
                 "tests/finetuning/test_recipe_accuracy.py", "tests/reliability/test_faults.py",
                 "tests/scripts/test_extract_features.py", "tests/training/test_trainer.py", "tests/tasks/test_tasks.py",
                 "tests/checkpoints/test_korean_bert.py", "tests/serving/test_serving_security_load.py",
                 "tests/scripts/test_demo_korean.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
