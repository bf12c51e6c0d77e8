"""build_vocab.py says why the vocabulary is smaller than --vocab_size (issue 13: 8,000 asked, 7,834 written,
no word of why): the learner's slack (--vocab_size_slack, tensorflow-text's slack_ratio 0.05), or a corpus with
no more pieces above --min_word_count."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "build_vocab.py")
KOWIKI = os.path.join(REPO, "tests", "testdata", "kowiki", "kowiki_sample.txt")


def _size_note(*args):
    code = f"import sys; sys.path.insert(0, {os.path.dirname(SCRIPT)!r}); import build_vocab; " \
           f"print(build_vocab.size_note(*{args!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True).stdout.strip()


def test_size_note_names_the_slack_or_the_corpus():
    assert _size_note(8000, 8000, 0.05, 2) == ""
    assert _size_note(7834, 8000, 0.05, 2) == (
        "166 below --vocab_size=8000: the WordPiece learner stops at the first piece-count threshold whose "
        "vocabulary is within --vocab_size_slack=0.05 below the target; a smaller --vocab_size_slack gets closer "
        "(more passes over the words)")
    assert "the corpus has no more pieces seen at least --min_word_count=2 times" in _size_note(2369, 30000, 0.05, 2)


def test_small_corpus_says_it_has_no_more_pieces(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, f"--input_file={KOWIKI}", "--max_lines=300", "--vocab_size=30000",
                           "--do_lower_case=false", f"--output_file={tmp_path / 'vocab.txt'}"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    size = len((tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines())
    assert proc.stdout.strip() == (
        f"wrote {size} tokens to {tmp_path / 'vocab.txt'} ({30000 - size} below --vocab_size=30000: the corpus has "
        "no more pieces seen at least --min_word_count=2 times; lower it or add text for a larger vocabulary)")


def test_slack_must_be_a_fraction(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, f"--input_file={KOWIKI}", "--max_lines=10",
                           "--vocab_size_slack=1.5", f"--output_file={tmp_path / 'vocab.txt'}"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1 and "--vocab_size_slack must be in [0, 1), got 1.5" in proc.stderr
