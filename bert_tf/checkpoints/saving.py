"""Saving bert_tf models so they can leave bert_tf: Hugging Face safetensors and Google TF1 checkpoints.

bert_tf's own checkpoint directory (what pre-training should write and fine-tuning/feature extraction
read, via `load_encoder`/`load_pretrainer`) is exactly what `save_hf` writes:

    model.safetensors       Hugging Face key set: `BertModel` for an encoder (no prefix), `BertForPreTraining`
                            (`bert.` + `cls.*`) for a pretrainer; float32
    config.json             Hugging Face's config (model_type "bert", architectures)
    bert_config.json        bert_tf's full `BertConfig` (Google's keys + `layer_norm_eps` + `do_lower_case`); read first
    tokenizer_config.json   `do_lower_case`, so Hugging Face's tokenizer gets the casing right
    vocab.txt               when `vocab_file` is given

so the same directory loads in bert_tf and in Hugging Face transformers. Every writer stages its files in a
temporary sibling directory and moves them into place when all are written (weights before configs, so a
reader never sees a config whose weights are missing).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile

import numpy as np

from bert_tf.checkpoints import model_weights, names, safetensors_io
from bert_tf.checkpoints.errors import CheckpointError
from bert_tf.config import ConfigError

logger = logging.getLogger(__name__)

_LAST = ("config.json", "bert_config.json", "tokenizer_config.json", "vocab.txt", "checkpoint")


@contextlib.contextmanager
def _staged_directory(directory):
    """Yields a temporary directory; on success its files replace those of `directory` (created if needed)."""
    directory = os.path.abspath(directory)
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(directory)}.tmp-", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    try:
        yield staging
        if not os.path.exists(directory):
            os.rename(staging, directory)
            return
        if not os.path.isdir(directory):
            raise CheckpointError(f"{directory} exists and is not a directory")
        files = sorted(os.listdir(staging), key=lambda f: (f in _LAST, _LAST.index(f) if f in _LAST else 0, f))
        for name in files:
            os.replace(os.path.join(staging, name), os.path.join(directory, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _split(model):
    from bert_tf.encoder import BertEncoder
    from bert_tf.tasks.bert_pretrainer import BertPretrainer
    if isinstance(model, BertPretrainer):
        return model.encoder, True, model.nsp
    if isinstance(model, BertEncoder):
        return model, False, False
    raise CheckpointError(f"expected a bert_tf BertEncoder or BertPretrainer, got {type(model).__name__}")


def _copy_vocab(vocab_file, staging, config, encoder=None, destination=None):
    if vocab_file is None:  # the vocabulary the encoder was loaded with (load_encoder records it), if any
        vocab_file = getattr(encoder, "vocab_file", None)
    if vocab_file is None:
        logger.warning("%s: no vocab.txt written (this model's vocabulary is unknown); pass vocab_file=... so the "
                       "directory can be used on its own", destination or "the saved checkpoint")
        return
    if not os.path.isfile(vocab_file):
        raise CheckpointError(f"vocabulary file not found: {vocab_file}")
    with open(vocab_file, encoding="utf-8") as f:
        count = sum(1 for line in f if line.rstrip("\n"))
    if count > config.vocab_size:
        raise CheckpointError(f"{vocab_file} has {count} tokens but the model's vocab_size is {config.vocab_size}")
    shutil.copyfile(vocab_file, os.path.join(staging, "vocab.txt"))


def _write_json(path, values):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(values, f, indent=2, sort_keys=True)
        f.write("\n")


COMPANIONS = ("generator", "1_Pooling", "pretraining.json")  # what a model directory declares beside its weights


def save_hf(model, directory: str, *, vocab_file: str | None = None, dtype: str = "float32",
            companions_from: str | None = None) -> str:
    """Writes a Hugging Face BERT directory (bert_tf's own checkpoint layout, see the module docstring).

    Args:
        model: `BertEncoder` (→ `BertModel` keys) or `BertPretrainer` (→ `BertForPreTraining` keys; without
            an NSP head the `cls.seq_relationship.*` keys are absent and the architecture is `BertForMaskedLM`).
        directory: output directory; created, or its files replaced.
        vocab_file: `vocab.txt` to copy beside the weights. Defaults to the one the encoder was loaded with
            (`load_encoder` records it); without either, none is written (a warning says so).
        dtype: str. `"float32"` (default) or `"float16"`: the stored precision (half the size; loaders cast
            back to the model's dtype). Hugging Face reads either.
        companions_from: a model directory (typically the one `model` was fine-tuned from) whose `COMPANIONS`
            are copied beside the weights, those it has: `generator/` (ELECTRA's, for more pre-training),
            `1_Pooling/` (the pooling a head on this encoder was trained with, which fine-tuning reads) and
            `pretraining.json` (the sequence length the positions were trained to). Folders are copied before
            the weights are written, so a reader that sees the weights sees them too.

    Returns the directory.
    """
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
    if companions_from is not None and not os.path.isdir(companions_from):
        raise CheckpointError(f"companions_from={companions_from!r} is not a directory")
    encoder, has_mlm, has_nsp = _split(model)
    config = encoder.bert_config
    weights = model_weights.collect(model)
    prefix = "bert." if has_mlm else ""
    tensors = {}
    for canonical, array in weights.items():
        key = names.foreign_name(names.HUGGING_FACE, canonical, config.num_hidden_layers, prefix)
        tensors[key] = names.from_canonical(names.HUGGING_FACE, canonical, array, config).astype(np.float32).astype(dtype)
    architecture = "BertForPreTraining" if has_nsp else "BertForMaskedLM" if has_mlm else "BertModel"
    companions = ([os.path.join(companions_from, n) for n in COMPANIONS] if companions_from and
                  os.path.abspath(companions_from) != os.path.abspath(directory) else [])
    for path in companions:
        if os.path.isdir(path):
            shutil.copytree(path, os.path.join(directory, os.path.basename(path)), dirs_exist_ok=True)
    with _staged_directory(directory) as staging:
        for path in companions:
            if os.path.isfile(path):
                shutil.copyfile(path, os.path.join(staging, os.path.basename(path)))
        _copy_vocab(vocab_file, staging, config, encoder, directory)
        safetensors_io.write_tensors(os.path.join(staging, "model.safetensors"), tensors, metadata={"format": "pt"})
        config.to_hf_json(os.path.join(staging, "config.json"))
        with open(os.path.join(staging, "config.json"), encoding="utf-8") as f:
            hf_config = json.load(f)
        hf_config["architectures"] = [architecture]
        _write_json(os.path.join(staging, "config.json"), hf_config)
        _write_json(os.path.join(staging, "bert_config.json"), config.to_dict())
        _write_json(os.path.join(staging, "tokenizer_config.json"),
                    {"do_lower_case": config.do_lower_case, "tokenizer_class": "BertTokenizer",
                     "model_max_length": config.max_position_embeddings})
    return directory


def save_google_tf1(model, path: str, *, vocab_file: str | None = None) -> str:
    """Writes a google-research/bert TF1 checkpoint: `bert_model.ckpt.{index,data-00000-of-00001}`,
    `checkpoint`, `bert_config.json` (and `vocab.txt`), with `modeling.py`'s variable names.

    Args:
        model: `BertEncoder` (`bert/*` only) or `BertPretrainer` (plus `cls/predictions/*` and, with NSP,
            `cls/seq_relationship/*`).
        path: an output directory (the checkpoint is named `bert_model.ckpt`), or a checkpoint prefix whose
            file name contains `.ckpt` (e.g. `out/model.ckpt`), written in its directory.
        vocab_file: `vocab.txt` to copy beside the checkpoint. Defaults to the one the encoder was loaded with
            (`load_encoder` records it); without either, none is written (a warning says so).

    Returns the checkpoint prefix. The config's `hidden_act` must have a Google name: `"gelu_approximate"`
    has none (Google's configs say "gelu", which bert_tf reads as the exact form) and raises `ConfigError`.
    """
    import tensorflow as tf

    encoder, has_mlm, has_nsp = _split(model)
    config = encoder.bert_config
    if ".ckpt" in os.path.basename(path):
        directory, name = os.path.dirname(path) or ".", os.path.basename(path)
    else:
        directory, name = path, "bert_model.ckpt"
    weights = model_weights.collect(model)
    tensor_names, tensors = [], []
    for canonical in sorted(weights, key=lambda c: names.foreign_name(names.GOOGLE_TF1, c, config.num_hidden_layers)):
        tensor_names.append(names.foreign_name(names.GOOGLE_TF1, canonical, config.num_hidden_layers))
        tensors.append(names.from_canonical(names.GOOGLE_TF1, canonical, weights[canonical], config))
    with _staged_directory(directory) as staging:
        try:
            config.to_google_json(os.path.join(staging, "bert_config.json"))
        except ConfigError as e:
            raise ConfigError(f"cannot save in Google's format: {e}") from None
        _copy_vocab(vocab_file, staging, config, encoder, directory)
        tf.raw_ops.SaveV2(prefix=os.path.join(staging, name), tensor_names=tensor_names,
                          shape_and_slices=[""] * len(tensor_names),
                          tensors=[tf.constant(t, dtype=tf.float32) for t in tensors])
        with open(os.path.join(staging, "checkpoint"), "w", encoding="utf-8") as f:
            f.write(f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n')
    return os.path.join(directory, name)


def average_hf(start: str, other: str, directory: str, *, alpha: float = 0.5) -> str:
    """Writes the weight-by-weight average `(1 - alpha) * start + alpha * other` of two Hugging Face directories of
    the same architecture and vocabulary: WiSE-FT (Wortsman et al. 2022), which keeps most of what fine-tuning
    `other` from `start` gained and most of what `start` could do. The built-in Korean BERT is such an average
    (`scripts/build_korean_bert.sh`, its last stage).

    Computed in float32 and stored in `start`'s dtype; `start`'s other files (configs, vocab.txt,
    pretraining.json, and folders such as generator/ and 1_Pooling/) are copied beside the weights. `directory`
    is created, or its files replaced (the weights before the configs, as `save_hf` writes them).

    Raises CheckpointError naming the problem when a weights file is missing, the tensors' names or shapes
    differ, or the two configs or vocabularies differ; ValueError when `alpha` is outside [0, 1].
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    paths = [os.path.join(d, "model.safetensors") for d in (start, other)]
    for path in paths:
        if not os.path.isfile(path):
            raise CheckpointError(f"no model.safetensors in {os.path.dirname(path)}: average_hf averages two "
                                  "Hugging Face directories (save_hf's layout)")
    for name in ("bert_config.json", "vocab.txt"):
        a, b = (os.path.join(d, name) for d in (start, other))
        if os.path.isfile(a) and os.path.isfile(b):
            with open(a, "rb") as fa, open(b, "rb") as fb:
                if fa.read() != fb.read():
                    raise CheckpointError(f"{start} and {other} have different {name}: only weights of one "
                                          "architecture and vocabulary can be averaged")
    first, second = (safetensors_io.read_tensors(p) for p in paths)
    if first.keys() != second.keys():
        only = sorted(first.keys() - second.keys())[:3] or sorted(second.keys() - first.keys())[:3]
        raise CheckpointError(f"{start} and {other} hold different tensors (e.g. {', '.join(only)} is in only one)")
    for key in sorted(first):
        if first[key].shape != second[key].shape:
            raise CheckpointError(f"{key} has shape {first[key].shape} in {start} but {second[key].shape} in {other}")
    averaged = {k: ((1.0 - alpha) * first[k].astype(np.float32) + alpha * second[k].astype(np.float32))
                .astype(first[k].dtype) for k in first}
    directory = os.path.abspath(directory)
    if os.path.abspath(start) != directory:  # folders first: a reader sees the new weights only once they are there
        for name in sorted(os.listdir(start)):
            if os.path.isdir(os.path.join(start, name)):
                shutil.copytree(os.path.join(start, name), os.path.join(directory, name), dirs_exist_ok=True)
    with _staged_directory(directory) as staging:
        for name in os.listdir(start):
            if name != "model.safetensors" and os.path.isfile(os.path.join(start, name)):
                shutil.copyfile(os.path.join(start, name), os.path.join(staging, name))
        safetensors_io.write_tensors(os.path.join(staging, "model.safetensors"), averaged, metadata={"format": "pt"})
    return directory
