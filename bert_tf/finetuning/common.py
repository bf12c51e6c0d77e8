"""The fine-tuning helpers under their old names (kept importable): they now live in `options` (FinetuneOptions,
TrainingOptions, errors), `setup` (strategy, vocabulary, encoder, tokenizer), `selection` (dev set, what
`eval_results.json` says), `history` (history.json, rerun checks), `run` (train_one, sweep, run_finetuning),
`predict` and `outputs` (best_model.keras, curves, exports)."""

from bert_tf.finetuning.history import (BEST_MODEL, RunResult, check_same_run, read_history,  # noqa: F401
                                        run_settings)
from bert_tf.finetuning.options import (FinetuneError, FinetuneOptions, TrainingInterrupted,  # noqa: F401
                                        TrainingOptions, parse_learning_rates)
from bert_tf.finetuning.outputs import (CURVES_PNG, EVAL_RESULTS, SAVE_FORMATS, copy_vocab,  # noqa: F401
                                        curves_figure, export_formats, plot_curves, plot_sweep, write_json_atomic)
from bert_tf.finetuning.outputs import save_keras_atomic as _save_keras_atomic  # noqa: F401
from bert_tf.finetuning.predict import _per_token, predict, softmax  # noqa: F401
from bert_tf.finetuning.run import _trim_batch, run_finetuning, sweep, train_one  # noqa: F401
from bert_tf.finetuning.selection import (DEFAULT_DEV_FRACTION, DEV_SPLIT_SEED, select_dev,  # noqa: F401
                                          selection_results)
from bert_tf.finetuning.setup import (Setup, build_encoder, check_init_checkpoint, copy_encoder,  # noqa: F401
                                      default_output_dir, get_strategy, load_task_model, make_tokenizer, prepare,
                                      resolve_vocab)
