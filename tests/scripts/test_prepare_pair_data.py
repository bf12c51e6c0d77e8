"""`scripts/prepare_pair_data.py` (`bert_tf.data.text_pairs`) makes premise/hypothesis pairs whose kind is known by construction (the Korean
model's pair probe): a `part` is an ordered subsequence of its premise, an `altered` hypothesis carries words of
another document, an `other` one is a span of another line of the same document."""

import os

import pytest

from bert_tf.data.text_pairs import pair_examples, stem as _stem

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DOCS = [
    ["영화 정말 재밌게 봤어요 배우들 연기가 최고 였습니다",
     "음악도 아름답고 화면도 예뻐서 또 보고 싶은 영화",
     "가족과 함께 보기에 좋은 따뜻한 이야기 입니다 강력 추천"],
    ["서울 특별시 는 대한민국 의 수도 이며 가장 큰 도시 이다",
     "조선 시대 에는 한양 이라고 불렸고 궁궐 이 여러 곳 있다",
     "인구 는 약 구백만 명 이며 한강 이 도시 를 가로지른다"],
    ["시간 아까운 영화 였다 돈 도 아깝고 내용 도 없다 정말"],
]


def _is_subsequence(small, big):
    it = iter(big)
    return all(w in it for w in small)


def test_each_kind_is_what_its_label_says(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("".join("\n".join(d) + "\n\n" for d in DOCS), encoding="utf-8")
    lines = {line: d for d, doc in enumerate(DOCS) for line in doc}
    words_of_doc = [{w for line in doc for w in line.split()} for doc in DOCS]
    seen = set()
    for seed in range(20):
        rows, counts = pair_examples(str(path), num_pairs=7, seed=seed)
        assert len(rows) == 7 and sum(counts.values()) == 7
        for row in rows:
            premise, hypothesis = row["premise"].split(), row["hypothesis"].split()
            d = lines[row["premise"]]
            assert 3 <= len(hypothesis) < len(premise)
            if row["label"] == "part":
                assert _is_subsequence(hypothesis, premise)
            elif row["label"] == "altered":
                new = [w for w in hypothesis if w not in premise]
                assert 1 <= len(new) <= max(1, round(0.3 * len(hypothesis)))
                assert all(any(w in words_of_doc[e] for e in range(3) if e != d) for w in new)
            else:
                assert row["label"] == "other"
                others = [line.split() for line in DOCS[d] if line != row["premise"]]
                assert any(" ".join(hypothesis) in " ".join(o) for o in others)
            seen.add(row["label"])
        again, _ = pair_examples(str(path), num_pairs=7, seed=seed)
        assert again == rows
    # The one-line document cannot give an `other`: its premises become `altered` instead, never a wrong label.
    assert seen == {"part", "altered", "other"}
    assert pair_examples(str(path), num_pairs=7, seed=0)[0] != pair_examples(str(path), num_pairs=7, seed=1)[0]


GRADED_DOCS = DOCS[:2] + [
    ["2019년 에 개봉한 영화 를 3번 이나 봤다 배우 가 좋아서",
     "극장 에서 다시 보고 싶은 작품 이다 음악 도 좋다"],
]


def test_graded_pairs_give_every_premise_each_kind_and_vary_only_particles(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("".join("\n".join(d) + "\n\n" for d in GRADED_DOCS), encoding="utf-8")
    lines = {line: d for d, doc in enumerate(GRADED_DOCS) for line in doc}
    varied = digits = 0
    for seed in range(10):
        rows, counts = pair_examples(str(path), num_pairs=12, seed=seed, style="graded")
        assert len(rows) == 12 and counts == {"part": 4, "altered": 4, "added": 4}
        for n in range(0, 12, 3):  # one premise, then its part, altered and added hypotheses
            triple = rows[n:n + 3]
            assert [r["label"] for r in triple] == ["part", "altered", "added"]
            assert len({r["premise"] for r in triple}) == 1
            premise = triple[0]["premise"].split()
            stems = [_stem(w) for w in premise]
            d = lines[triple[0]["premise"]]
            part, altered, added = (r["hypothesis"].split() for r in triple)
            # part: an ordered subsequence of the premise up to particles
            assert 3 <= len(part) < len(premise) and _is_subsequence([_stem(w) for w in part], stems)
            varied += sum(w not in premise for w in part)
            # altered: about 15% of a part changed, by other digits or by another document's words
            new = [w for w in altered if _stem(w) not in stems]
            assert 1 <= len(new) <= max(1, round(0.15 * len(altered)))
            for w in new:
                if any(c.isdigit() for c in w):
                    digits += 1
                else:
                    assert any(_stem(w) in {_stem(v) for line in GRADED_DOCS[e] for v in line.split()}
                               for e in range(3) if e != d)
            # added: a shorter part (30-60% of the premise) with 2-5 consecutive words of another line of the
            # same document before or after it
            others = [[_stem(w) for w in line.split()] for line in GRADED_DOCS[d] if line != triple[0]["premise"]]
            a = [_stem(w) for w in added]

            def window_of_other(words):
                return any(words == o[j:j + len(words)] for o in others for j in range(len(o)))

            assert any((window_of_other(a[:k]) and _is_subsequence(a[k:], stems) or
                        window_of_other(a[-k:]) and _is_subsequence(a[:-k], stems))
                       and 0.3 * len(premise) - 0.5 <= len(a) - k <= 0.6 * len(premise) + 0.5
                       for k in range(2, 6))
        assert pair_examples(str(path), num_pairs=12, seed=seed, style="graded")[0] == rows
    assert varied > 0 and digits > 0  # particles were varied and a number was changed, somewhere in the draws
    with pytest.raises(ValueError, match="unknown pair style 'swap'"):
        pair_examples(str(path), num_pairs=3, style="swap")


def test_a_file_of_one_document_is_refused_by_name(tmp_path):
    path = tmp_path / "one.txt"
    path.write_text("\n".join(DOCS[0]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at least two documents.*found 1"):
        pair_examples(str(path), num_pairs=3)


def test_the_script_names_a_missing_or_unusable_input_and_writes_nothing(tmp_path):
    import subprocess
    import sys
    script = os.path.join(REPO, "scripts", "prepare_pair_data.py")
    one = tmp_path / "one.txt"
    one.write_text("\n".join(DOCS[0]) + "\n", encoding="utf-8")
    out = tmp_path / "pairs.jsonl"
    for path, message in ((tmp_path / "missing.txt", f"no file at {tmp_path / 'missing.txt'}"),
                          (one, "at least two documents")):
        run = subprocess.run([sys.executable, script, f"--input_file={path}", f"--output_file={out}"],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 1 and message in run.stderr and "Traceback" not in run.stderr
        assert not out.exists()
