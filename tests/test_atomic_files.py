"""bert_tf.atomic_files: the one atomic-write helper (issue 15). A failed write leaves the old file and no
temporary file; the new file has the permissions open() gives (vocab.txt was 0600 through tempfile.mkstemp)."""

import json
import os
import stat

import pytest

from bert_tf.atomic_files import atomic_path, atomic_write, write_json_atomic
from bert_tf.tokenization.vocab import write_vocab


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_get_open_permissions(tmp_path, umask_022):
    write_vocab(["[PAD]", "[UNK]", "a"], tmp_path / "vocab.txt")
    assert _mode(tmp_path / "vocab.txt") == 0o644
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8") == "[PAD]\n[UNK]\na\n"
    with atomic_write(tmp_path / "b.bin", "wb") as f:
        f.write(b"\x00\x01")
    assert _mode(tmp_path / "b.bin") == 0o644 and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"


def test_writer_that_creates_0600_files_gets_open_permissions(tmp_path, umask_022):
    """safetensors' writer creates its file 0600: save_hf's model.safetensors was unreadable to other users (a
    TF Serving or web-server account) while its config.json beside it was 0644."""
    import numpy as np

    from bert_tf.checkpoints.safetensors_io import read_tensors, write_tensors
    write_tensors(tmp_path / "model.safetensors", {"w": np.arange(6, dtype=np.float32).reshape(2, 3)})
    assert _mode(tmp_path / "model.safetensors") == 0o644
    assert read_tensors(str(tmp_path / "model.safetensors"))["w"].tolist() == [[0, 1, 2], [3, 4, 5]]
    with atomic_path(tmp_path / "private.bin") as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"x")
        os.close(fd)
    assert _mode(tmp_path / "private.bin") == 0o644
    with atomic_path(tmp_path / "script.sh") as tmp:  # wider permissions (an executable) are kept
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o755)
        os.close(fd)
    assert _mode(tmp_path / "script.sh") == 0o755


def test_umask_is_respected(tmp_path):
    old = os.umask(0o077)
    try:
        with atomic_path(tmp_path / "secret.bin") as tmp:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "secret.bin") == 0o600


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "x.json"
    write_json_atomic(path, {"b": 1, "a": "é"}, sort_keys=True)
    before = path.read_text(encoding="utf-8")
    assert before == json.dumps({"a": "é", "b": 1}, indent=2, sort_keys=True) + "\n"
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object()})
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path) as f:
            f.write("partial")
            raise KeyboardInterrupt
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "m.keras", keep_suffix=True) as tmp:
            assert tmp.endswith(".keras") and os.path.dirname(tmp) == str(tmp_path)
            open(tmp, "w").close()
            raise RuntimeError
    assert path.read_text(encoding="utf-8") == before
    assert sorted(os.listdir(tmp_path)) == ["x.json"]


def test_json_formats_and_makedirs(tmp_path):
    path = tmp_path / "new" / "dir" / "r.json"
    with pytest.raises(FileNotFoundError):
        write_json_atomic(path, {})
    write_json_atomic(path, {"é": 1.5}, ensure_ascii=False, makedirs=True)
    assert path.read_text(encoding="utf-8") == '{\n  "é": 1.5\n}\n'
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(path, "a"):
            pass
