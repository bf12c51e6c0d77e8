"""Library entry points of the fine-tuning scripts (`scripts/run_*.py` turn flags into these calls).

- `finetune_classifier` / `predict_classifier`: single sentences, pairs, regression (`scripts/run_classifier.py`).
- `finetune_ner`: token classification, CoNLL or KLUE-NER (`scripts/run_ner.py`).
- `finetune_squad`: extractive QA, SQuAD v1.1/v2.0 (`scripts/run_squad.py`).
- `finetune_multiple_choice`: SWAG-style (`scripts/run_multiple_choice.py`).

Each reads its data, `setup.prepare`s the strategy, encoder and tokenizer, encodes, builds its task model and
hands it to `run.run_finetuning` (learning-rate sweep, dev selection, eval scoring, outputs). What the four
share is `FinetuneOptions`; `common` keeps the helpers' old names importable.
"""

from bert_tf.finetuning.classifier import ClassifierResult, finetune_classifier, predict_classifier
from bert_tf.finetuning.multiple_choice import MultipleChoiceResult, finetune_multiple_choice
from bert_tf.finetuning.ner import NerResult, finetune_ner
from bert_tf.finetuning.options import FinetuneError, FinetuneOptions, TrainingOptions
from bert_tf.finetuning.squad import SquadResult, finetune_squad

__all__ = ["ClassifierResult", "FinetuneError", "FinetuneOptions", "MultipleChoiceResult", "NerResult",
           "SquadResult", "TrainingOptions", "finetune_classifier", "finetune_multiple_choice", "finetune_ner",
           "finetune_squad", "predict_classifier"]
