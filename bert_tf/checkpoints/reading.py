"""`read_checkpoint`: a Hugging Face, Google TF1 or Model Garden checkpoint read into canonical weights, with its
config resolved (the file beside it, `config=`/`config_file=`, or inferred from shapes for Model Garden)."""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from bert_tf.checkpoints import names, safetensors_io
from bert_tf.checkpoints.checkpoint import Checkpoint
from bert_tf.checkpoints.errors import CheckpointError
from bert_tf.checkpoints.locating import BERT_TF_TRAINING, KERAS, _locate, _tf_format, _tf_shapes
from bert_tf.config import BertConfig, ConfigError
from bert_tf.deprecation import renamed_kwargs

logger = logging.getLogger(__name__)


def _do_lower_case_from_tokenizer_config(directory):
    path = os.path.join(directory, "tokenizer_config.json")
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as f:
                value = json.load(f).get("do_lower_case")
        except (OSError, ValueError, AttributeError):
            return None
        if isinstance(value, bool):
            return value
    return None


def _has_casing_key(path):
    """Whether the JSON file records the casing: `do_lower_case` (`lowercase` in files from before the rename)."""
    try:
        with open(path, encoding="utf-8") as f:
            return bool({"do_lower_case", "lowercase"} & set(json.load(f)))
    except (OSError, ValueError, TypeError):
        return False


def _resolve_config(fmt, directory, shapes, source, config, config_file, do_lower_case, hidden_act):
    if config is not None and config_file is not None:
        raise CheckpointError("pass config (a BertConfig) or config_file (a path), not both")
    if config is not None:
        if not isinstance(config, BertConfig):
            raise CheckpointError(f"config must be a BertConfig, got {type(config).__name__}; "
                                  "pass a path as config_file=")
        resolved = config.replace(do_lower_case=do_lower_case) if do_lower_case is not None else config
    else:
        if config_file is None:
            candidates = {
                names.HUGGING_FACE: ["bert_config.json", "config.json"],
                names.GOOGLE_TF1: ["bert_config.json", "config.json"],
                names.MODEL_GARDEN: ["bert_config.json"],
                BERT_TF_TRAINING: ["bert_config.json", "config.json"],
            }[fmt]
            found = [os.path.join(directory, c) for c in candidates if os.path.isfile(os.path.join(directory, c))]
            if fmt == names.HUGGING_FACE and len(found) == 2 and not _has_casing_key(found[0]):
                found = found[1:]  # a stray Google config: the HF one describes these weights
            config_file = found[0] if found else None
        if config_file is None:
            if fmt != names.MODEL_GARDEN:
                raise CheckpointError(f"{source}: no bert_config.json/config.json beside the checkpoint; "
                                      "pass config= or config_file=")
            resolved = names.infer_config(fmt, shapes, source=source, hidden_act=hidden_act,
                                          do_lower_case=True if do_lower_case is None else do_lower_case)
            logger.info("%s: Model Garden checkpoint without a config; inferred %s", source, resolved)
        else:
            if do_lower_case is None and not _has_casing_key(config_file):
                do_lower_case = _do_lower_case_from_tokenizer_config(directory)
                if do_lower_case is None:
                    logger.info("%s says nothing about casing; assuming an uncased vocabulary (do_lower_case=True)",
                                config_file)
            try:
                resolved = BertConfig.from_json(config_file, do_lower_case=do_lower_case)
            except ConfigError as e:
                raise CheckpointError(str(e)) from None
    if hidden_act is not None:
        resolved = resolved.replace(hidden_act=hidden_act)
    return resolved


def _check_vocab(vocab_file, config):
    if vocab_file is None:
        return
    with open(vocab_file, encoding="utf-8") as f:
        count = sum(1 for line in f if line.rstrip("\n"))
    if count > config.vocab_size:
        raise CheckpointError(f"{vocab_file} has {count} tokens but the checkpoint's vocab_size is "
                              f"{config.vocab_size}; ids beyond it would have no embedding")


# === Reading ===
def _hf_files(weights_path):
    if weights_path.endswith(".index.json"):
        directory = os.path.dirname(weights_path)
        try:
            with open(weights_path, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
            files = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{weights_path}: not a valid safetensors index ({e})") from None
        for name in files:
            if os.path.basename(name) != name:
                raise CheckpointError(f"{weights_path}: shard name {name!r} is not a plain file name")
        return [os.path.join(directory, name) for name in files]
    return [weights_path]


@renamed_kwargs(lowercase="do_lower_case")
def read_checkpoint(path: str, config: BertConfig | None = None, *, config_file: str | None = None,
                    do_lower_case: bool | None = None, hidden_act: str | None = None) -> Checkpoint:
    """Reads a Hugging Face, Google TF1 or Model Garden checkpoint into canonical weights, strictly.

    Args:
        path: a directory, a weights file, or a TF checkpoint prefix.
        config: `BertConfig` to check the weights against; by default the config file beside the checkpoint
            (`bert_config.json` or `config.json`), inferred from shapes for Model Garden.
        config_file: path of a config file to use instead of the one beside the checkpoint.
        do_lower_case: overrides the config's casing (`--do_lower_case`); by default the config's own, else
            Hugging Face's `tokenizer_config.json`, else True.
        hidden_act: overrides the config's activation (e.g. `"gelu_approximate"`, google-research/bert's).

    Raises:
        CheckpointError: unknown/unsafe file, another architecture, a size that disagrees with the config,
            a missing variable, or a variable neither used nor known to be safe to ignore.
    """
    fmt, weights_path, directory = _locate(path)
    if fmt == KERAS:
        raise CheckpointError(f"{weights_path}: a .keras file holds a whole model; use load_encoder/load_pretrainer")
    if fmt == "tf":
        reader, shapes = _tf_shapes(weights_path)
        fmt = _tf_format(weights_path, shapes, reader)
        if fmt == BERT_TF_TRAINING:
            raise CheckpointError(f"{weights_path}: a bert_tf training checkpoint (object-based); use "
                                  "load_encoder/load_pretrainer")

        def get(name):
            return reader.get_tensor(name)
    else:
        files = _hf_files(weights_path)
        shapes, owner = {}, {}
        for file in files:
            for name, shape in safetensors_io.read_shapes(file).items():
                shapes[name], owner[name] = shape, file
        cache = {}

        def get(name):
            if owner[name] not in cache:
                cache.clear()  # one shard in memory at a time
                cache[owner[name]] = safetensors_io.read_tensors(owner[name])
            return cache[owner[name]][name]
    resolved = _resolve_config(fmt, directory, shapes, weights_path, config, config_file, do_lower_case, hidden_act)
    the_plan = names.plan(fmt, shapes, resolved, source=weights_path)
    weights = {}
    try:
        by_source = sorted(the_plan.mapping.items(), key=lambda item: item[1])
        for canonical, name in by_source:
            array = np.asarray(get(name))
            if not np.issubdtype(array.dtype, np.floating) and array.dtype.name != "bfloat16":
                raise CheckpointError(f"{weights_path}: variable {name!r} has dtype {array.dtype}, expected floats")
            weights[canonical] = names.to_canonical(fmt, canonical, array.astype(np.float32), resolved)
        for name, canonical in the_plan.tied.items():
            duplicate = np.asarray(get(name)).astype(np.float32)
            if not np.allclose(duplicate, weights[canonical], rtol=0, atol=1e-6):
                raise CheckpointError(
                    f"{weights_path}: {name!r} should be tied to {the_plan.mapping[canonical]!r} but differs by "
                    f"{np.abs(duplicate - weights[canonical]).max():.3g}; bert_tf ties the output projection to the "
                    "word embeddings and cannot load an untied one")
    except CheckpointError:
        raise
    except Exception as e:  # corrupt data shards surface as TF/safetensors errors
        raise CheckpointError(f"{weights_path}: cannot read tensors ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if the_plan.ignored:
        logger.info("%s: ignored %d variable(s) (optimizer slots, counters, buffers), e.g. %s",
                    weights_path, len(the_plan.ignored), the_plan.ignored[:3])
    vocab = os.path.join(directory, "vocab.txt")
    vocab = vocab if os.path.isfile(vocab) else None
    _check_vocab(vocab, resolved)
    return Checkpoint(format=fmt, path=weights_path, config=resolved, weights=weights,
                      sources=dict(the_plan.mapping), vocab_file=vocab, has_mlm=the_plan.has_mlm,
                      has_nsp=the_plan.has_nsp, ignored=the_plan.ignored)
