"""UTF-8 text files read whole, with an error that names the line of the first invalid byte."""

import codecs


def read_utf8(path, error, encoding="utf-8"):
    """The text of the file at `path`.

    Args:
        path: str. The file (it must exist; callers check, to name what is missing in their own words).
        error: callable `(line, unicode_error) -> Exception`, raised when the bytes are not valid `encoding`;
            `line` is the 1-based line of the first invalid byte, `unicode_error` the `UnicodeDecodeError`
            (`.start` its byte offset in the file, `.reason`).
        encoding: str. `"utf-8"`, or `"utf-8-sig"` to drop a leading byte-order mark. Defaults to `"utf-8"`.
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        # utf-8-sig counts offsets after the byte-order mark it dropped: count them in the file instead.
        skipped = len(codecs.BOM_UTF8) if codecs.lookup(encoding).name == "utf-8-sig" and \
            data.startswith(codecs.BOM_UTF8) else 0
        e = UnicodeDecodeError(e.encoding, data, e.start + skipped, e.end + skipped, e.reason)
        raise error(data[:e.start].count(b"\n") + 1, e) from None
