r"""Fine-tunes BERT for named-entity recognition (token classification) on CoNLL-style BIO/BIOES files
(e.g. WNUT-17) or KLUE-NER's character-level TSV.

Example:
  python scripts/run_ner.py --do_train --do_eval --data_format=conll \
      --train_file=wnut17train.conll --eval_file=emerging.dev.conll \
      --init_checkpoint="$(python -c 'from bert_tf.pretrained import minilm_l6_dir; print(minilm_l6_dir())')" \
      --max_seq_length=128 --learning_rate=5e-5 --num_train_epochs=3 --output_dir=/tmp/wnut17

Outputs in --output_dir: eval_results.json (entity precision/recall/F1, per-type F1), eval_predictions.txt
(word, gold, predicted), best_model.keras, training_curves.png, summaries/; predictions.txt with --do_predict.
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
flags.DEFINE_enum("data_format", "conll", ["conll", "klue_ner"], "Input format.")
flags.DEFINE_float("dropout", 0.1, "Dropout before the tag layer.")


def main(argv):
    del argv
    from bert_tf.finetuning import common, ner

    if not (FLAGS.do_train or FLAGS.do_predict or FLAGS.do_eval):
        raise app.UsageError("at least one of --do_train, --do_eval, --do_predict is required")
    try:
        if FLAGS.do_train:
            if not FLAGS.train_file:
                raise app.UsageError("--do_train needs --train_file")
            result = ner.finetune_ner(FLAGS.train_file, FLAGS.eval_file if FLAGS.do_eval else None,
                                      data_format=FLAGS.data_format, dropout=FLAGS.dropout,
                                      **finetune_flags.common_kwargs(FLAGS))
            model, tokenizer = result.model, result.tokenizer
            print(f"eval results: {os.path.join(result.output_dir, common.EVAL_RESULTS)}")
            if "f1" in result.eval_results:
                print(f"  entity f1 = {result.eval_results['f1']:.4f}")
        else:
            model = common.load_task_model(FLAGS.init_checkpoint)
            if model is None:
                raise app.UsageError("without --do_train, --init_checkpoint must be a fine-tuned .keras model")
            vocab = common.resolve_vocab(FLAGS.vocab_file, None)
            tokenizer = common.make_tokenizer(vocab, model.encoder.bert_config.lowercase
                                              if FLAGS.do_lower_case is None else FLAGS.do_lower_case,
                                              FLAGS.max_input_chars_per_word)
            if FLAGS.do_eval:
                from bert_tf.data import ner_features
                examples = ner.read_tagged(FLAGS.eval_file, FLAGS.data_format)
                feats = ner_features.encode_tagged(tokenizer, examples, FLAGS.max_seq_length, model.label_names)
                results, _ = ner.ner_eval(model, tokenizer, examples, feats, model.label_names,
                                          FLAGS.eval_batch_size)
                os.makedirs(FLAGS.output_dir, exist_ok=True)
                common.write_json_atomic(os.path.join(FLAGS.output_dir, common.EVAL_RESULTS), results)
                print(results)
        if FLAGS.do_predict:
            if not FLAGS.predict_file:
                raise app.UsageError("--do_predict needs --predict_file")
            path = ner.predict_ner(model, tokenizer, FLAGS.predict_file,
                                   os.path.join(FLAGS.output_dir, "predictions.txt"), data_format=FLAGS.data_format,
                                   max_seq_length=FLAGS.max_seq_length, batch_size=FLAGS.eval_batch_size)
            print(f"predictions: {path}")
    except finetune_flags.user_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    cli.run(main)
