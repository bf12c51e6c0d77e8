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

from absl import flags

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
    return finetune_flags.run_task(FLAGS, finetune_flags.Task(_finetune, _report, _predict, _evaluate))


def _finetune():
    from bert_tf.finetuning import ner
    return ner.finetune_ner(FLAGS.train_file, FLAGS.eval_file if FLAGS.do_eval else None,
                            data_format=FLAGS.data_format, dropout=FLAGS.dropout, **finetune_flags.common_kwargs(FLAGS))


def _report(result):
    if "f1" in result.eval_results:
        print(f"  entity f1 = {result.eval_results['f1']:.4f}")


def _evaluate(model, tokenizer):
    from bert_tf.data import ner_features
    from bert_tf.finetuning import ner
    examples = ner.read_tagged(FLAGS.eval_file, FLAGS.data_format)
    feats = ner_features.encode_tagged(tokenizer, examples, FLAGS.max_seq_length, model.label_names)
    return ner.ner_eval(model, tokenizer, examples, feats, model.label_names, FLAGS.eval_batch_size)[0]


def _predict(model, tokenizer):
    from bert_tf.finetuning import ner
    return ner.predict_ner(model, tokenizer, FLAGS.predict_file, os.path.join(FLAGS.output_dir, "predictions.txt"),
                           data_format=FLAGS.data_format, max_seq_length=FLAGS.max_seq_length,
                           batch_size=FLAGS.eval_batch_size)


if __name__ == "__main__":
    cli.run(main)
