r"""Fine-tunes BERT for extractive QA on SQuAD v1.1/v2.0-format data (KorQuAD too), like google-research/bert's
run_squad.py: sliding windows (--doc_stride), max-context scoring, n-best decoding, answers mapped back to the
original text by character offsets; --version_2_with_negative with --null_score_diff_threshold.

Example:
  python scripts/run_squad.py --do_train --do_predict --train_file=train-v1.1.json --predict_file=dev-v1.1.json \
      --init_checkpoint="$(python -c 'from bert_tf.pretrained import minilm_l6_dir; print(minilm_l6_dir())')" \
      --max_seq_length=384 --doc_stride=128 --learning_rate=3e-5 --num_train_epochs=2 --output_dir=/tmp/squad

Outputs: predictions.json, nbest_predictions.json, null_odds.json (v2), eval_results.json (official EM/F1 when
the predict file has answers), best_model.keras, training_curves.png, summaries/.
"""

import os
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import finetune_flags  # noqa: E402
import cli  # noqa: E402  (--help exits 0; quiet TensorFlow logs, --verbose_logs)

FLAGS = flags.FLAGS
finetune_flags.define_common_flags()
flags.adopt_module_key_flags(finetune_flags)  # --help lists --train_file, --output_dir, ...
flags.adopt_module_key_flags(cli)
flags.DEFINE_integer("doc_stride", 128, "Stride between context windows, in word pieces.")
flags.DEFINE_integer("max_query_length", 64, "Questions are truncated to this many word pieces.")
flags.DEFINE_integer("n_best_size", 20, "Candidates kept per question (nbest_predictions.json).")
flags.DEFINE_integer("max_answer_length", 30, "Longest answer, in word pieces.")
flags.DEFINE_bool("version_2_with_negative", False, "SQuAD 2.0: questions may have no answer.")
flags.DEFINE_float("null_score_diff_threshold", 0.0, "Predict no answer when null score - best score > this.")


def main(argv):
    del argv
    return finetune_flags.run_task(FLAGS, finetune_flags.Task(
        _finetune, _report, _predict, actions=("do_train", "do_predict"), predict_after_training=False))


def _max_seq_length():
    return 384 if FLAGS["max_seq_length"].using_default_value else FLAGS.max_seq_length  # run_squad.py's default


def _decode_flags():
    return dict(doc_stride=FLAGS.doc_stride, max_query_length=FLAGS.max_query_length, n_best_size=FLAGS.n_best_size,
                max_answer_length=FLAGS.max_answer_length, version_2_with_negative=FLAGS.version_2_with_negative,
                null_score_diff_threshold=FLAGS.null_score_diff_threshold)


def _finetune():
    from bert_tf.finetuning import squad
    if FLAGS.do_predict and FLAGS.predict_file:  # a bad predict file fails now, not after training
        from bert_tf.data import read_squad
        read_squad(FLAGS.predict_file, version_2_with_negative=FLAGS.version_2_with_negative)
    return squad.finetune_squad(FLAGS.train_file, FLAGS.predict_file if FLAGS.do_predict else None,
                                **_decode_flags(), **{**finetune_flags.common_kwargs(FLAGS),
                                                      "max_seq_length": _max_seq_length()})


def _report(result):
    for key in ("exact_match", "f1", "exact", "HasAns_f1", "NoAns_exact"):
        if key in result.eval_results:
            print(f"  {key} = {result.eval_results[key]:.2f}")


def _predict(model, tokenizer):
    """Without --do_train: predicts (and scores, when the file has answers) --predict_file."""
    from bert_tf.finetuning import squad
    from bert_tf.finetuning.outputs import EVAL_RESULTS, write_json_atomic
    decode = squad.DecodeOptions(max_seq_length=_max_seq_length(), **_decode_flags())
    _, _, _, metrics = squad.predict_squad(model, tokenizer, FLAGS.predict_file, decode,
                                           batch_size=FLAGS.eval_batch_size, output_dir=FLAGS.output_dir)
    if metrics:
        write_json_atomic(os.path.join(FLAGS.output_dir, EVAL_RESULTS), metrics)
        print(metrics)
    return os.path.join(FLAGS.output_dir, "predictions.json")


if __name__ == "__main__":
    cli.run(main)
