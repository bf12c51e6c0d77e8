"""Readers for sentence(-pair) classification and regression files.

Every reader returns a list of `TextExample` and raises `DataError` naming the file and the line for a
missing or empty file, undecodable bytes, a row with the wrong number of fields, a missing column, an empty
text or a label that is not a number (regression).

Formats (`DATA_FORMATS`, the `--data_format` flag):
    csv / tsv: any delimited file with a header; the columns are named by `text_a_column`, `text_b_column`
        (optional, for pairs) and `label_column`. `tsv` has no quoting (google-research/bert's
        `csv.reader(delimiter="\\t", quotechar=None)`); `csv` is standard CSV (quoted fields may span lines).
        Without a header (`has_header=False`) the columns are 0-based indexes ("1", "2").
    jsonl: one JSON object per line; columns are keys.
    nsmc: NSMC's `id\\tdocument\\tlabel` with a header.
        Labels 0/1 are read as "negative"/"positive" (unless `label_column` is given).
    klue_nli: KLUE-NLI's JSON list (`premise`, `hypothesis`, `gold_label`).
    korsts: KorSTS's TSV (`genre filename year id score sentence1 sentence2`, header), a regression set.
    klue_sts: KLUE-STS's JSON list (`sentence1`, `sentence2`, `labels.label`), a regression set.
    banking77: Banking77's CSV (`text,category`).
    poem_sentiment: `id\\tverse\\tlabel` without a header.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from typing import Sequence

from bert_tf.data.errors import DataError
from bert_tf.data.examples import TextExample
from bert_tf.text_files import read_utf8

# NSMC's label codes, named as in its own README (0: negative review, 1: positive) and Hugging Face's `nsmc`
# dataset: a served NSMC classifier answers "positive", not "1".
NSMC_LABELS = {"0": "negative", "1": "positive"}
DATA_FORMATS = ("csv", "tsv", "jsonl", "nsmc", "klue_nli", "korsts", "klue_sts", "banking77", "poem_sentiment")
# Formats whose columns the caller names (text_a_column, text_b_column, label_column); the others know their own.
GENERIC_FORMATS = ("csv", "tsv", "jsonl")

# Formats whose labels are scores (regression) rather than class names.
REGRESSION_FORMATS = ("korsts", "klue_sts")
# The published scale of each score format: STS-B's 0 (unrelated) to 5 (equivalent), which KorSTS and KLUE-STS keep.
SCORE_SCALES = {"korsts": (0.0, 5.0), "klue_sts": (0.0, 5.0)}


def _read_text(path: str) -> str:
    if not os.path.isfile(path):
        raise DataError(f"data file not found: {path}")
    text = read_utf8(path, lambda line, e: DataError(f"{path}:{line}: not valid UTF-8 ({e.reason} at byte {e.start})"),
                     encoding="utf-8-sig")
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    return text


def _column_index(path, header, column, what, has_header):
    if column is None:
        return None
    if not has_header:
        try:
            return int(column)
        except ValueError:
            raise DataError(f"{path}: {what}={column!r} must be a 0-based column index for a file without a "
                            "header") from None
    if column in header:
        return header.index(column)
    raise DataError(f"{path}:1: no column {column!r} for {what}; the header has {header}")


def _label_value(path, line, raw, regression):
    if not regression:
        return raw
    try:
        return float(raw)
    except ValueError:
        raise DataError(f"{path}:{line}: label {raw!r} is not a number (regression)") from None


def _check_text(path, line, text, what):
    if text is None or not str(text).strip():
        raise DataError(f"{path}:{line}: empty {what}")
    return str(text)


def read_delimited(path: str, text_a_column: str, text_b_column: str | None = None, label_column: str | None = None,
                   *, delimiter: str = ",", quoting: bool = True, has_header: bool = True, regression: bool = False,
                   allow_empty_text: bool = False) -> list[TextExample]:
    """Reads a CSV/TSV file; see the module docstring. `label_column=None` reads unlabeled rows (prediction)."""
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        quotechar='"' if quoting else None, quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
                        strict=quoting)
    examples = []
    header = None
    line = 1
    try:
        for row in reader:
            row_line = line
            line = reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if has_header and header is None:
                header = [h.strip() for h in row]
                columns = [(_column_index(path, header, c, what, True), what) for c, what in
                           ((text_a_column, "text_a_column"), (text_b_column, "text_b_column"),
                            (label_column, "label_column"))]
                width = len(header)
                continue
            if header is None:
                header = []
                columns = [(_column_index(path, header, c, what, False), what) for c, what in
                           ((text_a_column, "text_a_column"), (text_b_column, "text_b_column"),
                            (label_column, "label_column"))]
                width = len(row)
            if len(row) != width:
                raise DataError(f"{path}:{row_line}: expected {width} fields, found {len(row)}"
                                + (" (a stray tab or an unquoted delimiter?)" if quoting is False else ""))
            (a, _), (b, _), (lab, _) = columns
            for index, what in columns:
                if index is not None and index >= len(row):
                    raise DataError(f"{path}:{row_line}: {what} index {index} but the row has {len(row)} fields")
            text_a = row[a] if allow_empty_text else _check_text(path, row_line, row[a], "text_a")
            text_b = None if b is None else _check_text(path, row_line, row[b], "text_b")
            label = None
            if lab is not None:
                raw = row[lab].strip()
                if not raw:
                    raise DataError(f"{path}:{row_line}: empty label")
                label = _label_value(path, row_line, raw, regression)
            examples.append(TextExample(f"{os.path.basename(path)}-{len(examples)}", text_a, text_b, label,
                                        f"{path}:{row_line}"))
    except csv.Error as e:
        raise DataError(f"{path}:{reader.line_num}: malformed CSV ({e})") from None
    if not examples:
        raise DataError(f"{path}: the file holds no examples" + (" (only a header)" if header else ""))
    return examples


def read_jsonl(path: str, text_a_column: str, text_b_column: str | None = None, label_column: str | None = None,
               *, regression: bool = False) -> list[TextExample]:
    """One JSON object per line; columns are keys (nested keys with dots, e.g. `labels.label`)."""
    text = _read_text(path)
    examples = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record = _parse_json(path, line, dict, "a JSON object", first_line=line_number)
        examples.append(_from_record(path, line_number, record, text_a_column, text_b_column, label_column,
                                     regression, len(examples)))
    if not examples:
        raise DataError(f"{path}: the file holds no examples")
    return examples


def _parse_json(path, text, expected_type, what, first_line=None):
    """`json.loads(text)`, which must be an `expected_type`; errors name the file and the line (`first_line`:
    the line `text` starts on, for one line of a file; None: `text` is the whole file)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        line = e.lineno if first_line is None else first_line + e.lineno - 1
        raise DataError(f"{path}:{line}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(value, expected_type):
        where = path if first_line is None else f"{path}:{first_line}"
        raise DataError(f"{where}: expected {what}, got {type(value).__name__}")
    return value


def _get(record, key, path, line):
    value = record
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise DataError(f"{path}:{line}: missing key {key!r} (keys: {sorted(record)})")
        value = value[part]
    return value


def _from_record(path, line, record, text_a_key, text_b_key, label_key, regression, index):
    text_a = _check_text(path, line, _get(record, text_a_key, path, line), text_a_key)
    text_b = None if text_b_key is None else _check_text(path, line, _get(record, text_b_key, path, line), text_b_key)
    label = None
    if label_key is not None:
        raw = _get(record, label_key, path, line)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise DataError(f"{path}:{line}: empty label {label_key!r}")
        label = _label_value(path, line, raw, regression) if regression else str(raw)
    guid = str(record.get("guid", record.get("id", f"{os.path.basename(path)}-{index}")))
    return TextExample(guid, text_a, text_b, label, f"{path}:{line}")


def _read_json_list(path, text_a_key, text_b_key, label_key, regression):
    text = _read_text(path)
    records = _parse_json(path, text, list, "a JSON list of examples")
    if not records:
        raise DataError(f"{path}: the file holds no examples")
    # Line numbers of each object's opening brace at nesting depth 1 (for error messages).
    starts = _object_lines(text)
    examples = []
    for i, record in enumerate(records):
        line = starts[i] if i < len(starts) else None
        where = f"{path}:{line}" if line else f"{path} (example {i})"
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
        try:
            examples.append(_from_record(path, line, record, text_a_key, text_b_key, label_key, regression, i))
        except DataError as e:
            raise DataError(str(e).replace(f"{path}:None", f"{path} (example {i})")) from None
    return examples


def _object_lines(text):
    lines, depth, line, in_string, escape = [], 0, 1, False, False
    for ch in text:
        if ch == "\n":
            line += 1
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if ch == "{" and depth == 2:
                lines.append(line)
        elif ch in "]}":
            depth -= 1
    return lines


def read_examples(path: str, data_format: str, *, text_a_column: str | None = None,
                  text_b_column: str | None = None, label_column: str | None = None, has_header: bool = True,
                  regression: bool | None = None, labeled: bool = True) -> list[TextExample]:
    """Reads `path` in `data_format` (one of `DATA_FORMATS`).

    Args:
        path: str. The file.
        data_format: str. See the module docstring.
        text_a_column, text_b_column, label_column: column names (or indexes) for csv/tsv/jsonl; the named
            formats know their own columns (passing them overrides).
        has_header: bool. csv/tsv only. Defaults to True.
        regression: bool or None. Parse labels as floats. Defaults to True for korsts/klue_sts, else False.
        labeled: bool. False reads files without labels (prediction); the label column may then be absent.
    """
    if data_format not in DATA_FORMATS:
        raise DataError(f"unknown data_format {data_format!r}; choose one of {DATA_FORMATS}")
    if regression is None:
        regression = data_format in REGRESSION_FORMATS
    presets = {
        "nsmc": dict(a="document", b=None, label="label", delimiter="\t", quoting=False, header=True,
                     label_names=NSMC_LABELS),
        "korsts": dict(a="sentence1", b="sentence2", label="score", delimiter="\t", quoting=False, header=True),
        "banking77": dict(a="text", b=None, label="category", delimiter=",", quoting=True, header=True),
        "poem_sentiment": dict(a="1", b=None, label="2", delimiter="\t", quoting=False, header=False),
        "csv": dict(a=None, b=None, label=None, delimiter=",", quoting=True, header=has_header),
        "tsv": dict(a=None, b=None, label=None, delimiter="\t", quoting=False, header=has_header),
    }
    json_presets = {"klue_nli": ("premise", "hypothesis", "gold_label"),
                    "klue_sts": ("sentence1", "sentence2", "labels.label")}
    if data_format in presets:
        p = presets[data_format]
        a = text_a_column or p["a"]
        b = text_b_column if text_b_column is not None else p["b"]
        label = label_column or p["label"]
        if a is None:
            raise DataError(f"data_format={data_format!r} needs text_a_column (and label_column for training)")
        if not labeled and data_format in ("csv", "tsv") and label_column is None:
            label = None
        elif label is None and labeled:
            raise DataError(f"data_format={data_format!r} needs label_column to read labels")
        if not labeled:
            label = _label_if_present(path, label, p["delimiter"], p["header"])
        examples = read_delimited(path, a, b, label, delimiter=p["delimiter"], quoting=p["quoting"],
                                  has_header=p["header"], regression=regression,
                                  allow_empty_text=data_format == "nsmc")
        names = p.get("label_names")  # a format's label codes -> class names (unless the caller picks the column)
        return _named_labels(examples, names) if names and label_column is None else examples
    if data_format == "jsonl":
        if text_a_column is None or (labeled and label_column is None):
            raise DataError("data_format='jsonl' needs text_a_column and label_column")
        return read_jsonl(path, text_a_column, text_b_column, label_column if labeled else None,
                          regression=regression)
    a, b, label = json_presets[data_format]
    return _read_json_list(path, text_a_column or a, text_b_column if text_b_column is not None else b,
                           (label_column or label) if labeled else None, regression)


def _named_labels(examples: list[TextExample], names: dict[str, str]) -> list[TextExample]:
    """The examples with their label codes replaced by class names (`names`: code -> name)."""
    out = []
    for e in examples:
        if e.label is not None and str(e.label) not in names:
            raise DataError(f"{e.source}: label {e.label!r} is not one of {sorted(names)} "
                            f"({', '.join(f'{k} = {v}' for k, v in names.items())})")
        out.append(e if e.label is None else dataclasses.replace(e, label=names[str(e.label)]))
    return out


def _label_if_present(path, label, delimiter, header):
    """For prediction files: keep the label column only if the header has it."""
    if label is None or not header:
        return label
    first = _read_text(path).splitlines()[0].split(delimiter)
    return label if label in [h.strip().strip('"') for h in first] else None


def label_names_of(examples: Sequence[TextExample]) -> list[str]:
    """The sorted class names in `examples` (numerically when every name is a number: "-1" < "0" < "2")."""
    names = {str(e.label) for e in examples if e.label is not None}
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)
