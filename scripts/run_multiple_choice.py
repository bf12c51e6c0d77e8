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

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import finetune_flags  # noqa: E402
import cli  # noqa: E402  (--help exits 0; quiet TensorFlow logs, --verbose_logs)

FLAGS = flags.FLAGS
finetune_flags.define_common_flags()
flags.adopt_module_key_flags(finetune_flags)  # --help lists --train_file, --output_dir, ...
flags.adopt_module_key_flags(cli)
flags.DEFINE_enum("pooling", None, ["cls", "cls_token", "mean", "max"],
                  "Sequence vector for the scorer; default: the checkpoint's 1_Pooling/config.json, else cls.")
flags.DEFINE_float("dropout", 0.1, "Dropout before the scoring layer.")


def main(argv):
    del argv
    from bert_tf.finetuning import common, multiple_choice

    if not (FLAGS.do_train or FLAGS.do_predict or FLAGS.do_eval):
        raise app.UsageError("at least one of --do_train, --do_eval, --do_predict is required")
    try:
        if FLAGS.do_train:
            if not FLAGS.train_file:
                raise app.UsageError("--do_train needs --train_file")
            result = multiple_choice.finetune_multiple_choice(
                FLAGS.train_file, FLAGS.eval_file if FLAGS.do_eval else None, pooling=FLAGS.pooling,
                dropout=FLAGS.dropout, **finetune_flags.common_kwargs(FLAGS))
            model, tokenizer = result.model, result.tokenizer
            print(f"eval results: {os.path.join(result.output_dir, common.EVAL_RESULTS)}")
            if "accuracy" in result.eval_results:
                print(f"  accuracy = {result.eval_results['accuracy']:.4f}")
        else:
            model = common.load_task_model(FLAGS.init_checkpoint)
            if model is None:
                raise app.UsageError("without --do_train, --init_checkpoint must be a fine-tuned .keras model")
            vocab = common.resolve_vocab(FLAGS.vocab_file, None)
            tokenizer = common.make_tokenizer(vocab, model.encoder.bert_config.lowercase
                                              if FLAGS.do_lower_case is None else FLAGS.do_lower_case,
                                              FLAGS.max_input_chars_per_word)
            if FLAGS.do_eval:
                from bert_tf.data import swag
                x, y = swag.encode_choices(tokenizer, swag.read_swag(FLAGS.eval_file), FLAGS.max_seq_length)
                results = multiple_choice.choice_eval(model, x, y, FLAGS.eval_batch_size)
                os.makedirs(FLAGS.output_dir, exist_ok=True)
                common.write_json_atomic(os.path.join(FLAGS.output_dir, common.EVAL_RESULTS), results)
                print(results)
        if FLAGS.do_predict:
            if not FLAGS.predict_file:
                raise app.UsageError("--do_predict needs --predict_file")
            path = multiple_choice.predict_multiple_choice(
                model, tokenizer, FLAGS.predict_file, os.path.join(FLAGS.output_dir, "predictions.tsv"),
                max_seq_length=FLAGS.max_seq_length, batch_size=FLAGS.eval_batch_size)
            print(f"predictions: {path}")
    except finetune_flags.user_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    cli.run(main)
