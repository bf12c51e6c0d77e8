"""read_utf8: the line and byte offset of the first invalid byte, with and without a byte-order mark."""

import codecs

import pytest

from bert_tf.text_files import read_utf8


def _error(line, e):
    return ValueError(f"line {line}, byte {e.start}: {e.reason}")


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_names_line_and_file_offset_of_first_invalid_byte(tmp_path, bom, encoding):
    path = tmp_path / "f.txt"
    path.write_bytes(bom + "가\nbc\n".encode() + b"d\xffe\n")
    offset = len(bom) + len("가\nbc\n".encode()) + 1
    with pytest.raises(ValueError, match=rf"^line 3, byte {offset}: invalid start byte$"):
        read_utf8(str(path), _error, encoding)


def test_utf8_sig_drops_the_mark_and_utf8_keeps_it(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(codecs.BOM_UTF8 + "한국어\n".encode())
    assert read_utf8(str(path), _error, "utf-8-sig") == "한국어\n"
    assert read_utf8(str(path), _error) == "\ufeff한국어\n"
