"""Issue 15: the casing is `do_lower_case` everywhere (google-research/bert's and Hugging Face's name, and every
script flag's). The old name `lowercase` still works for one release with a `DeprecationWarning`: as a keyword,
as an attribute, as a key of `bert_config.json` and of the Keras configs inside `.keras` files saved before the
rename, and in a fine-tuning `history.json`. Delete this file with the aliases."""

import json
import os
import shutil
import warnings
import zipfile

import keras
import numpy as np
import pytest

from bert_tf import BertConfig, BertEncoder
from bert_tf.checkpoints import load_encoder, load_pretrainer, load_task, read_checkpoint, save_hf
from bert_tf.config import ConfigError
from bert_tf.finetuning.history import check_same_run
from bert_tf.finetuning.options import FinetuneError
from bert_tf.pretrained import KOREAN_BERT_DIR
from bert_tf.tasks import BertClassifier
from bert_tf.tokenization import BertTokenizer, CoreOpsBertTokenizer, ReferenceTokenizer
from bert_tf.tokenization.graph_pretokenizer import GraphPretokenizer
from bert_tf.tokenization.reference_tokenizer import google_basic_tokenize
from serving.export.module import TextPacker

VOCAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata", "vocab", "uncased_vocab.txt")
TINY = BertConfig.preset("test", vocab_size=41)
OLD = "lowercase=\\.\\.\\.\\) is deprecated"


# === BertConfig ===

def test_config_new_name_is_the_field_and_is_silent():
    with warnings.catch_warnings():  # the new name never warns
        warnings.filterwarnings("error", ".*lowercase", DeprecationWarning)
        config = BertConfig(vocab_size=41, do_lower_case=False)
        assert config.do_lower_case is False and config.to_dict()["do_lower_case"] is False
        assert "lowercase" not in config.to_dict()
        assert config.replace(do_lower_case=True).do_lower_case is True
        assert BertConfig.preset("test", vocab_size=41, do_lower_case=False) == TINY.replace(do_lower_case=False)


def test_config_old_keyword_and_attribute_warn_and_work():
    with pytest.warns(DeprecationWarning, match=OLD):
        config = BertConfig(vocab_size=41, lowercase=False)
    assert config == BertConfig(vocab_size=41, do_lower_case=False)
    with pytest.warns(DeprecationWarning, match=OLD):
        assert TINY.replace(lowercase=False) == TINY.replace(do_lower_case=False)
    with pytest.warns(DeprecationWarning, match=OLD):
        assert BertConfig.preset("test", vocab_size=41, lowercase=False).do_lower_case is False
    with pytest.warns(DeprecationWarning, match="BertConfig.lowercase is deprecated"):
        assert config.lowercase is False
    with pytest.raises(TypeError, match="both 'lowercase'"):
        BertConfig(vocab_size=41, lowercase=False, do_lower_case=False)


def test_config_json_is_written_with_the_new_key(tmp_path):
    path = str(tmp_path / "bert_config.json")
    TINY.replace(do_lower_case=False).to_google_json(path)
    values = json.loads(open(path, encoding="utf-8").read())
    assert values["do_lower_case"] is False and "lowercase" not in values
    with warnings.catch_warnings():  # the new name never warns
        warnings.filterwarnings("error", ".*lowercase", DeprecationWarning)
        assert BertConfig.from_json(path) == TINY.replace(do_lower_case=False)
        assert BertConfig.from_json(path, do_lower_case=True).do_lower_case is True


def test_config_json_with_the_old_key_still_loads(tmp_path):
    path = str(tmp_path / "bert_config.json")
    values = {**TINY.to_dict(), "lowercase": False}
    del values["do_lower_case"]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(values, f)
    with pytest.warns(DeprecationWarning, match="uses the old key 'lowercase'"):
        assert BertConfig.from_json(path) == TINY.replace(do_lower_case=False)
    with pytest.warns(DeprecationWarning, match="uses the old key 'lowercase'"):
        assert BertConfig.from_dict(values) == TINY.replace(do_lower_case=False)
    with pytest.warns(DeprecationWarning):  # the old keyword and the old key at once
        assert BertConfig.from_google_json(path, lowercase=True).do_lower_case is True
    with open(path, "w", encoding="utf-8") as f:
        json.dump({**values, "do_lower_case": False}, f)
    with pytest.raises(ConfigError, match="both 'lowercase'"):
        BertConfig.from_json(path)


def test_shipped_korean_config_uses_the_new_key():
    with open(os.path.join(KOREAN_BERT_DIR, "bert_config.json"), encoding="utf-8") as f:
        values = json.load(f)
    assert values["do_lower_case"] is False and "lowercase" not in values


# === Checkpoints ===

@pytest.fixture(scope="module")
def saved_dir(tmp_path_factory):
    """A bert_tf checkpoint directory (`save_hf`) of a cased tiny encoder."""
    keras.utils.set_random_seed(0)
    encoder = BertEncoder.from_bert_config(TINY.replace(do_lower_case=False))
    path = str(tmp_path_factory.mktemp("saved") / "enc")
    save_hf(encoder, path)
    return path


def test_loaders_take_the_new_keyword_and_the_old_one_warns(saved_dir):
    with warnings.catch_warnings():  # the new name never warns
        warnings.filterwarnings("error", ".*lowercase", DeprecationWarning)
        assert read_checkpoint(saved_dir, do_lower_case=True).config.do_lower_case is True
        assert load_encoder(saved_dir, do_lower_case=True).bert_config.do_lower_case is True
    with pytest.warns(DeprecationWarning, match="read_checkpoint\\(lowercase"):
        assert read_checkpoint(saved_dir, lowercase=True).config.do_lower_case is True
    with pytest.warns(DeprecationWarning, match="load_encoder\\(lowercase"):
        assert load_encoder(saved_dir, lowercase=True).bert_config.do_lower_case is True
    with pytest.warns(DeprecationWarning, match="load_pretrainer\\(lowercase"):
        assert load_pretrainer(saved_dir, lowercase=True).encoder.bert_config.do_lower_case is True


def test_checkpoint_directory_with_an_old_bert_config_json_keeps_its_casing(saved_dir, tmp_path):
    """A directory `save_hf` wrote before the rename: `bert_config.json` says `"lowercase": false`. It must still
    win over `config.json` (which says nothing about casing) with the casing it records; without
    tokenizer_config.json, so the casing can only come from that key."""
    old_dir = str(tmp_path / "old")
    shutil.copytree(saved_dir, old_dir)
    os.remove(os.path.join(old_dir, "tokenizer_config.json"))
    path = os.path.join(old_dir, "bert_config.json")
    with open(path, encoding="utf-8") as f:
        values = json.load(f)
    values["lowercase"] = values.pop("do_lower_case")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(values, f)
    with pytest.warns(DeprecationWarning, match="uses the old key 'lowercase'"):
        encoder = load_encoder(old_dir)
    assert encoder.bert_config == TINY.replace(do_lower_case=False)


# === .keras files saved before the rename ===

def _rename_keys(value, old, new):
    if isinstance(value, dict):
        return {(new if k == old else k): _rename_keys(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename_keys(v, old, new) for v in value]
    return value


def _as_before_the_rename(path, old_path):
    """A copy of the `.keras` file at `path` whose stored Keras config says `lowercase` wherever the new code
    wrote `do_lower_case`: what the code before the rename saved (weights and metadata untouched)."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(old_path, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                assert "do_lower_case" in json.dumps(config)
                data = json.dumps(_rename_keys(config, "do_lower_case", "lowercase")).encode("utf-8")
                assert b'"lowercase"' in data and b'"do_lower_case"' not in data
            target.writestr(item, data)
    return old_path


@pytest.mark.parametrize("kind", ["encoder", "classifier"])
def test_old_keras_file_still_loads(tmp_path, kind):
    keras.utils.set_random_seed(0)
    model = BertEncoder.from_bert_config(TINY.replace(do_lower_case=False))
    if kind == "classifier":
        model = BertClassifier(model, num_classes=3)
    path = str(tmp_path / "model.keras")
    model.save(path)
    old_path = _as_before_the_rename(path, str(tmp_path / "old.keras"))
    ids = np.array([[2, 5, 7, 3, 0]], "int32")
    inputs = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": (ids > 0).astype("int32")}
    with pytest.warns(DeprecationWarning, match=OLD):
        restored = load_task(old_path)
    encoder = restored if kind == "encoder" else restored.encoder
    assert encoder.bert_config == TINY.replace(do_lower_case=False)
    expected, got = model(inputs, training=False), restored(inputs, training=False)
    if kind == "encoder":
        expected, got = expected["sequence_output"], got["sequence_output"]
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    with pytest.warns(DeprecationWarning, match=OLD):
        assert load_encoder(old_path).bert_config.do_lower_case is False


def test_encoder_old_keyword_and_old_config_key():
    with pytest.warns(DeprecationWarning, match=OLD):
        encoder = BertEncoder(vocab_size=41, hidden_size=12, num_hidden_layers=1, num_attention_heads=3,
                              intermediate_size=37, lowercase=False)
    assert encoder.bert_config.do_lower_case is False
    config = encoder.get_config()
    assert config["do_lower_case"] is False and "lowercase" not in config
    config["lowercase"] = config.pop("do_lower_case")
    with pytest.warns(DeprecationWarning, match=OLD):
        assert BertEncoder.from_config(config).bert_config == encoder.bert_config


# === Tokenizers ===

@pytest.mark.parametrize("cls", [BertTokenizer, CoreOpsBertTokenizer])
def test_tokenizer_new_and_old_names(cls):
    text = "Héllo WORLD"
    with warnings.catch_warnings():  # the new name never warns
        warnings.filterwarnings("error", ".*lowercase", DeprecationWarning)
        cased = cls(VOCAB, do_lower_case=False)
        uncased = cls(VOCAB, do_lower_case=True)
        assert cased.do_lower_case is False and cased.get_config()["do_lower_case"] is False
        assert "lowercase" not in cased.get_config()
    assert cased.tokenize(text) != uncased.tokenize(text)
    with pytest.warns(DeprecationWarning, match=OLD):
        old = cls(VOCAB, lowercase=False)
    assert old.tokenize(text) == cased.tokenize(text)
    assert old.tokenize_tf([text]).to_list() == cased.tokenize_tf([text]).to_list()
    with pytest.warns(DeprecationWarning, match=f"{cls.__name__}.lowercase is deprecated"):
        assert old.lowercase is False
    # A Keras config stored before the rename (e.g. a saved model holding the tokenizer layer).
    config = cased.get_config()
    config["lowercase"] = config.pop("do_lower_case")
    with pytest.warns(DeprecationWarning, match=OLD):
        restored = cls.from_config(config)
    assert restored.do_lower_case is False and restored.tokenize(text) == cased.tokenize(text)


def test_reference_tokenizer_and_basic_tokenize_new_and_old_names():
    vocab = {"[UNK]": 0, "h": 1, "##ello": 2, "H": 3}
    assert ReferenceTokenizer(vocab, do_lower_case=False).do_lower_case is False
    with pytest.warns(DeprecationWarning, match=OLD):
        tokenizer = ReferenceTokenizer(vocab, lowercase=False)
    assert tokenizer.tokenize("Hello") == ReferenceTokenizer(vocab, do_lower_case=False).tokenize("Hello")
    with pytest.warns(DeprecationWarning, match="ReferenceTokenizer.lowercase is deprecated"):
        assert tokenizer.lowercase is False
    assert google_basic_tokenize("Héllo", do_lower_case=False) == ["Héllo"]
    with pytest.warns(DeprecationWarning, match=OLD):
        assert google_basic_tokenize("Héllo", lowercase=True) == ["hello"]
    with pytest.warns(DeprecationWarning, match=OLD):
        assert GraphPretokenizer(lowercase=False).do_lower_case is False


def test_export_text_packer_new_and_old_names():
    """The in-graph packer of every export: the old keyword gives the same ids (export_saved_model itself is
    checked in tests/export)."""
    strings = np.array(["Héllo WORLD"])
    new = TextPacker(VOCAB, do_lower_case=False, max_seq_length=8, tokenizer_ops="core")
    with pytest.warns(DeprecationWarning, match=OLD):
        old = TextPacker(VOCAB, lowercase=False, max_seq_length=8, tokenizer_ops="core")
    for key, value in new(strings).items():
        np.testing.assert_array_equal(np.asarray(old(strings)[key]), np.asarray(value))


# === history.json of a fine-tuning run made before the rename ===

def test_history_recorded_with_the_old_key_is_the_same_run():
    now = {"learning_rate": 1e-4, "encoder_config": TINY.to_dict()}
    old_config = {**TINY.to_dict(), "lowercase": TINY.do_lower_case}
    del old_config["do_lower_case"]
    with pytest.warns(DeprecationWarning, match="uses the old key 'lowercase'"):
        check_same_run({"config": {"learning_rate": 1e-4, "encoder_config": old_config}}, now, "run")
    with pytest.warns(DeprecationWarning), pytest.raises(FinetuneError, match="encoder_config.do_lower_case"):
        check_same_run({"config": {"learning_rate": 1e-4, "encoder_config": {**old_config, "lowercase": False}}},
                       now, "run")
