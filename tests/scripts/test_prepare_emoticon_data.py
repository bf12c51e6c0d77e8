"""`scripts/prepare_emoticon_data.py` (`bert_tf.data.emoticons`) labels reviews by their emoticons (the built-in Korean model's stage 4): a
review is kept only with exactly one class, and no trace of any emoticon may stay in the text the model reads (else
the label leaks)."""

import json
import os
import subprocess
import sys

from bert_tf.data.emoticons import CLASSES, emoticon_examples

SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scripts")

LINES = """연기가 정말 좋았어요 ㅋㅋㅋ 배우들 최고
시간 아까운 영화였다 ㅡㅡ 돈 아깝다
감동적인 결말이었다 ㅠㅠ 눈물 났어요
음악이 아름다운 영화 ^^ 또 보고 싶다
이게 무슨 영화냐;; 황당하다 진짜
주인공이 너무 멋있어요♥ 사랑합니다
강력 추천합니다!!! 꼭 보세요
웃기고 재밌네요 ㅎㅎ 가족과 함께
ㅋㅋ 재밌는데 ㅠㅠ 슬프기도 하다 두 가지
그냥 그런 영화였다 특별한 건 없음
짧음 ㅋㅋ

다른 문서의 리뷰인데 ㅋㅋ 한번 더 웃김 ㅋ
-_- 별로였어요 정말 실망했습니다
"""


def test_one_class_per_review_and_no_emoticon_left(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text(LINES, encoding="utf-8")
    rows, counts = emoticon_examples(str(path), per_class=10, min_chars=8, seed=0)
    by_text = {r["text"]: r["label"] for r in rows}
    assert by_text == {
        "연기가 정말 좋았어요 배우들 최고": "laugh_k",
        "시간 아까운 영화였다 돈 아깝다": "annoyed",
        "감동적인 결말이었다 눈물 났어요": "cry",
        "음악이 아름다운 영화 또 보고 싶다": "smile",
        "이게 무슨 영화냐 황당하다 진짜": "sweat",
        "주인공이 너무 멋있어요 사랑합니다": "heart",
        "강력 추천합니다 꼭 보세요": "bang",
        "웃기고 재밌네요 가족과 함께": "laugh_h",
        "다른 문서의 리뷰인데 한번 더 웃김": "laugh_k",  # the lone ㅋ is stripped too
        "별로였어요 정말 실망했습니다": "annoyed",
    }  # two classes in one review, none at all, or under 8 characters once stripped: dropped
    assert counts["laugh_k"] == {"available": 2, "used": 2} and counts["heart"] == {"available": 1, "used": 1}
    assert set(counts) == set(CLASSES)


def test_the_cap_per_class_is_a_seeded_sample(tmp_path):
    path = tmp_path / "train.txt"
    reviews = [f"리뷰 번호 {i} 입니다 ㅋㅋ" for i in range(50)] + ["슬픈 영화입니다 ㅠㅠ"]
    path.write_text("".join(r + "\n" for r in reviews), encoding="utf-8")
    first, counts = emoticon_examples(str(path), per_class=7, min_chars=8, seed=0)
    again, _ = emoticon_examples(str(path), per_class=7, min_chars=8, seed=0)
    other, _ = emoticon_examples(str(path), per_class=7, min_chars=8, seed=1)
    assert counts["laugh_k"] == {"available": 50, "used": 7} and counts["cry"] == {"available": 1, "used": 1}
    assert len(first) == 8 and first == again and {r["text"] for r in first} != {r["text"] for r in other}


def test_the_script_writes_json_lines_for_run_classifier(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text(LINES, encoding="utf-8")
    out = tmp_path / "out" / "emoticons.jsonl"
    done = subprocess.run([sys.executable, os.path.join(SCRIPTS, "prepare_emoticon_data.py"), f"--input_file={path}",
                           f"--output_file={out}", "--per_class=1", "--seed=3"],
                          capture_output=True, text=True, check=True)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert summary["num_examples"] == len(rows) == 8  # one per class: the cap
    assert sorted(r["label"] for r in rows) == sorted(CLASSES)
    assert rows == emoticon_examples(str(path), per_class=1, min_chars=8, seed=3)[0]


def test_the_script_names_a_missing_input_and_writes_nothing(tmp_path):
    missing, out = tmp_path / "missing.txt", tmp_path / "emoticons.jsonl"
    run = subprocess.run([sys.executable, os.path.join(SCRIPTS, "prepare_emoticon_data.py"),
                          f"--input_file={missing}", f"--output_file={out}"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1 and f"no file at {missing}" in run.stderr and "Traceback" not in run.stderr
    assert not out.exists()
