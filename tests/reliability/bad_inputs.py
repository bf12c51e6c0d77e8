"""Bad files for the script-level reliability tests: every file a case refers to, written into one folder.

`write_bad_inputs(d)` writes them; case arguments refer to them as `{d}/name` (see test_bad_files.py).
Sizes are tiny on purpose: the cases must fail on the bad input, not spend time training.
"""

import json
import os
import random
import shutil

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTDATA = os.path.join(REPO, "tests", "testdata")
INTEROP = os.path.join(TESTDATA, "parity", "interop_tiny")
VOCAB = os.path.join(INTEROP, "hf", "vocab.txt")  # 99 tokens, uncased
# Bytes that are not UTF-8 from the first one on (0xff/0xfe never occur in UTF-8), then more lines of noise.
BINARY = b"\xff\xfe\x00\x01garbage\n" + bytes(range(256)) * 3


def _write(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _vocab_files(d):
    tokens = open(VOCAB, encoding="utf-8").read().splitlines()
    shutil.copyfile(VOCAB, os.path.join(d, "vocab.txt"))
    _write_bytes(os.path.join(d, "vocab_binary.txt"), BINARY)
    _write(os.path.join(d, "vocab_empty.txt"), "")
    _write(os.path.join(d, "vocab_no_cls.txt"), "\n".join(t for t in tokens if t != "[CLS]") + "\n")
    dup = list(tokens)
    dup[7] = dup[40]  # line 8 repeats line 41's token
    _write(os.path.join(d, "vocab_duplicate.txt"), "\n".join(dup) + "\n")
    return tokens


def _config_files(d):
    config = json.load(open(os.path.join(INTEROP, "tf1", "bert_config.json"), encoding="utf-8"))
    # A valid BERT config whose sizes do not match the interop checkpoint (hidden 24, intermediate 37).
    _write(os.path.join(d, "bert_config_h30.json"), json.dumps({**config, "hidden_size": 30}))
    _write(os.path.join(d, "bert_config_v120.json"), json.dumps({**config, "vocab_size": 120}))
    _write(os.path.join(d, "bert_config_garbled.json"), '{"hidden_size": 24, "num_hidden_layers": ')
    return config


def _checkpoints(d):
    """Checkpoints of the wrong kind: another architecture (.keras, TF, safetensors) and a truncated one."""
    import keras
    import numpy as np
    import tensorflow as tf

    from bert_tf.checkpoints import safetensors_io

    keras.utils.set_random_seed(3)
    other = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
    other.save(os.path.join(d, "other_arch.keras"))
    _write_bytes(os.path.join(d, "garbage.keras"), BINARY)
    with open(os.path.join(d, "other_arch.keras"), "rb") as f:
        _write_bytes(os.path.join(d, "truncated.keras"), f.read()[:2000])  # a zip without its directory
    os.makedirs(os.path.join(d, "other_tf"))
    tf.train.Checkpoint(dense=other.layers[0], scale=tf.Variable(np.ones(3, np.float32))).write(
        os.path.join(d, "other_tf", "model.ckpt"))
    # A Hugging Face directory whose config says BERT but whose weights are GPT-2's names.
    os.makedirs(os.path.join(d, "other_hf"))
    shutil.copyfile(os.path.join(INTEROP, "hf", "config.json"), os.path.join(d, "other_hf", "config.json"))
    shutil.copyfile(VOCAB, os.path.join(d, "other_hf", "vocab.txt"))
    rng = np.random.default_rng(0)
    safetensors_io.write_tensors(os.path.join(d, "other_hf", "model.safetensors"), {
        "wte.weight": rng.normal(size=(99, 24)).astype(np.float32),
        "h.0.attn.c_attn.weight": rng.normal(size=(24, 72)).astype(np.float32),
        "ln_f.weight": np.ones(24, np.float32)})
    # The interop Hugging Face checkpoint with its weights file cut in half.
    shutil.copytree(os.path.join(INTEROP, "hf"), os.path.join(d, "truncated_hf"))
    weights = os.path.join(d, "truncated_hf", "model.safetensors")
    size = os.path.getsize(weights)
    with open(weights, "r+b") as f:
        f.truncate(size // 2)
    # A TF1 checkpoint whose data file is garbage (index intact): bytes that no longer hold the tensors.
    shutil.copytree(os.path.join(INTEROP, "tf1"), os.path.join(d, "corrupt_tf1"))
    data = os.path.join(d, "corrupt_tf1", "bert_model.ckpt.data-00000-of-00001")
    with open(data, "r+b") as f:
        f.truncate(64)


def _classification_files(d):
    rows = [("a good film", "pos"), ("a bad film", "neg"), ("great acting", "pos"), ("dull plot", "neg"),
            ("loved it", "pos"), ("hated it", "neg")]
    _write(os.path.join(d, "train.csv"), "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    _write(os.path.join(d, "eval_unseen_label.csv"), "text,label\nnice,pos\nso so,neutral\nawful,neg\n")
    _write(os.path.join(d, "unterminated_quote.csv"), 'text,label\nfine,pos\n"never closed,neg\nok,pos\n')
    _write(os.path.join(d, "empty.csv"), "")
    _write(os.path.join(d, "header_only.csv"), "text,label\n")
    _write(os.path.join(d, "one_label.csv"), "text,label\na,pos\nb,pos\nc,pos\n")
    _write(os.path.join(d, "missing_column.csv"), "sentence,label\na,pos\nb,neg\n")
    _write_bytes(os.path.join(d, "binary.csv"), b"text,label\nfine,pos\n" + BINARY)
    _write(os.path.join(d, "stray_tab.tsv"), "text\tlabel\nfine\tpos\nbad\tmovie\tneg\n")
    _write(os.path.join(d, "empty_label.tsv"), "text\tlabel\nfine\tpos\nbad\t\n")
    _write(os.path.join(d, "sts_bad_score.tsv"),
           "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n"
           "main\tf\t2012\t1\t4.5\ta man plays\ta man is playing\n"
           "main\tf\t2012\t2\tfive\ta dog runs\ta cat sleeps\n")
    _write(os.path.join(d, "bad.jsonl"), '{"text": "fine", "label": "pos"}\n{"text": "bad", "label": \n')
    _write(os.path.join(d, "missing_key.jsonl"), '{"text": "fine", "label": "pos"}\n{"text": "bad"}\n')
    _write(os.path.join(d, "not_object.jsonl"), '{"text": "fine", "label": "pos"}\n["bad", "neg"]\n')
    _write(os.path.join(d, "klue_nli_broken.json"),
           '[\n {"premise": "a", "hypothesis": "b", "gold_label": "entailment"},\n'
           ' {"premise": "c", "hypothesis": "d", "gold_label": }\n]\n')
    _write(os.path.join(d, "klue_nli_missing.json"),
           '[\n {"premise": "a", "hypothesis": "b", "gold_label": "entailment"},\n'
           ' {"premise": "c", "gold_label": "neutral"}\n]\n')


def _ner_files(d):
    _write(os.path.join(d, "ner_train.conll"),
           "John\tB-person\nlives\tO\nhere\tO\n\nMary\tB-person\nSmith\tI-person\nsings\tO\n")
    _write(os.path.join(d, "ner_no_tag.conll"), "John\tB-person\nlives\tO\nhere\n\n")
    _write(os.path.join(d, "ner_bad_tag.conll"), "John\tB-person\nParis\tLOCATION\n\n")
    _write(os.path.join(d, "ner_eval_unseen.conll"), "John\tB-person\n\nin\tO\nParis\tB-location\n")
    _write(os.path.join(d, "ner_empty.conll"), "\n\n")
    _write(os.path.join(d, "klue_bad.tsv"),
           "## klue-ner-v1.1_train_1\t<팀:OG> 이겼다\n팀\tB-OG\n 이\tO\n겼\tO\n\n")
    _write(os.path.join(d, "klue_orphan.tsv"), "팀\tB-OG\n이\tO\n\n")


def _squad_files(d):
    context = "the man went to the store and bought milk ."
    good = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": [
        {"id": "q1", "question": "what did he buy ?", "answers": [{"text": "milk",
                                                                  "answer_start": context.index("milk")}]}]}]}]}
    _write(os.path.join(d, "squad_good.json"), json.dumps(good, indent=1))
    _write(os.path.join(d, "squad_invalid.json"), '{"version": "1.1",\n "data": [\n  {"title": "t", "paragraphs": [}\n')
    _write(os.path.join(d, "squad_list.json"), "[]\n")
    _write(os.path.join(d, "squad_empty.json"), "")
    no_context = json.loads(json.dumps(good))
    del no_context["data"][0]["paragraphs"][0]["context"]
    _write(os.path.join(d, "squad_no_context.json"), json.dumps(no_context))
    bad_start = json.loads(json.dumps(good))
    bad_start["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = "near the end"
    _write(os.path.join(d, "squad_bad_start.json"), json.dumps(bad_start))
    no_answers = json.loads(json.dumps(good))
    no_answers["data"][0]["paragraphs"][0]["qas"][0]["answers"] = []
    _write(os.path.join(d, "squad_no_answers.json"), json.dumps(no_answers))
    bad_answer = json.loads(json.dumps(good))
    bad_answer["data"][0]["paragraphs"][0]["qas"][0]["answers"] = ["milk"]
    _write(os.path.join(d, "squad_answer_not_object.json"), json.dumps(bad_answer))


def _pretraining_files(d, tokens):
    from bert_tf.data import pretraining_data
    from bert_tf.tokenization import ReferenceTokenizer, load_vocab

    words = [t for t in tokens if t.isalpha() and len(t) > 1][:30]
    rng = random.Random(5)
    lines = []
    for _ in range(12):
        for _ in range(rng.randint(2, 4)):
            lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 7))))
        lines.append("")
    _write(os.path.join(d, "corpus.txt"), "\n".join(lines) + "\n")
    _write(os.path.join(d, "corpus_empty.txt"), "")
    _write(os.path.join(d, "corpus_blank.txt"), "\n  \n\n")
    _write_bytes(os.path.join(d, "corpus_binary.txt"), b"a fine line\nanother line\n" + BINARY)
    tokenizer = ReferenceTokenizer(load_vocab(VOCAB), do_lower_case=True)
    pretraining_data.PretrainingDataCreator(tokenizer, max_seq_length=23, max_predictions_per_seq=5, dupe_factor=1,
                                            num_workers=1).create(os.path.join(d, "corpus.txt"),
                                                                  os.path.join(d, "records_23.tfrecord"))
    _write_bytes(os.path.join(d, "garbage.tfrecord"), BINARY * 4)
    _write_bytes(os.path.join(d, "empty.tfrecord"), b"")
    _write(os.path.join(d, "features_input.txt"), "a good film\nthe man ||| the store\n")
    _write(os.path.join(d, "features_blank_line.txt"), "a good film\n\nthe store\n")


def _saved_classifier(d):
    """A tiny bert_tf classifier saved as fine-tuning saves it (for export_model.py cases)."""
    import keras

    from bert_tf import BertConfig, BertEncoder
    from bert_tf.tasks import BertClassifier

    keras.utils.set_random_seed(4)
    config = BertConfig.preset("test", vocab_size=99, max_position_embeddings=32)
    model = BertClassifier(BertEncoder.from_bert_config(config), num_classes=3, dropout=0.0,
                           label_names=["neg", "neu", "pos"])
    os.makedirs(os.path.join(d, "run"))
    model.save(os.path.join(d, "run", "best_model.keras"))


def _corrupt_run(d):
    """A fine-tuning output folder whose checkpoints are all unreadable (the state file names two)."""
    run = os.path.join(d, "corrupt_run")
    os.makedirs(run)
    for step in (10, 20):
        _write_bytes(os.path.join(run, f"ckpt-{step}.index"), b"not an index" * 10)
        _write_bytes(os.path.join(run, f"ckpt-{step}.data-00000-of-00001"), b"\0" * 100)
    _write(os.path.join(run, "checkpoint"), 'model_checkpoint_path: "ckpt-20"\nall_model_checkpoint_paths: '
           '"ckpt-10"\nall_model_checkpoint_paths: "ckpt-20"\n')


def _unreadable_run_state(d):
    """Issue 14 E: run folders whose resume state is damaged and that hold no checkpoint: a binary `checkpoint`
    state file (pre-training's `training/`), a garbled one (fine-tuning), and a truncated `history.json`."""
    for run in ("state_binary_run/training", "state_garbled_run", "history_truncated_run"):
        os.makedirs(os.path.join(d, run))
    _write_bytes(os.path.join(d, "state_binary_run", "training", "checkpoint"), bytes(range(256)) * 4)
    _write(os.path.join(d, "state_garbled_run", "checkpoint"), "model_checkpoint_path: ckpt-20 {{ garbage\n")
    _write(os.path.join(d, "history_truncated_run", "history.json"), '{"train": [{"step": 10, "loss": 1.0')


def write_bad_inputs(d):
    os.makedirs(d, exist_ok=True)
    tokens = _vocab_files(d)
    _config_files(d)
    _checkpoints(d)
    _classification_files(d)
    _ner_files(d)
    _squad_files(d)
    _pretraining_files(d, tokens)
    _saved_classifier(d)
    _corrupt_run(d)
    _unreadable_run_state(d)
    os.makedirs(os.path.join(d, "a_directory"))
    return d
