r"""Fine-tunes BERT for multiple choice on SWAG-format CSV files (sent1, sent2, ending0..N, label): each ending is
packed with the context, scored, and a softmax over the choices is trained (the paper's SWAG setup).

Example:
  python scripts/run_multiple_choice.py --do_train --do_eval --train_file=train.csv --eval_file=val.csv \
      --init_checkpoint=/path/to/checkpoint --max_seq_length=128 --learning_rate=2e-5 --num_train_epochs=3 \
      --output_dir=/tmp/swag

Outputs: eval_results.json (accuracy), best_model.keras, training_curves.png, summaries/,
predictions.tsv with --do_predict.
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
flags.DEFINE_enum("pooling", None, ["cls", "cls_token", "mean", "max"],
                  "Sequence vector for the scorer (cls: BERT's pooler, cls_token: the raw [CLS] vector; see "
                  "bert_tf.heads.SequencePooling); default: the checkpoint's 1_Pooling/config.json, else cls.")
flags.DEFINE_float("dropout", 0.1, "Dropout before the scoring layer.")


def main(argv):
    del argv
    return finetune_flags.run_task(FLAGS, finetune_flags.Task(_finetune, _report, _predict, _evaluate))


def _finetune():
    from bert_tf.finetuning import multiple_choice
    return multiple_choice.finetune_multiple_choice(
        FLAGS.train_file, FLAGS.eval_file if FLAGS.do_eval else None, pooling=FLAGS.pooling, dropout=FLAGS.dropout,
        **finetune_flags.common_kwargs(FLAGS))


def _report(result):
    if "accuracy" in result.eval_results:
        print(f"  accuracy = {result.eval_results['accuracy']:.4f}")


def _evaluate(model, tokenizer):
    from bert_tf.data import swag
    from bert_tf.finetuning import multiple_choice
    x, y = swag.encode_choices(tokenizer, swag.read_swag(FLAGS.eval_file), FLAGS.max_seq_length)
    return multiple_choice.choice_eval(model, x, y, FLAGS.eval_batch_size)


def _predict(model, tokenizer):
    from bert_tf.finetuning import multiple_choice
    return multiple_choice.predict_multiple_choice(
        model, tokenizer, FLAGS.predict_file, os.path.join(FLAGS.output_dir, "predictions.tsv"),
        max_seq_length=FLAGS.max_seq_length, batch_size=FLAGS.eval_batch_size)


if __name__ == "__main__":
    cli.run(main)
