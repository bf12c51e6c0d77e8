"""Exports bert_tf models as raw-text SavedModels in TensorFlow Serving's layout (`BASE/NAME/<version>/`).

Every export carries its tokenizer (vocabulary as an asset) and its label names (an asset too), truncates to
`max_seq_length` in the graph (by default the one the model was fine-tuned with, when it records one), and by
default tokenizes with core TensorFlow ops only, so it loads in any TF 2.x program and any TF Serving build
without `import tensorflow_text`.

Signatures (tensor names from `bert_tf.features`):

| task | `serving_default` (raw text) | also |
|---|---|---|
| classifier | `text` [, `text_b`] → `probabilities` [B, C], `label_ids` [B], `labels` [B] | `serve_token_ids`, `classify` |
| regressor | `text` [, `text_b`] → `score` [B] | `serve_token_ids`, `regress` |
| bi_encoder | `text`, `text_b` → `score` [B] (each text encoded alone, cosine mapped to the score range it was trained with) | `serve_token_ids` ([B, 2, T]), `regress` |
| encoder | `text` [, `text_b`] → `embedding` [B, H], `pooled_output` [B, H] | `serve_token_ids` |
| token_classifier | `text` → `words`, `word_labels`, ... [B, W], `num_words` [B] (below) | `serve_token_ids` |
| span_qa | `question`, `context` → `answer`, `score`, `answer_start`/`_end`, `null_score` [B] | `serve_token_ids` |

`serve_token_ids` takes `token_ids`, `segment_ids`, `padding_mask` ([B, T] int32) for clients that tokenize
themselves. `classify`/`regress` take serialized `tf.Example`s (feature `text`, and `text_b` for pairs) under the
key `inputs`, with TF Serving's method names, so its Classify and Regress APIs work.

The per-word outputs of `token_classifier` and the windows and answer rules of `span_qa` are described in
`serving/export/token_classifier.py` and `serving/export/span_qa.py`.

Modules: `saved_model` (`export_saved_model`, `next_version`), `tasks` (task type -> its `ExportModule`:
`classifier`, `regressor`, `bi_encoder`, `encoder`, `token_classifier`, `span_qa`, one module each), `module` (the
text packer, the `ExportModule` base and the one signature builder), `dtypes` (`with_dtype`), `audit`
(the ops a SavedModel uses).
"""

# Output names live in `bert_tf.features`; re-exported here for callers of this package.
from bert_tf.features import (ANSWER, ANSWER_END, ANSWER_START, END_LOGITS, END_POSITION, NULL_SCORE,  # noqa: F401
                              NUM_WORDS, SCORE, START_LOGITS, START_POSITION, WORD_ENDS, WORD_LABEL_IDS,
                              WORD_LABELS, WORD_SCORES, WORD_STARTS, WORDS)
from serving.export.dtypes import EXPORT_DTYPES, with_dtype
from serving.export.module import (CLASSIFY_METHOD_NAME, REGRESS_METHOD_NAME, TOKENIZER_OPS, ExportError,
                                   ExportModule)
from serving.export.saved_model import (DEFAULT_MAX_SEQ_LENGTH, export_saved_model, next_version,
                                        resolve_max_input_chars_per_word, resolve_max_seq_length)
from serving.export.tasks import TASK_TYPES, TASKS

__all__ = ["export_saved_model", "next_version", "with_dtype", "ExportError", "ExportModule", "TASKS",
           "TASK_TYPES", "TOKENIZER_OPS", "EXPORT_DTYPES", "CLASSIFY_METHOD_NAME", "REGRESS_METHOD_NAME",
           "resolve_max_seq_length", "resolve_max_input_chars_per_word", "DEFAULT_MAX_SEQ_LENGTH"]
