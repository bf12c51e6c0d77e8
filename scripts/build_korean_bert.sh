#!/usr/bin/env bash
# Rebuilds the built-in Korean BERT (bert_tf/resources/korean_bert) with the project's own scripts: split the
# corpora by document (1% held out), learn a cased 16k WordPiece vocabulary, write whole-word-masked records,
# pre-train BERT-Mini with MLM (float32, sequences of 64: NSMC reviews are short), store that model in float16
# (the model shipped before ELECTRA), continue from it with ELECTRA's replaced-token detection (a fresh
# generator of a quarter of the width; mixed bfloat16), then continue ELECTRA on records of 128 pieces (positions
# 64-127), held-out evaluation throughout, store the discriminator and the generator in float16, train the
# discriminator to name the emoticons removed from reviews (two rounds of one epoch, no human label), average the
# discriminator before and after that stage, teach that average at every piece of a sentence pair whether the
# piece is also in the other segment (the piece-match stage), give it one more emoticon round, average the model
# before and after that round (stage 5), run that cycle once more with each segment's share of matching pieces
# as a second target on the pooled vector (the coverage stage) and a fourth emoticon round, and ship the weight
# average of the model before and after that round (the shipped encoder) with the generator.
# Every stage is skipped when its output exists; pre-training and the emoticon rounds resume from their last
# checkpoint and the piece-match stages from their last finished epoch, so rerunning the script continues an
# interrupted build. Usage:
#   bash scripts/build_korean_bert.sh WORK_DIR CORPUS_DIR
# CORPUS_DIR (required) holds nsmc_unlabeled/nsmc_unlabeled.txt.gz and kowiki_pretrain/kowiki_sample.txt (the
# corpora are not in the repository: see the model card for their sources); WORK_DIR (default runs/korean_bert,
# git-ignored) receives the intermediate files. The model is written to OUT (default
# bert_tf/resources/korean_bert, the built-in model). The environment variables below (STEPS, VOCAB_SIZE,
# EMOTICON_PER_CLASS, MATCH_PAIRS, ...) default to the shipped recipe; tests/scripts/test_build_korean_bert.py runs
# the whole script with tiny values on a tiny corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-runs/korean_bert}
C=${2:?usage: bash scripts/build_korean_bert.sh WORK_DIR CORPUS_DIR (CORPUS_DIR holds nsmc_unlabeled/ and kowiki_pretrain/)}
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-bert_tf/resources/korean_bert}
VOCAB_SIZE=${VOCAB_SIZE:-16000}
EMOTICON_PER_CLASS=${EMOTICON_PER_CLASS:-12000}
MATCH_PAIRS=${MATCH_PAIRS:-30000}
MATCH_DEV_PAIRS=${MATCH_DEV_PAIRS:-600}
# The MLM stage was trained to 5,000 steps, then resumed to 10,000 (the learning-rate schedule is recomputed
# for the new total on resume: linear decay from 2.6e-4 at step 5,000 to 0 at 10,000). STEPS lists its stages,
# ELECTRA_STEPS the ELECTRA stage's.
STEPS=${STEPS:-5000,10000}
ELECTRA_STEPS=${ELECTRA_STEPS:-6000,20000,30000}
ELECTRA128_STEPS=${ELECTRA128_STEPS:-2000,4500}
mkdir -p "$W"
[ -s "$W/train.txt" ] || $PY scripts/prepare_korean_corpus.py \
    --input_file="$C/nsmc_unlabeled/nsmc_unlabeled.txt.gz,$C/kowiki_pretrain/kowiki_sample.txt" \
    --train_output="$W/train.txt" --heldout_output="$W/heldout.txt"
[ -s "$W/vocab.txt" ] || $PY scripts/build_vocab.py --input_file="$W/train.txt" --vocab_size=$VOCAB_SIZE \
    --do_lower_case=false --max_unique_chars=2500 --min_word_count=5 --upper_threshold=3000 \
    --max_input_words=300000 --output_file="$W/vocab.txt"
for split in train heldout; do
  dupe=2; [ $split = heldout ] && dupe=1
  [ -s "$W/$split.tfrecord" ] || $PY scripts/create_pretraining_data.py --input_file="$W/$split.txt" \
      --output_file="$W/$split.tfrecord" --vocab_file="$W/vocab.txt" --do_lower_case=false \
      --do_whole_word_mask=true --max_seq_length=64 --max_predictions_per_seq=10 --dupe_factor=$dupe \
      --random_seed=12345
done
for steps in ${STEPS//,/ }; do
  $PY scripts/run_pretraining.py --do_train --do_eval --input_file="$W/train.tfrecord" \
      --eval_input_file="$W/heldout.tfrecord" --vocab_file="$W/vocab.txt" --do_lower_case=false --preset=mini \
      --nsp=false --dtype=float32 --max_seq_length=64 --max_predictions_per_seq=10 \
      --train_batch_size=32 --learning_rate=5e-4 --num_train_steps=$steps --num_warmup_steps=500 \
      --steps_per_loop=10 --save_checkpoints_steps=500 --eval_every_steps=500 --max_eval_steps=20 \
      --eval_batch_size=64 \
      --output_dir="$W/model"
done
# The MLM model in float16: what was shipped before the ELECTRA stage, and where that stage starts.
[ -s "$W/mlm_f16/model.safetensors" ] || $PY - "$W/model" "$W/mlm_f16" <<'PYEOF'
import os, shutil, sys
from bert_tf.checkpoints import load_pretrainer, save_hf
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)  # the weights last: the stage is skipped once model.safetensors exists
shutil.copy(f"{src}/pretraining.json", dst)  # the sequence length it was pre-trained on
save_hf(load_pretrainer(src, nsp=False), dst, vocab_file=f"{src}/vocab.txt", dtype="float16")
PYEOF
# ELECTRA: the discriminator starts from the MLM model, the generator (hidden 64, 1 head) from scratch.
for steps in ${ELECTRA_STEPS//,/ }; do
  $PY scripts/run_pretraining.py --do_train --do_eval --input_file="$W/train.tfrecord" \
      --eval_input_file="$W/heldout.tfrecord" --vocab_file="$W/vocab.txt" --do_lower_case=false \
      --init_checkpoint="$W/mlm_f16" --objective=electra --nsp=false --generator_hidden_size=0.25 --disc_weight=50 \
      --dtype=mixed_bfloat16 --max_seq_length=64 --max_predictions_per_seq=10 \
      --train_batch_size=32 --learning_rate=5e-4 --num_train_steps=$steps --num_warmup_steps=500 \
      --steps_per_loop=10 --save_checkpoints_steps=500 --eval_every_steps=1000 --max_eval_steps=20 \
      --eval_batch_size=64 --output_dir="$W/electra"
done
# The ELECTRA model in float16 (shipped 2026-12-05 to 2026-12-06): where the 128-piece leg starts.
[ -s "$W/electra_f16/model.safetensors" ] || $PY - "$W/electra" "$W/electra_f16" <<'PYEOF'
import shutil, sys
from bert_tf.checkpoints import load_encoder, load_pretrainer, save_hf
src, dst = sys.argv[1], sys.argv[2]
save_hf(load_pretrainer(f"{src}/generator", nsp=False), f"{dst}/generator", vocab_file=f"{src}/vocab.txt",
        dtype="float16")  # the generator first: the stage is skipped once the encoder's weights exist
save_hf(load_encoder(src), dst, vocab_file=f"{src}/vocab.txt", dtype="float16")
PYEOF
# The 128-piece leg: the stages above saw sequences of at most 64 pieces, so position embeddings 64-127 were
# still their random initialization. New whole-word-masked records of 128 pieces from the same split, and
# ELECTRA continued from the float16 model above (discriminator and generator; a new replaced-token head),
# float32 (that machine had no bfloat16 arithmetic), 2,000 steps, then resumed to 4,500 (ELECTRA128_STEPS).
for split in train heldout; do
  [ -s "$W/${split}128.tfrecord" ] || $PY scripts/create_pretraining_data.py --input_file="$W/$split.txt" \
      --output_file="$W/${split}128.tfrecord" --vocab_file="$W/vocab.txt" --do_lower_case=false \
      --do_whole_word_mask=true --max_seq_length=128 --max_predictions_per_seq=20 --dupe_factor=1 \
      --random_seed=12345
done
for steps in ${ELECTRA128_STEPS//,/ }; do
  $PY scripts/run_pretraining.py --do_train --do_eval --input_file="$W/train128.tfrecord" \
      --eval_input_file="$W/heldout128.tfrecord" --vocab_file="$W/vocab.txt" --do_lower_case=false \
      --init_checkpoint="$W/electra_f16" --generator_init_checkpoint="$W/electra_f16/generator" --objective=electra \
      --nsp=false --disc_weight=50 --dtype=float32 --max_seq_length=128 --max_predictions_per_seq=20 \
      --train_batch_size=32 --learning_rate=2e-4 --num_train_steps=$steps --num_warmup_steps=200 \
      --steps_per_loop=10 --save_checkpoints_steps=500 --eval_every_steps=500 --max_eval_steps=20 \
      --eval_batch_size=64 --output_dir="$W/electra128"
done
# The 128-piece model in float16 (shipped 2026-12-06 to 12-07; where the emoticon stage starts): the
# discriminator (encoder, Hugging Face BertModel layout) and the generator (generator/, encoder + masked-LM head).
[ -s "$W/electra128_f16/model.safetensors" ] || $PY - "$W/electra128" "$W/electra128_f16" <<'PYEOF'
import shutil, sys
from bert_tf.checkpoints import load_encoder, load_pretrainer, save_hf
from bert_tf.tasks import write_pooling_config
src, dst = sys.argv[1], sys.argv[2]
# Everything beside the encoder first: the stage is skipped once the encoder's weights exist.
save_hf(load_pretrainer(f"{src}/generator", nsp=False), f"{dst}/generator", vocab_file=f"{src}/vocab.txt",
        dtype="float16")
shutil.copy(f"{src}/pretraining.json", dst)  # {"max_seq_length": 128, ...}: fine-tuning longer warns
# Neither MLM nor ELECTRA trains BERT's [CLS] pooler: declare mean pooling the sentence-transformers way,
# which bert_tf.tasks.default_pooling (and so every fine-tuning script) reads.
encoder = load_encoder(src)
write_pooling_config(dst, "mean", encoder.bert_config.hidden_size)
save_hf(encoder, dst, vocab_file=f"{src}/vocab.txt", dtype="float16")
PYEOF
# Emoticons as labels (docs/RESULTS.md): reviews of train.txt that carry exactly one of eight emoticon classes,
# emoticons deleted, at most 12,000 a class; the encoder learns to name the class, one epoch (run_classifier.py,
# lr 1e-4, batch 32, 64 pieces, 2% carved for dev), then a second epoch from that model on a redrawn sample
# (--seed=1). Each round's encoder is stored in float16 beside its start's generator/, 1_Pooling/ and
# pretraining.json (convert_checkpoint.py), the weights last, so a round whose model.safetensors exists is done.
emoticon_round() {  # emoticon_round OUTPUT_DIR START_MODEL SEED (skipped once OUTPUT_DIR/model has its weights)
  local R=$1 start=$2 seed=$3
  [ -s "$R/model/model.safetensors" ] && return 0
  mkdir -p "$R"
  $PY scripts/prepare_emoticon_data.py --input_file="$W/train.txt" --output_file="$R/emoticons.jsonl" \
      --per_class=$EMOTICON_PER_CLASS --seed=$seed
  $PY scripts/run_classifier.py --do_train --data_format=jsonl --train_file="$R/emoticons.jsonl" \
      --text_a_column=text --label_column=label --init_checkpoint="$start" --max_seq_length=64 \
      --train_batch_size=32 --learning_rate=1e-4 --num_train_epochs=1 --dev_fraction=0.02 --seed=$seed \
      --output_dir="$R/classifier"
  $PY scripts/convert_checkpoint.py --init_checkpoint="$R/classifier" --output_dir="$R/model" --dtype=float16 \
      --companions_from="$start"
}
emoticon_round "$W/emoticon1" "$W/electra128_f16" 0
emoticon_round "$W/emoticon2" "$W/emoticon1/model" 1
# The average, weight by weight (alpha = 0.5, in float32, stored in float16), of the 128-piece model and the
# second emoticon round (WiSE-FT: keeps the sentiment the emoticons taught and most of what the emoticons cost
# the token task), with the 128-piece model's generator/, 1_Pooling/ and pretraining.json (shipped 2026-12-07,
# e8d71fa8...; where the piece-match stage starts).
[ -s "$W/wise/model.safetensors" ] || $PY - "$W/electra128_f16" "$W/emoticon2/model" "$W/wise" <<'PYEOF'
import sys
from bert_tf.checkpoints import average_hf
average_hf(*sys.argv[1:], alpha=0.5)
PYEOF
# The piece-match stage (docs/RESULTS.md, "Matching pieces across the pair"): MATCH_PAIRS pairs made from train.txt
# (half graded, half copy style), every piece labelled by whether the same piece is in the other segment, three
# epochs; then one more emoticon round from it (the second round's draw, --seed=1), so the sentiment comes back
# after the comparison is learned.
[ -s "$W/match/model/model.safetensors" ] || $PY scripts/run_piece_match.py --input_file="$W/train.txt" \
    --init_checkpoint="$W/wise" --output_dir="$W/match" --num_pairs=$MATCH_PAIRS --dev_pairs=$MATCH_DEV_PAIRS
emoticon_round "$W/emoticon3" "$W/match/model" 1
# The average (alpha = 0.5) of the piece-match stage's model and its emoticon round, as the emoticon rounds
# above were averaged with their start: both have the comparison, and the average keeps the token task better
# than the round alone (shipped 2026-12-07, 6caf6903..., stage 5; where the coverage stage starts). The round's
# generator/, 1_Pooling/ and pretraining.json (the 128-piece model's) are copied beside it.
[ -s "$W/stage5/model.safetensors" ] || $PY - "$W/emoticon3/model" "$W/match/model" "$W/stage5" <<'PYEOF'
import sys
from bert_tf.checkpoints import average_hf
average_hf(*sys.argv[1:], alpha=0.5)
PYEOF
# The coverage stage (docs/RESULTS.md, "Coverage per segment in the pooled vector"): stage 5's cycle once more,
# on a new draw of MATCH_PAIRS pairs (--seed=4), with a second target beside the per-piece one: a Dense(2) on the
# mean-pooled last layer regresses each segment's share of matching pieces, so the pooled vector a fine-tuning
# head reads carries the comparison; then one emoticon round from it (a new draw, --seed=2).
[ -s "$W/coverage/model/model.safetensors" ] || $PY scripts/run_piece_match.py --input_file="$W/train.txt" \
    --init_checkpoint="$W/stage5" --output_dir="$W/coverage" --num_pairs=$MATCH_PAIRS \
    --dev_pairs=$MATCH_DEV_PAIRS --seed=4 --coverage_weight=1
emoticon_round "$W/emoticon4" "$W/coverage/model" 2
# Ship the average (alpha = 0.5) of the coverage stage's model and its emoticon round (the shipped encoder; the
# round's generator/, 1_Pooling/ and pretraining.json, the 128-piece model's, beside it; the order of the two
# does not change a byte at alpha 0.5), and print its SHA-256.
$PY - "$W/emoticon4/model" "$W/coverage/model" "$OUT" <<'PYEOF'
import sys
from bert_tf.checkpoints import average_hf
from bert_tf.pretrained import sha256_of
print("KOREAN_BERT_SHA256 =", sha256_of(average_hf(*sys.argv[1:], alpha=0.5) + "/model.safetensors"))
PYEOF
