"""`scripts/run_piece_match.py` (`bert_tf.finetuning.piece_match`, `bert_tf.data.text_pairs.piece_match_example`):
every piece of a pair is labelled 1 when the same piece id is in the other segment. The labels must follow the
pieces kept after truncation, [CLS], [SEP] and padding must carry no weight, and the stage must write a model
directory that the fine-tuning scripts take (the start's companions beside it, its record, TensorBoard scalars)."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bert_tf.data.text_pairs import match_pairs, piece_match_example

SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scripts")
CLS, SEP = 2, 3

DOCS = [
    ["영화 정말 재밌게 봤어요 배우들 연기가 최고 였습니다", "음악도 아름답고 화면도 예뻐서 또 보고 싶은 영화",
     "가족과 함께 보기에 좋은 따뜻한 이야기 입니다 강력 추천"],
    ["서울 특별시 는 대한민국 의 수도 이며 가장 큰 도시 이다", "조선 시대 에는 한양 이라고 불렸고 궁궐 이 여러 곳 있다",
     "인구 는 약 구백만 명 이며 한강 이 도시 를 가로지른다"],
    ["시간 아까운 영화 였다 돈 도 아깝고 내용 도 없다 정말", "배우 들 의 연기 가 어색 하고 이야기 가 지루 했다 별로"],
]


def test_each_piece_is_labelled_by_the_other_segment():
    tokens, segments, mask, labels, weights = piece_match_example([10, 11, 12, 11], [12, 13, 10], 12, CLS, SEP)
    assert tokens == [CLS, 10, 11, 12, 11, SEP, 12, 13, 10, SEP, 0, 0]
    assert segments == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
    assert mask == [1] * 10 + [0, 0]
    # premise: 10 and 12 are in the hypothesis, 11 (twice) is not; hypothesis: 12 and 10 are in the premise, 13 not
    assert labels == [0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0]
    assert weights == [0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0]


def test_labels_follow_the_pieces_kept_after_truncation():
    # 9 slots for pieces (seq 12 less 3): the longer premise loses its tail (20, 21), so the hypothesis's 20 and 21
    # no longer match anything, while its 14 still does
    premise, hypothesis = [14, 15, 16, 17, 18, 19, 20, 21], [20, 21, 14]
    tokens, _, _, labels, weights = piece_match_example(premise, hypothesis, 12, CLS, SEP)
    assert tokens == [CLS, 14, 15, 16, 17, 18, 19, SEP, 20, 21, 14, SEP]
    assert labels == [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    assert sum(weights) == 9


def test_arrays_label_the_korean_models_pieces():
    from bert_tf.finetuning.piece_match import piece_match_arrays
    from bert_tf.pretrained import korean_bert_dir
    from bert_tf.tokenization import ReferenceTokenizer
    tokenizer = ReferenceTokenizer(os.path.join(korean_bert_dir(), "vocab.txt"), do_lower_case=False)
    rows = [{"premise": "배우들 연기가 정말 최고였습니다", "hypothesis": "연기가 최고였습니다"},
            {"premise": "서울은 대한민국의 수도이다", "hypothesis": "한강이 흐른다"}]
    tokens, segments, mask, labels, weights = piece_match_arrays(rows, tokenizer, 24)
    assert tokens.shape == labels.shape == weights.shape == (2, 24) and tokens.dtype == np.int32
    pieces = [tokenizer.tokenize(r[k]) for r in rows for k in ("premise", "hypothesis")]
    hypothesis = slice(len(pieces[0]) + 2, len(pieces[0]) + 2 + len(pieces[1]))
    assert labels[0, hypothesis].tolist() == [1] * len(pieces[1])  # every hypothesis piece is in its premise
    assert 0 < labels[0, 1:len(pieces[0]) + 1].sum() < len(pieces[0])  # "배우들", "정말" are not in the hypothesis
    shared = set(pieces[2]) & set(pieces[3])  # the second pair shares at most a particle piece
    assert labels[1].sum() == sum(p in shared for p in pieces[2] + pieces[3])
    assert weights.sum(axis=1).tolist() == [len(pieces[0]) + len(pieces[1]), len(pieces[2]) + len(pieces[3])]


def test_pairs_are_half_graded_half_copy(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("".join("\n".join(d) + "\n\n" for d in DOCS), encoding="utf-8")
    rows = match_pairs(str(path), 12, seed=5)
    labels = [r["label"] for r in rows]
    # graded: one of each kind per premise (part, altered, added), copy: part / altered / other in turn
    assert labels[:6].count("added") == 2 and "other" not in labels[:6]
    assert labels[6:] == ["part", "altered", "other"] * 2
    assert rows == match_pairs(str(path), 12, seed=5) and rows != match_pairs(str(path), 12, seed=6)


@pytest.mark.slow
def test_the_stage_writes_a_model_the_fine_tuning_scripts_take(tmp_path):
    from bert_tf.checkpoints import load_encoder
    from bert_tf.pretrained import korean_bert_dir, sha256_of
    path = tmp_path / "train.txt"
    path.write_text("".join("\n".join(d) + "\n\n" for d in DOCS * 8), encoding="utf-8")
    out = tmp_path / "match"
    command = [sys.executable, os.path.join(SCRIPTS, "run_piece_match.py"), f"--input_file={path}",
               f"--init_checkpoint={korean_bert_dir()}", f"--output_dir={out}", "--num_pairs=40", "--dev_pairs=8",
               "--max_seq_length=32", "--train_batch_size=8", "--num_train_epochs=2", "--learning_rate=3e-4"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads((out / "model" / "piece_match.json").read_text(encoding="utf-8"))
    start_sha = sha256_of(os.path.join(korean_bert_dir(), "model.safetensors"))
    assert record["start_sha256"] == start_sha != record["sha256"] and record["coverage_weight"] == 0.0
    assert record["sha256"] == sha256_of(str(out / "model" / "model.safetensors"))
    assert (record["dev_pairs"], record["train_pairs"]) == (8, record["num_pairs"] - 8) and record["num_pairs"] >= 36
    assert len(record["history"]["val_binary_accuracy"]) == 2 and 0 < record["history"]["loss"][1]
    for companion in ("1_Pooling/config.json", "generator/model.safetensors", "pretraining.json", "vocab.txt"):
        assert (out / "model" / companion).is_file(), companion
    assert glob.glob(str(out / "summaries" / "train" / "events.*")) and glob.glob(str(out / "summaries" / "eval" / "*"))
    encoder = load_encoder(str(out / "model"))
    assert encoder.bert_config.do_lower_case is False  # cased, as the start

    # The same output directory with another learning rate: refused by name (its checkpoints would be resumed).
    other = subprocess.run(command[:-1] + ["--learning_rate=1e-4"], capture_output=True, text=True, timeout=600)
    assert other.returncode != 0 and "Traceback" not in other.stderr
    assert "holds a finished run made with other settings: learning_rate 0.0003 then, 0.0001 now" in other.stderr

    # Too few pairs for the held-out share: a clear message, no traceback, no model written.
    bad = subprocess.run(command[:4] + [f"--output_dir={tmp_path / 'bad'}", "--num_pairs=9", "--dev_pairs=8"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "holds out 8 pairs" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad" / "model").exists()


def test_coverage_is_each_segments_share_of_matching_pieces():
    from bert_tf.finetuning.piece_match import coverage_targets
    # premise 4 pieces (10, 12 match), hypothesis 3 (12, 10 match); a second pair: premise 2 pieces, none shared,
    # hypothesis 5 pieces of which the one 30 matches (30 is in the premise)
    examples = [piece_match_example([10, 11, 12, 11], [12, 13, 10], 12, CLS, SEP),
                piece_match_example([30, 31], [40, 41, 30, 42, 43], 12, CLS, SEP)]
    arrays = [np.array(c, "int32") for c in zip(*examples)]
    np.testing.assert_allclose(coverage_targets(arrays), [[2 / 4, 2 / 3], [1 / 2, 1 / 5]])
    assert coverage_targets(arrays).dtype == np.float32


@pytest.mark.slow
def test_the_coverage_target_trains_beside_the_piece_labels(tmp_path):
    from bert_tf.finetuning import FinetuneError
    from bert_tf.finetuning.piece_match import train_piece_match
    from bert_tf.pretrained import korean_bert_dir
    path = tmp_path / "train.txt"
    path.write_text("".join("\n".join(d) + "\n\n" for d in DOCS * 8), encoding="utf-8")
    rows = match_pairs(str(path), 48, seed=2)
    with pytest.raises(FinetuneError, match="coverage_weight must be 0"):
        train_piece_match(korean_bert_dir(), rows, str(tmp_path / "neg"), coverage_weight=-1.0)
    record = train_piece_match(korean_bert_dir(), rows, str(tmp_path / "cov"), max_seq_length=32,
                               train_batch_size=8, num_train_epochs=2, learning_rate=3e-4, dev_rows=8,
                               coverage_weight=2.0)
    history = record["history"]
    assert record["coverage_weight"] == 2.0
    for key in ("match_loss", "coverage_loss", "val_match_accuracy", "val_coverage_mae"):
        assert len(history[key]) == 2, key
    # the total is the piece loss plus twice the coverage loss
    assert history["loss"][1] == pytest.approx(history["match_loss"][1] + 2 * history["coverage_loss"][1], abs=2e-3)
    assert 0.5 < history["val_match_accuracy"][1] <= 1 and history["val_coverage_mae"][1] < 0.5
    assert (tmp_path / "cov" / "model" / "model.safetensors").is_file() and not (tmp_path / "neg").exists()


@pytest.mark.slow
def test_an_interrupted_stage_resumes_to_the_same_bytes(tmp_path, monkeypatch):
    """The stage checkpoints after every epoch: a run stopped during its second epoch, rerun with the same
    arguments, trains on from the first epoch's checkpoint (weights, optimizer, dropout RNGs, the shuffle's next
    order) and writes the model an uninterrupted run writes, to the byte; other settings are refused."""
    from bert_tf.finetuning import FinetuneError, piece_match
    from bert_tf.pretrained import korean_bert_dir
    path = tmp_path / "train.txt"
    path.write_text("".join("\n".join(d) + "\n\n" for d in DOCS * 8), encoding="utf-8")
    rows = match_pairs(str(path), 44, seed=7)
    flags = dict(max_seq_length=24, train_batch_size=6, num_train_epochs=3, learning_rate=2e-4, dev_rows=6,
                 coverage_weight=0.5, seed=11)
    whole = piece_match.train_piece_match(korean_bert_dir(), rows, str(tmp_path / "whole"), **flags)

    class Stopped(Exception):
        pass
    summaries = piece_match._EpochSummaries.on_epoch_end

    def stop_in_the_second_epoch(self, epoch, logs=None):
        if epoch == 1:
            raise Stopped
        summaries(self, epoch, logs)
    cut = str(tmp_path / "cut")
    monkeypatch.setattr(piece_match._EpochSummaries, "on_epoch_end", stop_in_the_second_epoch)
    with pytest.raises(Stopped):
        piece_match.train_piece_match(korean_bert_dir(), rows, cut, **flags)
    monkeypatch.undo()
    assert not os.path.exists(os.path.join(cut, "model"))
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(cut, "checkpoints", "ckpt-*.index"))) == \
        ["ckpt-1.index"]
    with open(os.path.join(cut, "checkpoints", piece_match.STATE), encoding="utf-8") as f:
        assert len(json.load(f)["epochs"]) == 1
    with pytest.raises(FinetuneError, match="learning_rate 0.0002 then, 0.0003 now"):
        piece_match.train_piece_match(korean_bert_dir(), rows, cut, **{**flags, "learning_rate": 3e-4})
    with pytest.raises(FinetuneError, match="pairs_sha256"):
        piece_match.train_piece_match(korean_bert_dir(), rows[::-1], cut, **flags)
    resumed = piece_match.train_piece_match(korean_bert_dir(), rows, cut, **flags)
    assert resumed["sha256"] == whole["sha256"] != resumed["start_sha256"]
    assert resumed["history"] == whole["history"] and len(resumed["history"]["val_match_accuracy"]) == 3


def test_negation_is_toggled_by_rule_and_the_cues_are_read_from_the_text():
    from bert_tf.data import text_pairs
    from bert_tf.data.text_pairs import cue_targets, negated, toggle_negation
    rng = np.random.default_rng(0)
    # a cue present: taken out by the rule that knows it
    for words, expected in [("영화 가 안 재밌다", "영화 가 재밌다"), ("배우 연기 가 좋지 않다", "배우 연기 가 좋다"),
                            ("재미 가 하나도 없다", "재미 가 하나도 있다"), ("그 는 학생 이 아니다", "그 는 학생 이 이다"),
                            ("못 본 영화", "본 영화")]:
        assert negated(words) and " ".join(toggle_negation(words.split(), rng)) == expected
    # no cue: one is added to the predicate, in each of the three forms over draws, and nothing else changes
    made = {" ".join(toggle_negation("연기 가 정말 좋다".split(), np.random.default_rng(s))) for s in range(40)}
    assert {"연기 가 정말 안 좋다", "연기 가 정말 못 좋다", "연기 가 정말 좋지 않다"} <= made
    assert all(negated(m) for m in made) and not negated("연기 가 정말 좋다") and not negated("안방 에서 봤다")
    assert cue_targets("영화 가 재밌다", "영화 가 안 재밌다") == [1.0, 0.0]
    assert cue_targets("영화 가 재미 없다", "영화 가 지루 하지 않다") == [0.0, 0.0]  # both negated
    assert cue_targets("2019년 에 개봉 했다", "2018년 에 개봉 했다") == [0.0, 1.0]
    assert cue_targets("관객 3명 이 왔다", "관객 이 왔다") == [0.0, 0.0]  # a number dropped is not a new one
    # a digit that is not decimal (③, ²) is kept, not a crash; decimal ones all change
    changed = text_pairs._new_digits("③번 2019년", rng)
    assert changed.startswith("③번 ") and all(a != b for a, b in zip(changed[3:7], "2019"))


def test_cue_pairs_change_negation_and_numbers_and_leave_the_plain_pairs_alone(tmp_path):
    from bert_tf.data.text_pairs import cue_targets, pair_examples
    path = tmp_path / "train.txt"
    docs = DOCS + [["2019년 에 개봉 한 영화 는 3편 이나 나왔다 모두 재밌다", "1998년 에 처음 나온 시리즈 의 4번째 작품 이다 좋다"]]
    path.write_text("".join("\n".join(d) + "\n\n" for d in docs * 6), encoding="utf-8")
    plain = match_pairs(str(path), 600, seed=3)
    assert plain == pair_examples(str(path), 300, seed=3, style="graded")[0] + \
        pair_examples(str(path), 300, seed=103, style="copy")[0]
    cued = match_pairs(str(path), 600, seed=3, cues=True)
    assert cued == match_pairs(str(path), 600, seed=3, cues=True) and len(cued) == len(plain)
    assert [r["label"] for r in cued] == [r["label"] for r in plain]
    targets = np.array([cue_targets(r["premise"], r["hypothesis"]) for r in cued])
    plain_targets = np.array([cue_targets(r["premise"], r["hypothesis"]) for r in plain])
    # the mismatch of negation: 30% hypothesis + 15% premise toggles, against a few natural ones in the plain pairs
    assert 0.3 < targets[:, 0].mean() < 0.6 and plain_targets[:, 0].mean() < 0.25
    assert targets[:, 1].mean() > plain_targets[:, 1].mean() + 0.02  # other digits in 30% of numbered hypotheses
    changed = sum(r != p for r, p in zip(cued, plain))
    assert 0.5 * len(plain) < changed < 0.8 * len(plain)  # 60% of pairs toggled, some numbers changed


@pytest.mark.slow
def test_the_cue_target_trains_beside_the_piece_labels_and_the_coverage(tmp_path):
    from bert_tf.finetuning import FinetuneError
    from bert_tf.finetuning.piece_match import train_piece_match
    from bert_tf.pretrained import korean_bert_dir
    path = tmp_path / "train.txt"
    path.write_text("".join("\n".join(d) + "\n\n" for d in DOCS * 8), encoding="utf-8")
    rows = match_pairs(str(path), 40, seed=6, cues=True)
    with pytest.raises(FinetuneError, match="cue_weight must be 0"):
        train_piece_match(korean_bert_dir(), rows, str(tmp_path / "neg"), cue_weight=-0.5)
    record = train_piece_match(korean_bert_dir(), rows, str(tmp_path / "cue"), max_seq_length=28,
                               train_batch_size=8, num_train_epochs=2, learning_rate=3e-4, dev_rows=8,
                               coverage_weight=0.5, cue_weight=3.0)
    history = record["history"]
    assert record["cue_weight"] == 3.0 and record["coverage_weight"] == 0.5
    for key in ("match_loss", "coverage_loss", "cues_loss", "val_cues_accuracy", "val_coverage_mae"):
        assert len(history[key]) == 2, key
    assert history["loss"][1] == pytest.approx(
        history["match_loss"][1] + 0.5 * history["coverage_loss"][1] + 3 * history["cues_loss"][1], abs=2e-3)
    assert 0 <= history["val_cues_accuracy"][1] <= 1 and history["cues_loss"][1] > 0
    assert (tmp_path / "cue" / "model" / "model.safetensors").is_file() and not (tmp_path / "neg").exists()
