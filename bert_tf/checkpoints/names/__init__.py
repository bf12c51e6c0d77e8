"""The one place that knows foreign variable names: Google TF1, Hugging Face and TF Model Garden BERT.

`table.py` holds the names, kinds, shapes and layout transforms; `planning.py` checks and maps a checkpoint's
name list. Both are used through this package (`names.plan(...)`, `names.foreign_name(...)`, ...).

Every converter goes through bert_tf's *canonical* weight names, defined in `table.py` with their layout:

| canonical | shape | Google TF1 (`modeling.py`) | Hugging Face (`BertModel`/`BertForPreTraining`) | Model Garden |
|---|---|---|---|---|
| `embeddings/token` | `(V, H)` | `bert/embeddings/word_embeddings` | `embeddings.word_embeddings.weight` | `encoder/layer_with_weights-0/embeddings` |
| `layer_{i}/attention/query/kernel` | `(H, H)` | `.../attention/self/query/kernel` | `...attention.self.query.weight` (transposed) | `.../_query_dense/kernel` `(H, N, D)` |
| `nsp/kernel` | `(H, 2)` | `cls/seq_relationship/output_weights` `(2, H)` | `cls.seq_relationship.weight` `(2, H)` | (none) |
| ... | | | | |

Canonical layout is Keras's: dense kernels `(in, out)`, attention projections flattened to `(H, H)` with the
head index major (`column = head * head_size + d`, which is how google-research/bert reshapes), biases `(H,)`.
`to_canonical` / `from_canonical` turn each format's tensor into that layout and back.

`plan()` checks a checkpoint's name → shape list against a `BertConfig` *without reading any tensor*: every
name must be mapped, tied to a mapped one, or explicitly ignored; every canonical weight must be present;
every shape must match. It is what the loaders use, and what the tests run on the name list of Google's
published Chinese BERT-Base.
"""

from bert_tf.checkpoints.names.planning import Plan, count_layers, find_prefix, infer_config, plan
from bert_tf.checkpoints.names.table import (ATTENTION_OUTPUT_KERNEL, EMBEDDING, GOOGLE_TF1, HUGGING_FACE,
                                             IGNORED_PATTERNS, KERNEL, MODEL_GARDEN, QKV_BIAS, QKV_KERNEL, VECTOR,
                                             canonical_names, canonical_shape, foreign_name, foreign_shape,
                                             from_canonical, kind, to_canonical)

__all__ = ["ATTENTION_OUTPUT_KERNEL", "EMBEDDING", "GOOGLE_TF1", "HUGGING_FACE", "IGNORED_PATTERNS", "KERNEL",
           "MODEL_GARDEN", "Plan", "QKV_BIAS", "QKV_KERNEL", "VECTOR", "canonical_names", "canonical_shape",
           "count_layers", "find_prefix", "foreign_name", "foreign_shape", "from_canonical", "infer_config", "kind",
           "plan", "to_canonical"]
