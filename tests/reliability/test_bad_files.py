"""Bad files and data at the script level (issue 7, part 4): each case runs a script in scripts/ on one bad input
and must exit non-zero with a message naming the file (and the line, where there is one) and the problem, and
no Python traceback.

The cases run in two processes (`script_driver.py`: `absl.app.run(main, argv)` per case, exactly as the
script's `__main__` runs it, with stdout/stderr captured at the file-descriptor level), so TensorFlow is
imported twice instead of once per case.

`{d}` in a case stands for the folder `bad_inputs.write_bad_inputs` fills.
"""

import concurrent.futures
import json
import os
import subprocess
import sys

import pytest

from bad_inputs import REPO, write_bad_inputs

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "script_driver.py")
TESTDATA = os.path.join(REPO, "tests", "testdata")
TF1 = os.path.join(TESTDATA, "parity", "interop_tiny", "tf1")

pytestmark = pytest.mark.slow  # two subprocesses, ~25 s

# A tiny model from random initialization, one epoch: the cases must fail on their input before training.
TINY = ["--preset=test", "--train_batch_size=4", "--num_train_epochs=1", "--max_seq_length=16"]
CLS = ["--do_train", "--data_format=csv", "--text_a_column=text", "--label_column=label", *TINY]
# Pre-training: a few steps only, so a case that wrongly succeeds still ends quickly.
PRE = ["--do_train", "--num_train_steps=2", "--num_warmup_steps=0", "--train_batch_size=4"]


# (script, case name, arguments, substrings the output must contain). Substrings with {d} name files.
CASES = [
    # --- run_classifier.py: vocabularies ---
    ("run_classifier.py", "vocab_missing", [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/nope.txt"],
     ["{d}/nope.txt", "not found"]),
    ("run_classifier.py", "vocab_binary", [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab_binary.txt"],
     ["{d}/vocab_binary.txt", "not valid UTF-8", "line 1"]),
    ("run_classifier.py", "vocab_empty", [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab_empty.txt"],
     ["{d}/vocab_empty.txt", "is empty"]),
    ("run_classifier.py", "vocab_no_cls", [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab_no_cls.txt"],
     ["{d}/vocab_no_cls.txt", "[CLS]"]),
    ("run_classifier.py", "vocab_duplicate",
     [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab_duplicate.txt"],
     ["{d}/vocab_duplicate.txt", "duplicate token", "lines 8 and 41"]),
    ("run_classifier.py", "vocab_is_directory",
     [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/a_directory"], ["{d}/a_directory"]),
    # --- run_classifier.py: configs and checkpoints ---
    ("run_classifier.py", "config_sizes_differ_from_checkpoint",
     [*CLS, "--train_file={d}/train.csv", f"--init_checkpoint={TF1}", "--bert_config_file={d}/bert_config_h30.json"],
     [TF1, "bert/embeddings/word_embeddings", "[99, 24]", "[99, 30]"]),
    ("run_classifier.py", "config_garbled",
     [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab.txt",
      "--bert_config_file={d}/bert_config_garbled.json"],
     ["{d}/bert_config_garbled.json", "not valid JSON"]),
    ("run_classifier.py", "checkpoint_other_arch_keras",
     [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab.txt", "--init_checkpoint={d}/other_arch.keras"],
     ["{d}/other_arch.keras", "Sequential", "BertEncoder"]),
    ("run_classifier.py", "checkpoint_other_arch_tf",
     [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab.txt", "--init_checkpoint={d}/other_tf/model.ckpt"],
     ["{d}/other_tf/model.ckpt", "not a BERT"]),
    ("run_classifier.py", "checkpoint_other_arch_safetensors",
     [*CLS, "--train_file={d}/train.csv", "--init_checkpoint={d}/other_hf"],
     ["{d}/other_hf/model.safetensors", "wte.weight"]),
    ("run_classifier.py", "checkpoint_truncated_safetensors",
     [*CLS, "--train_file={d}/train.csv", "--init_checkpoint={d}/truncated_hf"],
     ["{d}/truncated_hf/model.safetensors"]),
    ("run_classifier.py", "checkpoint_corrupt_tf1_data",
     [*CLS, "--train_file={d}/train.csv", "--init_checkpoint={d}/corrupt_tf1"], ["{d}/corrupt_tf1/bert_model.ckpt"]),
    ("run_classifier.py", "checkpoint_keras_garbage",
     [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab.txt", "--init_checkpoint={d}/garbage.keras"],
     ["{d}/garbage.keras", "not a .keras file"]),
    ("run_classifier.py", "checkpoint_keras_truncated",
     [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab.txt", "--init_checkpoint={d}/truncated.keras"],
     ["{d}/truncated.keras", "not a .keras file"]),
    ("run_classifier.py", "checkpoint_missing",
     [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab.txt", "--init_checkpoint={d}/no_such_ckpt"],
     ["{d}/no_such_ckpt"]),
    # --- run_classifier.py: data files ---
    ("run_classifier.py", "train_missing", [*CLS, "--train_file={d}/nope.csv", "--vocab_file={d}/vocab.txt"],
     ["{d}/nope.csv", "not found"]),
    ("run_classifier.py", "train_empty", [*CLS, "--train_file={d}/empty.csv", "--vocab_file={d}/vocab.txt"],
     ["{d}/empty.csv", "empty"]),
    ("run_classifier.py", "train_header_only", [*CLS, "--train_file={d}/header_only.csv", "--vocab_file={d}/vocab.txt"],
     ["{d}/header_only.csv", "no examples"]),
    ("run_classifier.py", "train_one_label", [*CLS, "--train_file={d}/one_label.csv", "--vocab_file={d}/vocab.txt"],
     ["{d}/one_label.csv", "at least 2 labels"]),
    ("run_classifier.py", "train_missing_column",
     [*CLS, "--train_file={d}/missing_column.csv", "--vocab_file={d}/vocab.txt"],
     ["{d}/missing_column.csv:1", "no column 'text'"]),
    ("run_classifier.py", "train_unterminated_quote",
     [*CLS, "--train_file={d}/unterminated_quote.csv", "--vocab_file={d}/vocab.txt"],
     ["{d}/unterminated_quote.csv:", "malformed CSV"]),
    ("run_classifier.py", "train_not_utf8", [*CLS, "--train_file={d}/binary.csv", "--vocab_file={d}/vocab.txt"],
     ["{d}/binary.csv:3", "not valid UTF-8"]),
    ("run_classifier.py", "tsv_stray_tab",
     [*CLS, "--data_format=tsv", "--train_file={d}/stray_tab.tsv", "--vocab_file={d}/vocab.txt"],
     ["{d}/stray_tab.tsv:3", "expected 2 fields, found 3"]),
    ("run_classifier.py", "tsv_empty_label",
     [*CLS, "--data_format=tsv", "--train_file={d}/empty_label.tsv", "--vocab_file={d}/vocab.txt"],
     ["{d}/empty_label.tsv:3", "empty label"]),
    ("run_classifier.py", "korsts_score_not_a_number",
     ["--do_train", "--data_format=korsts", *TINY, "--train_file={d}/sts_bad_score.tsv", "--vocab_file={d}/vocab.txt"],
     ["{d}/sts_bad_score.tsv:3", "'five' is not a number"]),
    ("run_classifier.py", "jsonl_broken_line",
     [*CLS, "--data_format=jsonl", "--train_file={d}/bad.jsonl", "--vocab_file={d}/vocab.txt"],
     ["{d}/bad.jsonl:2", "not valid JSON"]),
    ("run_classifier.py", "jsonl_missing_key",
     [*CLS, "--data_format=jsonl", "--train_file={d}/missing_key.jsonl", "--vocab_file={d}/vocab.txt"],
     ["{d}/missing_key.jsonl:2", "missing key 'label'"]),
    ("run_classifier.py", "jsonl_not_an_object",
     [*CLS, "--data_format=jsonl", "--train_file={d}/not_object.jsonl", "--vocab_file={d}/vocab.txt"],
     ["{d}/not_object.jsonl:2", "expected a JSON object"]),
    ("run_classifier.py", "klue_nli_broken_json",
     ["--do_train", "--data_format=klue_nli", *TINY, "--train_file={d}/klue_nli_broken.json",
      "--vocab_file={d}/vocab.txt"], ["{d}/klue_nli_broken.json:3", "not valid JSON"]),
    ("run_classifier.py", "klue_nli_missing_key",
     ["--do_train", "--data_format=klue_nli", *TINY, "--train_file={d}/klue_nli_missing.json",
      "--vocab_file={d}/vocab.txt"], ["{d}/klue_nli_missing.json:3", "missing key 'hypothesis'"]),
    ("run_classifier.py", "eval_label_unseen_in_training",
     [*CLS, "--do_eval", "--train_file={d}/train.csv", "--eval_file={d}/eval_unseen_label.csv",
      "--vocab_file={d}/vocab.txt"], ["{d}/eval_unseen_label.csv:3", "'neutral' never occurs in the training data"]),
    ("run_classifier.py", "eval_empty",
     [*CLS, "--do_eval", "--train_file={d}/train.csv", "--eval_file={d}/empty.csv", "--vocab_file={d}/vocab.txt"],
     ["{d}/empty.csv", "empty"]),
    ("run_classifier.py", "output_dir_checkpoints_all_unreadable",
     [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab.txt", "--output_dir={d}/corrupt_run"],
     ["no readable checkpoint in {d}/corrupt_run", "checkpoint {d}/corrupt_run/ckpt-20 is unreadable",
      "checkpoint {d}/corrupt_run/ckpt-10 is unreadable"]),
    # Issue 14 E: a damaged resume state and no checkpoint to resume from: a clear error, not a fresh start.
    ("run_classifier.py", "output_dir_state_file_garbled",
     [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab.txt", "--output_dir={d}/state_garbled_run"],
     ["the checkpoint state file {d}/state_garbled_run/checkpoint is unreadable", "not a checkpoint state",
      "holds no ckpt-<step> checkpoint"]),
    ("run_classifier.py", "output_dir_history_truncated",
     [*CLS, "--train_file={d}/train.csv", "--vocab_file={d}/vocab.txt", "--output_dir={d}/history_truncated_run"],
     ["{d}/history_truncated_run/history.json is unreadable", "not valid JSON"]),
    # --- run_ner.py ---
    ("run_ner.py", "conll_line_without_tag",
     ["--do_train", *TINY, "--train_file={d}/ner_no_tag.conll", "--vocab_file={d}/vocab.txt"],
     ["{d}/ner_no_tag.conll:3", "expected 'WORD<TAB>TAG'"]),
    ("run_ner.py", "conll_bad_tag",
     ["--do_train", *TINY, "--train_file={d}/ner_bad_tag.conll", "--vocab_file={d}/vocab.txt"],
     ["{d}/ner_bad_tag.conll:2", "'LOCATION' is not O or B-/I-/E-/S-"]),
    ("run_ner.py", "conll_empty",
     ["--do_train", *TINY, "--train_file={d}/ner_empty.conll", "--vocab_file={d}/vocab.txt"],
     ["{d}/ner_empty.conll", "empty"]),
    ("run_ner.py", "conll_eval_tag_unseen_in_training",
     ["--do_train", "--do_eval", *TINY, "--train_file={d}/ner_train.conll", "--eval_file={d}/ner_eval_unseen.conll",
      "--vocab_file={d}/vocab.txt"], ["{d}/ner_eval_unseen.conll:3", "'B-location' never occurs in the training"]),
    ("run_ner.py", "klue_ner_two_characters",
     ["--do_train", "--data_format=klue_ner", *TINY, "--train_file={d}/klue_bad.tsv", "--vocab_file={d}/vocab.txt"],
     ["{d}/klue_bad.tsv:3", "single character"]),
    ("run_ner.py", "klue_ner_no_sentence_header",
     ["--do_train", "--data_format=klue_ner", *TINY, "--train_file={d}/klue_orphan.tsv", "--vocab_file={d}/vocab.txt"],
     ["{d}/klue_orphan.tsv:1", "outside a '## <guid>' block"]),
    ("run_ner.py", "vocab_binary",
     ["--do_train", *TINY, "--train_file={d}/ner_train.conll", "--vocab_file={d}/vocab_binary.txt"],
     ["{d}/vocab_binary.txt", "not valid UTF-8"]),
    ("run_ner.py", "checkpoint_other_arch_tf",
     ["--do_train", *TINY, "--train_file={d}/ner_train.conll", "--vocab_file={d}/vocab.txt",
      "--init_checkpoint={d}/other_tf/model.ckpt"], ["{d}/other_tf/model.ckpt", "not a BERT"]),
    # --- run_squad.py ---
    ("run_squad.py", "invalid_json", ["--do_train", *TINY, "--train_file={d}/squad_invalid.json",
                                      "--vocab_file={d}/vocab.txt"], ["{d}/squad_invalid.json:3", "not valid JSON"]),
    ("run_squad.py", "not_squad_format", ["--do_train", *TINY, "--train_file={d}/squad_list.json",
                                          "--vocab_file={d}/vocab.txt"], ["{d}/squad_list.json", "not SQuAD format"]),
    ("run_squad.py", "empty_file", ["--do_train", *TINY, "--train_file={d}/squad_empty.json",
                                    "--vocab_file={d}/vocab.txt"], ["{d}/squad_empty.json", "empty"]),
    ("run_squad.py", "missing_context", ["--do_train", *TINY, "--train_file={d}/squad_no_context.json",
                                         "--vocab_file={d}/vocab.txt"],
     ["{d}/squad_no_context.json", "data[0].paragraphs[0]", "'context'"]),
    ("run_squad.py", "answer_start_not_a_number",
     ["--do_train", *TINY, "--train_file={d}/squad_bad_start.json", "--vocab_file={d}/vocab.txt"],
     ["{d}/squad_bad_start.json", "data[0].paragraphs[0].qas[0].answers[0]", "answer_start"]),
    ("run_squad.py", "answer_not_an_object",
     ["--do_train", *TINY, "--train_file={d}/squad_answer_not_object.json", "--vocab_file={d}/vocab.txt"],
     ["{d}/squad_answer_not_object.json", "data[0].paragraphs[0].qas[0].answers[0]"]),
    ("run_squad.py", "v1_training_question_without_answers",
     ["--do_train", *TINY, "--train_file={d}/squad_no_answers.json", "--vocab_file={d}/vocab.txt"],
     ["{d}/squad_no_answers.json", "qas[0]", "no answers"]),
    ("run_squad.py", "predict_file_missing",
     ["--do_train", "--do_predict", *TINY, "--train_file={d}/squad_good.json", "--predict_file={d}/nope.json",
      "--vocab_file={d}/vocab.txt"], ["{d}/nope.json", "not found"]),
    ("run_squad.py", "config_sizes_differ_from_checkpoint",
     ["--do_train", *TINY, "--train_file={d}/squad_good.json", f"--init_checkpoint={TF1}",
      "--bert_config_file={d}/bert_config_h30.json"], [TF1, "[99, 24]", "[99, 30]"]),
    # --- run_pretraining.py ---
    ("run_pretraining.py", "vocab_missing",
     [*PRE, "--input_file={d}/records_23.tfrecord", "--vocab_file={d}/nope.txt", "--preset=test"],
     ["{d}/nope.txt", "does not exist"]),
    ("run_pretraining.py", "vocab_binary",
     [*PRE, "--input_file={d}/records_23.tfrecord", "--vocab_file={d}/vocab_binary.txt", "--preset=test"],
     ["{d}/vocab_binary.txt", "not valid UTF-8"]),
    ("run_pretraining.py", "input_matches_no_file",
     [*PRE, "--input_file={d}/nope*.tfrecord", "--vocab_file={d}/vocab.txt", "--preset=test"],
     ["{d}/nope*.tfrecord", "matches no file"]),
    ("run_pretraining.py", "input_not_tfrecord",
     [*PRE, "--input_file={d}/garbage.tfrecord", "--vocab_file={d}/vocab.txt", "--preset=test",
      "--max_seq_length=23", "--max_predictions_per_seq=5"], ["{d}/garbage.tfrecord", "not a readable TFRecord"]),
    ("run_pretraining.py", "input_empty",
     [*PRE, "--input_file={d}/empty.tfrecord", "--vocab_file={d}/vocab.txt", "--preset=test",
      "--max_seq_length=23", "--max_predictions_per_seq=5"], ["{d}/empty.tfrecord", "no records"]),
    ("run_pretraining.py", "records_of_another_length",
     [*PRE, "--input_file={d}/records_23.tfrecord", "--vocab_file={d}/vocab.txt", "--preset=test",
      "--max_seq_length=32", "--max_predictions_per_seq=5"],
     ["{d}/records_23.tfrecord", "'input_ids' has 23 values per record but 32", "--max_seq_length=23"]),
    ("run_pretraining.py", "vocab_no_cls",
     [*PRE, "--input_file={d}/records_23.tfrecord", "--vocab_file={d}/vocab_no_cls.txt", "--preset=test"],
     ["{d}/vocab_no_cls.txt", "[CLS]"]),
    ("run_pretraining.py", "config_vocab_size_differs",
     [*PRE, "--input_file={d}/records_23.tfrecord", "--vocab_file={d}/vocab.txt",
      "--bert_config_file={d}/bert_config_v120.json"], ["{d}/bert_config_v120.json", "vocab_size 120", "99"]),
    ("run_pretraining.py", "config_garbled",
     [*PRE, "--input_file={d}/records_23.tfrecord", "--vocab_file={d}/vocab.txt",
      "--bert_config_file={d}/bert_config_garbled.json"], ["{d}/bert_config_garbled.json", "not valid JSON"]),
    ("run_pretraining.py", "init_checkpoint_other_arch",
     [*PRE, "--input_file={d}/records_23.tfrecord", "--vocab_file={d}/vocab.txt",
      "--init_checkpoint={d}/other_arch.keras", "--max_seq_length=23", "--max_predictions_per_seq=5"],
     ["{d}/other_arch.keras", "Sequential"]),
    ("run_pretraining.py", "output_dir_state_file_binary",
     [*PRE, "--input_file={d}/records_23.tfrecord", "--vocab_file={d}/vocab.txt", "--preset=test",
      "--max_seq_length=23", "--max_predictions_per_seq=5", "--output_dir={d}/state_binary_run"],
     ["the checkpoint state file {d}/state_binary_run/training/checkpoint is unreadable", "not UTF-8"]),
    # --- create_pretraining_data.py ---
    ("create_pretraining_data.py", "vocab_missing",
     ["--input_file={d}/corpus.txt", "--output_file={d}/x.tfrecord", "--vocab_file={d}/nope.txt"],
     ["{d}/nope.txt", "does not exist"]),
    ("create_pretraining_data.py", "vocab_binary",
     ["--input_file={d}/corpus.txt", "--output_file={d}/x.tfrecord", "--vocab_file={d}/vocab_binary.txt"],
     ["{d}/vocab_binary.txt", "not valid UTF-8"]),
    ("create_pretraining_data.py", "vocab_empty",
     ["--input_file={d}/corpus.txt", "--output_file={d}/x.tfrecord", "--vocab_file={d}/vocab_empty.txt"],
     ["{d}/vocab_empty.txt", "is empty"]),
    ("create_pretraining_data.py", "vocab_no_cls",
     ["--input_file={d}/corpus.txt", "--output_file={d}/x.tfrecord", "--vocab_file={d}/vocab_no_cls.txt"],
     ["{d}/vocab_no_cls.txt", "[CLS]"]),
    ("create_pretraining_data.py", "input_missing",
     ["--input_file={d}/nope.txt", "--output_file={d}/x.tfrecord", "--vocab_file={d}/vocab.txt", "--num_workers=1"],
     ["{d}/nope.txt"]),
    ("create_pretraining_data.py", "input_empty",
     ["--input_file={d}/corpus_empty.txt", "--output_file={d}/x.tfrecord", "--vocab_file={d}/vocab.txt",
      "--num_workers=1"], ["{d}/corpus_empty.txt", "no text"]),
    ("create_pretraining_data.py", "input_blank_lines_only",
     ["--input_file={d}/corpus_blank.txt", "--output_file={d}/x.tfrecord", "--vocab_file={d}/vocab.txt",
      "--num_workers=1"], ["{d}/corpus_blank.txt", "no text"]),
    ("create_pretraining_data.py", "input_not_utf8",
     ["--input_file={d}/corpus_binary.txt", "--output_file={d}/x.tfrecord", "--vocab_file={d}/vocab.txt",
      "--num_workers=1"], ["{d}/corpus_binary.txt:3", "not UTF-8"]),
    # --- build_vocab.py ---
    ("build_vocab.py", "input_missing", ["--input_file={d}/nope.txt", "--output_file={d}/v.txt"],
     ["{d}/nope.txt", "matches no file"]),
    ("build_vocab.py", "input_empty", ["--input_file={d}/corpus_empty.txt", "--output_file={d}/v.txt"],
     ["{d}/corpus_empty.txt", "no words"]),
    ("build_vocab.py", "input_not_utf8", ["--input_file={d}/corpus_binary.txt", "--output_file={d}/v.txt"],
     ["{d}/corpus_binary.txt", "line 3", "UTF-8"]),
    # --- extract_features.py ---
    ("extract_features.py", "input_missing",
     ["--input_file={d}/nope.txt", "--output_file={d}/f.jsonl", f"--init_checkpoint={TF1}"], ["{d}/nope.txt"]),
    ("extract_features.py", "input_empty",
     ["--input_file={d}/corpus_empty.txt", "--output_file={d}/f.jsonl", f"--init_checkpoint={TF1}"],
     ["{d}/corpus_empty.txt", "no text"]),
    ("extract_features.py", "input_blank_line",
     ["--input_file={d}/features_blank_line.txt", "--output_file={d}/f.jsonl", f"--init_checkpoint={TF1}"],
     ["{d}/features_blank_line.txt:2", "empty line"]),
    ("extract_features.py", "vocab_binary",
     ["--input_file={d}/features_input.txt", "--output_file={d}/f.jsonl", f"--init_checkpoint={TF1}",
      "--vocab_file={d}/vocab_binary.txt"], ["{d}/vocab_binary.txt", "not valid UTF-8"]),
    ("extract_features.py", "vocab_no_cls",
     ["--input_file={d}/features_input.txt", "--output_file={d}/f.jsonl", f"--init_checkpoint={TF1}",
      "--vocab_file={d}/vocab_no_cls.txt"], ["{d}/vocab_no_cls.txt", "[CLS]"]),
    ("extract_features.py", "config_sizes_differ_from_checkpoint",
     ["--input_file={d}/features_input.txt", "--output_file={d}/f.jsonl", f"--init_checkpoint={TF1}",
      "--bert_config_file={d}/bert_config_h30.json"], [TF1, "[99, 24]", "[99, 30]"]),
    ("extract_features.py", "checkpoint_other_arch_keras",
     ["--input_file={d}/features_input.txt", "--output_file={d}/f.jsonl", "--init_checkpoint={d}/other_arch.keras",
      "--vocab_file={d}/vocab.txt"], ["{d}/other_arch.keras", "Sequential"]),
    ("extract_features.py", "config_garbled",
     ["--input_file={d}/features_input.txt", "--output_file={d}/f.jsonl", f"--init_checkpoint={TF1}",
      "--bert_config_file={d}/bert_config_garbled.json"], ["{d}/bert_config_garbled.json", "not valid JSON"]),
    ("extract_features.py", "checkpoint_keras_truncated",
     ["--input_file={d}/features_input.txt", "--output_file={d}/f.jsonl", "--init_checkpoint={d}/truncated.keras",
      "--vocab_file={d}/vocab.txt"], ["{d}/truncated.keras"]),
    ("extract_features.py", "checkpoint_corrupt_tf1_data",
     ["--input_file={d}/features_input.txt", "--output_file={d}/f.jsonl", "--init_checkpoint={d}/corrupt_tf1"],
     ["{d}/corrupt_tf1/bert_model.ckpt"]),
    # --- export_model.py ---
    ("export_model.py", "model_of_other_arch",
     ["--model={d}/other_arch.keras", "--vocab_file={d}/vocab.txt", "--export_base={d}/exports", "--model_name=m"],
     ["{d}/other_arch.keras", "holds a Sequential, not a bert_tf model"]),
    ("export_model.py", "model_of_other_arch_with_task_type",
     ["--model={d}/other_arch.keras", "--vocab_file={d}/vocab.txt", "--export_base={d}/exports", "--model_name=m2",
      "--task_type=classifier"], ["{d}/other_arch.keras", "holds a Sequential, not a bert_tf model"]),
    ("export_model.py", "vocab_binary",
     ["--model={d}/run/best_model.keras", "--vocab_file={d}/vocab_binary.txt", "--export_base={d}/exports",
      "--model_name=m3", "--max_seq_length=16"], ["{d}/vocab_binary.txt", "not valid UTF-8"]),
    ("export_model.py", "vocab_empty",
     ["--model={d}/run/best_model.keras", "--vocab_file={d}/vocab_empty.txt", "--export_base={d}/exports",
      "--model_name=m4", "--max_seq_length=16"], ["{d}/vocab_empty.txt", "is empty"]),
    ("export_model.py", "vocab_larger_than_model",
     ["--model={d}/run/best_model.keras", f"--vocab_file={os.path.join(TESTDATA, 'vocab', 'uncased_vocab.txt')}",
      "--export_base={d}/exports", "--model_name=m5", "--max_seq_length=16"],
     ["uncased_vocab.txt", "has 30522 tokens but the model's vocab_size is 99"]),
    ("export_model.py", "init_checkpoint_other_arch_tf",
     ["--init_checkpoint={d}/other_tf/model.ckpt", "--vocab_file={d}/vocab.txt", "--export_base={d}/exports",
      "--model_name=m6"], ["{d}/other_tf/model.ckpt", "not a BERT"]),
]


def _cases_by_script(d):
    by_script = {}
    for script, name, args, _ in CASES:
        by_script.setdefault(script, {})[name] = [a.replace("{d}", d) for a in args] + (
            [] if any(a.startswith("--output_dir") for a in args) or script not in _NEEDS_OUTPUT_DIR
            else [f"--output_dir={d}/out_{script[:-3]}_{name}"])
    return by_script


_NEEDS_OUTPUT_DIR = {"run_classifier.py", "run_ner.py", "run_squad.py", "run_pretraining.py"}


# Two driver processes (two cores), each importing TensorFlow once for its scripts; similar total case time.
GROUPS = (("run_classifier.py", "run_squad.py", "export_model.py", "build_vocab.py"),
          ("run_ner.py", "run_pretraining.py", "create_pretraining_data.py", "extract_features.py"))


def _run_driver(cases_by_script, work, tag):
    cases_path = os.path.join(work, f"cases_{tag}.json")
    results_path = os.path.join(work, f"results_{tag}.json")
    with open(cases_path, "w", encoding="utf-8") as f:
        json.dump({os.path.join(REPO, "scripts", script): cases for script, cases in cases_by_script.items()}, f)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, DRIVER, cases_path, results_path], capture_output=True, text=True,
                          timeout=900, cwd=REPO, env=env)
    if proc.returncode != 0 or not os.path.isfile(results_path):
        raise AssertionError(f"the driver failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    with open(results_path, encoding="utf-8") as f:
        return {os.path.basename(script): results for script, results in json.load(f).items()}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("bad_inputs"))
    write_bad_inputs(d)
    by_script = _cases_by_script(d)
    assert sorted(by_script) == sorted(s for group in GROUPS for s in group)
    work = str(tmp_path_factory.mktemp("driver"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(GROUPS)) as pool:
        futures = [pool.submit(_run_driver, {s: by_script[s] for s in group}, work, i)
                   for i, group in enumerate(GROUPS)]
        out = {}
        for future in futures:
            out.update(future.result())
    return d, out


@pytest.mark.parametrize("script,name,args,expected", CASES, ids=[f"{c[0][:-3]}-{c[1]}" for c in CASES])
def test_bad_input_gives_a_clear_error(results, script, name, args, expected):
    d, out = results
    result = out[script][name]
    text = result["stdout"] + result["stderr"]
    assert result["code"] != 0, f"{script} {name} succeeded:\n{text[-3000:]}"
    assert "Traceback" not in text, f"{script} {name}: a traceback instead of a clear error:\n{text[-5000:]}"
    for fragment in expected:
        assert fragment.replace("{d}", d) in text, f"{script} {name}: {fragment!r} not in:\n{text[-3000:]}"
