"""`benchmarks/korean_nli_inputs.py` compares fine-tuning on KLUE-NLI pairs with the hypothesis alone on one dev set:
the files it writes must be the dev carve `run_classifier.py` makes with issue 12's flags (two learning rates, no
dev file), and its hypothesis-only rows must be the same pairs' hypotheses, in the same order."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository: benchmarks/
from benchmarks.korean_finetune import TASKS  # noqa: E402
from benchmarks.korean_nli_inputs import write_split  # noqa: E402
from bert_tf.finetuning.classifier import _ClassificationData  # noqa: E402
from bert_tf.finetuning.options import FinetuneOptions  # noqa: E402


def _rows(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_the_written_split_is_run_classifier_s_own_dev_carve(tmp_path):
    sizes = write_split(str(tmp_path))
    assert sizes == {"train": 1797, "dev": 201}
    options = FinetuneOptions(learning_rate="1e-4,3e-4")  # a sweep without a dev set carves 10%, as the acceptance
    data = _ClassificationData.read(options, TASKS["klue_nli"]["train"], None, "klue_nli",
                                    (None, None, None, True), "classifier", None)
    for split, examples in (("train", data.train), ("dev", data.dev)):
        pairs = _rows(tmp_path / f"pair_{split}.jsonl")
        assert [(r["premise"], r["hypothesis"], r["label"]) for r in pairs] == [
            (e.text_a, e.text_b, e.label) for e in examples]
        assert _rows(tmp_path / f"hypothesis_{split}.jsonl") == [
            {"hypothesis": r["hypothesis"], "label": r["label"]} for r in pairs]
    # grouped by premise: no dev premise is trained on
    assert not {r["premise"] for r in _rows(tmp_path / "pair_dev.jsonl")} & {
        r["premise"] for r in _rows(tmp_path / "pair_train.jsonl")}
