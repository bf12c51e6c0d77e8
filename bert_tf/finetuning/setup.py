"""What a fine-tuning run starts from: the distribution strategy, the vocabulary, the encoder (pre-trained or
random), the tokenizer; `prepare(options)` makes all four."""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import tempfile

import keras

from bert_tf.config import BertConfig
from bert_tf.finetuning.options import FinetuneError, FinetuneOptions, TrainingOptions

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Setup:
    """What `prepare` made: `strategy`, `vocab_file`, `encoder` (the starting weights: the checkpoint's, the
    pre-trained task's, or random), `tokenizer`, `do_lower_case` (resolved), `pretrained_task` (a fine-tuned
    `.keras` task given as `init_checkpoint`, or None)."""

    strategy: object
    vocab_file: str
    encoder: object
    tokenizer: object
    do_lower_case: bool
    pretrained_task: object = None

    def encoder_copies(self):
        """A function `(dtype) -> encoder` that makes a fresh copy of the starting encoder in `dtype` (one per
        learning rate of a sweep)."""
        config, weights = self.encoder.get_config(), self.encoder.get_weights()
        return lambda dtype=None: copy_encoder(config, weights, dtype)


def prepare(options: FinetuneOptions, *, load_task: bool = False) -> Setup:
    """Strategy, vocabulary, encoder (built in the strategy's scope) and tokenizer for `options`. With
    `load_task`, an `init_checkpoint` that is a fine-tuned `.keras` task starts from that task's encoder."""
    vocab_file = resolve_vocab(options.vocab_file, options.init_checkpoint)
    pretrained_task = load_task_model(options.init_checkpoint) if load_task and options.init_checkpoint else None
    strategy = get_strategy(options.distribution_strategy, options.training_options)
    if pretrained_task is not None:
        encoder = pretrained_task.encoder
    else:
        from bert_tf.tokenization import load_vocab
        with strategy.scope():
            encoder = build_encoder(seed=options.seed, init_checkpoint=options.init_checkpoint,
                                    bert_config_file=options.bert_config_file, preset=options.preset,
                                    vocab_size=len(load_vocab(vocab_file)), do_lower_case=options.do_lower_case)
        if options.init_checkpoint:
            from bert_tf.checkpoints.pretraining_record import untrained_positions_warning
            warning = untrained_positions_warning(options.init_checkpoint, options.max_seq_length)
            if warning:
                logger.warning(warning)
    do_lower_case = encoder.bert_config.do_lower_case if options.do_lower_case is None else options.do_lower_case
    tokenizer = make_tokenizer(vocab_file, do_lower_case, options.max_input_chars_per_word)
    return Setup(strategy, vocab_file, encoder, tokenizer, do_lower_case, pretrained_task)


def get_strategy(name: str, training_options: TrainingOptions | None = None):
    """`distribute.get_strategy(name, tpu_address=training_options.tpu_address)` with its errors (unknown
    name, missing TF_CONFIG, no TPU) as `FinetuneError`, which the scripts print without a traceback."""
    from bert_tf.training import distribute
    try:
        return distribute.get_strategy(name, tpu_address=(training_options or TrainingOptions()).tpu_address)
    except ValueError as e:
        raise FinetuneError(f"distribution strategy {name!r}: {e}") from None


def check_init_checkpoint(init_checkpoint: str) -> None:
    """`FinetuneError` naming `--init_checkpoint` when nothing loadable is at that path (a typo would otherwise
    surface as a missing vocabulary or a deep loader error)."""
    from bert_tf.checkpoints import CheckpointError, detect_format
    path = os.fspath(init_checkpoint)
    if not os.path.exists(path) and not glob.glob(glob.escape(path) + ".*"):
        raise FinetuneError(f"--init_checkpoint: no checkpoint at {path} (no such file, directory or checkpoint "
                            "prefix)")
    try:
        detect_format(path)
    except CheckpointError as e:
        raise FinetuneError(f"--init_checkpoint: {e}") from None


def resolve_vocab(vocab_file: str | None, init_checkpoint: str | None) -> str:
    if init_checkpoint:
        check_init_checkpoint(init_checkpoint)
    if vocab_file:
        if not os.path.isfile(vocab_file):
            raise FinetuneError(f"vocab_file not found: {vocab_file}")
        return vocab_file
    if init_checkpoint:
        from bert_tf.checkpoints import find_vocab
        try:
            return find_vocab(init_checkpoint)
        except Exception as e:  # CheckpointError
            raise FinetuneError(f"--vocab_file is required: {e}") from None
    raise FinetuneError("--vocab_file is required when there is no --init_checkpoint with a vocab.txt beside it")


def load_task_model(path: str):
    """A fine-tuned bert_tf task saved as `.keras` (e.g. a previous run's `best_model.keras`), else None."""
    if not (path and path.endswith(".keras") and os.path.isfile(path)):
        return None
    from bert_tf.checkpoints import CheckpointError, load_task
    from bert_tf.tasks.task import Task
    try:
        model = load_task(path)
    except CheckpointError as e:
        raise FinetuneError(str(e)) from None
    return model if isinstance(model, Task) else None


def build_encoder(*, init_checkpoint: str | None = None, bert_config_file: str | None = None,
                  preset: str | None = None, vocab_size: int | None = None, do_lower_case: bool | None = None,
                  seed: int = 0):
    """The encoder to fine-tune: pre-trained weights from `init_checkpoint` (any format `load_encoder` reads),
    or a random initialization with `bert_config_file` or `preset` (the baseline without pre-training)."""
    from bert_tf.encoder import BertEncoder
    if init_checkpoint:
        from bert_tf.checkpoints import load_encoder
        config = BertConfig.from_json(bert_config_file, do_lower_case=do_lower_case) if bert_config_file else None
        return load_encoder(init_checkpoint, config, do_lower_case=do_lower_case)
    if bert_config_file:
        config = BertConfig.from_json(bert_config_file, do_lower_case=do_lower_case)
    elif preset:
        if vocab_size is None:
            raise FinetuneError("a preset needs the vocabulary size (from --vocab_file)")
        config = BertConfig.preset(preset, vocab_size=vocab_size)
        if do_lower_case is not None:
            config = config.replace(do_lower_case=bool(do_lower_case))
    else:
        raise FinetuneError("pass --init_checkpoint (pre-trained weights), or --bert_config_file or --preset "
                            "to train from random initialization")
    if vocab_size is not None and config.vocab_size != vocab_size:
        raise FinetuneError(f"the config's vocab_size {config.vocab_size} differs from the vocabulary file's "
                            f"{vocab_size} entries")
    logger.info("no --init_checkpoint: training from random initialization (%s)", bert_config_file or preset)
    keras.utils.set_random_seed(seed)  # the same seed, the same initial weights
    return BertEncoder.from_bert_config(config)


def copy_encoder(encoder_config: dict, encoder_weights, dtype=None):
    """A fresh encoder from a config and weights, in `dtype` (not the one it was saved in; None: Keras' default,
    the global dtype policy)."""
    from bert_tf.encoder import BertEncoder
    encoder = BertEncoder.from_config({**encoder_config, "dtype": dtype})
    encoder.set_weights(encoder_weights)
    return encoder


def make_tokenizer(vocab_file: str, do_lower_case: bool, max_input_chars_per_word: int = 200):
    """`BertTokenizer`; words over `max_input_chars_per_word` characters become [UNK] (200: google-research/bert;
    Hugging Face's tokenizer uses 100)."""
    from bert_tf.tokenization import BertTokenizer
    return BertTokenizer(vocab_file, do_lower_case=bool(do_lower_case), max_input_chars_per_word=max_input_chars_per_word)


def default_output_dir(output_dir: str | None, prefix: str) -> str:
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        return output_dir
    return tempfile.mkdtemp(prefix=f"bert_tf_{prefix}_")
