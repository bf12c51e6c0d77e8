"""Packaging (issue 13): building bert_tf prints no setuptools warning (`pip install -q -e .` printed ~90 lines:
license classifiers deprecated, bert_tf/resources/* 'would be ignored'), the license is an SPDX expression,
and the bundled data ships in the wheel."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_wheel_builds_without_warnings_and_ships_the_resources(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(REPO, name), source / name)
    for package in ("bert_tf", "serving"):
        shutil.copytree(os.path.join(REPO, package), source / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                           str(tmp_path / "wheel"), str(source)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert "Warning" not in output and "warning" not in output.replace("WARNING: Location", ""), output[-5000:]
    (wheel,) = (tmp_path / "wheel").glob("bert_tf-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata and "License :: " not in metadata
    for resource in ("banking77/train.csv", "banking77/test.csv", "banking77/README.md", "nsmc/ratings_train.txt",
                     "nsmc/README.md", "korean_bert/model.safetensors", "korean_bert/vocab.txt",
                     "korean_bert/config.json", "korean_bert/bert_config.json", "korean_bert/README.md",
                     "korean_bert/1_Pooling/config.json", "korean_bert/generator/model.safetensors",
                     "korean_bert/generator/config.json", "korean_bert/generator/vocab.txt",
                     "korean_bert/pretraining.json"):
        assert f"bert_tf/resources/{resource}" in names
    client = {"serving/client/__init__.py", "serving/client/grpc_client.py", "serving/client/rest_client.py",
              "serving/client/text_helpers.py"}
    assert client <= names and not any(n.startswith(("tests/", "scripts/", "benchmarks/")) for n in names)
