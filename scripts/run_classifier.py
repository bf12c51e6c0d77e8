r"""Fine-tunes BERT for sentence or sentence-pair classification, or regression (google-research/bert's
run_classifier.py, on any checkpoint bert_tf loads), or a bi-encoder for sentence similarity (sentence-transformers').

Examples:
  # Banking77 (77 intents) from the real MiniLM weights; pooling follows the checkpoint's 1_Pooling (mean).
  python scripts/run_classifier.py --do_train --do_eval --data_format=banking77 \
      --train_file=bert_tf/resources/banking77/train.csv --eval_file=bert_tf/resources/banking77/test.csv \
      --init_checkpoint="$(python -c 'from bert_tf.pretrained import minilm_l6_dir; print(minilm_l6_dir())')" \
      --max_seq_length=64 --learning_rate=5e-5 --num_train_epochs=3 --output_dir=/tmp/banking77
  # KorSTS regression from random initialization:
  python scripts/run_classifier.py --do_train --do_eval --data_format=korsts --train_file=sts-train.tsv \
      --eval_file=sts-dev.tsv --vocab_file=vocab.txt --preset=mini --output_dir=/tmp/korsts
  # KorSTS with a bi-encoder (each sentence encoded alone, cosine similarity) from the built-in Korean BERT:
  python scripts/run_classifier.py --do_train --do_eval --data_format=korsts --task_type=bi_encoder \
      --train_file=sts-train.tsv --eval_file=sts-dev.tsv --output_dir=/tmp/korsts_bi \
      --init_checkpoint="$(python -c 'from bert_tf.pretrained import korean_bert_dir; print(korean_bert_dir())')"

Outputs in --output_dir: eval_results.json, best_model.keras (+ best_hf/, best_google/ with --save_formats),
training_curves.png, summaries/ (TensorBoard), predictions.tsv (--do_predict); with several learning rates one
lr_<rate>/ directory per run.
"""

import os
import sys

from absl import flags, logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import finetune_flags  # noqa: E402
import cli  # noqa: E402  (--help exits 0; quiet TensorFlow logs, --verbose_logs)

FLAGS = flags.FLAGS
finetune_flags.define_common_flags()
flags.adopt_module_key_flags(finetune_flags)  # --help lists --train_file, --output_dir, ...
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("data_format", None, "csv, tsv, jsonl, nsmc, klue_nli, korsts, klue_sts, banking77, "
                    "poem_sentiment (default: from the file extension).")
flags.DEFINE_enum("task_type", "classifier", ["classifier", "regressor", "bi_encoder", "classification",
                                              "regression"],
                  "regressor: one output trained with MSE (default for korsts/klue_sts; a cross-encoder, the "
                  "paper's STS-B setup). bi_encoder: sentence pairs scored by the cosine of the two sentences "
                  "encoded alone, trained with MSE (sentence-transformers' CosineSimilarityLoss; mean pooling "
                  "unless the checkpoint or --pooling says otherwise). The task classes' task_type, as in "
                  "export_model.py; classification/regression: deprecated names of the first two.")
cli.define_renamed_values("task_type", {"classification": "classifier", "regression": "regressor"})
flags.DEFINE_bool("regression", False, "Same as --task_type=regressor.")
flags.DEFINE_integer("num_labels", None, "1 means regression; otherwise checked against the training labels.")
flags.DEFINE_string("text_a_column", None, "Column (name, or 0-based index without a header) of the first text.")
flags.DEFINE_string("text_b_column", None, "Column of the second text of a pair.")
flags.DEFINE_string("label_column", None, "Column of the label.")
flags.DEFINE_bool("has_header", True, "csv/tsv: the first row names the columns.")
flags.DEFINE_enum("pooling", None, ["cls", "cls_token", "mean", "max"],
                  "Sequence vector for the classifier (cls: BERT's pooler, cls_token: the raw [CLS] vector; see "
                  "bert_tf.heads.SequencePooling); default: the checkpoint's 1_Pooling/config.json, else cls.")
flags.DEFINE_float("dropout", 0.1, "Dropout on the pooled vector.")
flags.DEFINE_list("score_range", None, "--task_type=bi_encoder: low,high, the scores that cosine 0 and 1 map to "
                  "(default: the data format's scale, 0,5 for korsts/klue_sts, else the training scores' span).")


def main(argv):
    del argv
    regression = (FLAGS.regression or FLAGS.num_labels == 1) and FLAGS.task_type == "classifier"
    task_type = "regressor" if regression else FLAGS.task_type
    return finetune_flags.run_task(FLAGS, finetune_flags.Task(
        lambda: _finetune(task_type), _report, _predict, _evaluate, vocab_beside_model=True,
        model_hint=" (e.g. a previous run's best_model.keras)"))


def _columns():
    return dict(text_a_column=FLAGS.text_a_column, text_b_column=FLAGS.text_b_column,
                label_column=FLAGS.label_column, has_header=FLAGS.has_header)


def _finetune(task_type):
    from bert_tf.finetuning import classifier
    result = classifier.finetune_classifier(
        FLAGS.train_file, FLAGS.eval_file if FLAGS.do_eval else None, data_format=FLAGS.data_format,
        pooling=FLAGS.pooling, task_type=task_type, dropout=FLAGS.dropout, score_range=FLAGS.score_range,
        **_columns(),
        **finetune_flags.common_kwargs(FLAGS))
    if FLAGS.num_labels not in (None, 1) and FLAGS.num_labels != len(result.label_names):
        logging.warning("--num_labels=%d but the training data has %d labels", FLAGS.num_labels,
                        len(result.label_names))
    return result


def _report(result):
    r = result.eval_results
    print(f"  chosen: learning rate {r['learning_rate']:g}, step {r['best_step']} ({r['selection']})")
    for name, values in (("dev", r.get("dev") or {}), (f"eval ({r['eval_file']})", r)):
        shown = [f"{key} = {values[key]:.4f}" for key in ("accuracy", "macro_f1", "mcc", "pearson", "spearman")
                 if key in values]
        if shown:
            print(f"  {name}: " + ", ".join(shown))


def _evaluate(model, tokenizer):
    from bert_tf.finetuning import classifier
    return classifier.evaluate_file(model, tokenizer, FLAGS.eval_file, data_format=FLAGS.data_format,
                                    max_seq_length=FLAGS.max_seq_length, batch_size=FLAGS.eval_batch_size,
                                    columns=tuple(_columns().values()))


def _predict(model, tokenizer):
    from bert_tf.finetuning import classifier
    return classifier.predict_classifier(
        model, tokenizer, FLAGS.predict_file, os.path.join(FLAGS.output_dir, "predictions.tsv"),
        data_format=FLAGS.data_format or classifier.guess_format(FLAGS.predict_file),
        max_seq_length=FLAGS.max_seq_length, batch_size=FLAGS.eval_batch_size, **_columns())


if __name__ == "__main__":
    cli.run(main)
