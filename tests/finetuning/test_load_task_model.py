"""`load_task_model`: a .keras archive with broken contents is a clear FinetuneError naming the file."""

import zipfile

import pytest

from bert_tf.finetuning.common import FinetuneError, load_task_model


def test_zip_with_broken_contents_is_a_clear_error(tmp_path):
    broken = tmp_path / "best_model.keras"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("config.json", "{this is not json")
        archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
    with pytest.raises(FinetuneError, match=r"best_model\.keras: not a readable \.keras model"):
        load_task_model(str(broken))
    no_weights = tmp_path / "no_weights.keras"
    with zipfile.ZipFile(no_weights, "w") as archive:
        archive.writestr("config.json", '{"class_name": "NoSuchLayer", "config": {}}')
    with pytest.raises(FinetuneError, match=r"no_weights\.keras: not a readable \.keras model"):
        load_task_model(str(no_weights))
    assert load_task_model(str(tmp_path / "missing.keras")) is None
