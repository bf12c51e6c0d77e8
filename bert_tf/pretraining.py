"""BERT pre-training as one call: `pretrain(PretrainOptions(...))` builds the `BertPretrainer` (random, or from
`init_checkpoint`), the record pipelines and the `Trainer`, resumes from `output_dir/training/`, trains
(optionally evaluating on held-out records every `eval_every_steps`), saves the model as a bert_tf / Hugging
Face directory and evaluates. `scripts/run_pretraining.py` is its flags.

`output_dir` receives `training/ckpt-<step>.*` (checkpoints, resumed by a rerun), `training/summaries/`
(TensorBoard scalars), the trained model (`model.safetensors`, `config.json`, `bert_config.json`,
`tokenizer_config.json`, `vocab.txt`; with `objective="electra"` the discriminator, and the generator in
`generator/`), `pretraining.json` (the longest sequences these weights were pre-trained on, counting
`init_checkpoint`'s record: see `bert_tf.checkpoints.pretraining_record`), `eval_results.json` (with
`do_eval`) and `eval_history.json` (with `eval_every_steps`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys

from bert_tf.config import DTYPES
from bert_tf.deprecation import renamed_attribute, renamed_kwargs

logger = logging.getLogger(__name__)

# mlm: BERT's masked LM (+ NSP with `nsp`); electra: ELECTRA's replaced-token detection (a small generator's
# samples at the masked positions, a discriminator that is kept).
OBJECTIVES = ("mlm", "electra")


class PretrainError(ValueError):
    """Options or inputs that cannot describe a pre-training run (the message says which and why)."""


@dataclasses.dataclass(frozen=True)
class PretrainOptions:
    """A pre-training run; the names and defaults are `scripts/run_pretraining.py`'s flags (google-research/bert's
    run_pretraining.py plus bert_tf's), whose help says what each one does. `dtype` (one of
    `bert_tf.config.DTYPES`; formerly `dtype_policy`, deprecated) is the precision the model is built in."""

    input_file: str | None = None
    vocab_file: str | None = None
    output_dir: str | None = None
    eval_input_file: str | None = None
    bert_config_file: str | None = None
    preset: str | None = None
    do_lower_case: bool = True
    init_checkpoint: str | None = None
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    do_train: bool = False
    do_eval: bool = False
    train_batch_size: int = 32
    eval_batch_size: int = 8
    learning_rate: float = 5e-5
    optimizer: str = "adamw"
    weight_decay_rate: float = 0.01
    num_train_steps: int = 100000
    num_warmup_steps: int = 10000
    save_checkpoints_steps: int = 1000
    max_eval_steps: int = 100
    eval_every_steps: int = 0
    log_every_steps: int = 100
    steps_per_loop: int = 1
    nsp: bool = True
    objective: str = "mlm"
    generator_hidden_size: float = 0.25
    generator_init_checkpoint: str | None = None
    disc_weight: float = 50.0
    train_only_embeddings: bool = False
    dynamic_masking: bool = False
    grad_accum_steps: int = 1
    jit_compile: bool = False
    distribution_strategy: str = "one_device"
    tpu: str | None = None
    num_gpus: int | None = None
    dtype: str = "float32"
    seed: int = 12345

    @classmethod
    def names(cls) -> tuple:
        """The option names (`scripts/run_pretraining.py` has a flag of each name)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    dtype_policy = renamed_attribute("dtype_policy", "dtype")


PretrainOptions.__init__ = renamed_kwargs(dtype_policy="dtype")(PretrainOptions.__init__)


def check_options(options: PretrainOptions) -> None:
    """The checks that need no TensorFlow (`PretrainError`)."""
    if not (options.do_train or options.do_eval):
        raise PretrainError("at least one of --do_train and --do_eval must be true")
    if options.dtype not in DTYPES:
        raise PretrainError(f"--dtype must be one of {', '.join(DTYPES)}, got {options.dtype!r}")
    if options.do_train and options.do_eval and not options.eval_input_file:
        # google-research/bert evaluated on --input_file here, silently: the training records, whose loss says
        # how well they were memorised, not how well the model predicts text it has not seen.
        raise PretrainError("--do_train --do_eval needs --eval_input_file: held-out records (create_pretraining_data.py "
                            "on documents kept out of --input_file). To score the training records anyway, pass "
                            "--eval_input_file with the --input_file value")
    if options.objective not in OBJECTIVES:
        raise PretrainError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {options.objective!r}")
    if options.objective == "electra" and options.nsp:
        raise PretrainError("--objective=electra has no next-sentence prediction (ELECTRA's discriminator is scored "
                            "on every token instead): pass --nsp=false")
    if options.generator_init_checkpoint and options.objective != "electra":
        raise PretrainError("--generator_init_checkpoint is for --objective=electra")
    if options.objective == "electra" and not 0.0 < options.generator_hidden_size <= 1.0:
        raise PretrainError(f"--generator_hidden_size must be in (0, 1], got {options.generator_hidden_size}")
    if options.train_only_embeddings and options.objective != "mlm":
        raise PretrainError("--train_only_embeddings is for --objective=mlm (a new vocabulary learned against a frozen "
                            "pre-trained body)")
    if options.train_only_embeddings and not options.init_checkpoint:
        raise PretrainError("--train_only_embeddings needs --init_checkpoint: the pre-trained body it keeps frozen")
    if options.train_batch_size % options.grad_accum_steps:
        raise PretrainError(f"--train_batch_size {options.train_batch_size} is not divisible by --grad_accum_steps "
                            f"{options.grad_accum_steps}")


def pretrain(options: PretrainOptions) -> dict:
    """Runs `options` (see the module docstring) and returns the summary the script prints: `restored_from`,
    `start_step`, `step`, `train_metrics`, `model_dir`, `eval`, `eval_input_file`, `eval_results_file`; with
    `interrupted` and `signal` when SIGINT/SIGTERM stopped training (after a checkpoint). The model is built in
    `options.dtype` (the global Keras dtype policy is neither read nor changed); Keras is seeded with
    `options.seed`. Raises `PretrainError` for bad options or inputs."""
    check_options(options)
    import keras

    keras.utils.set_random_seed(options.seed)
    from bert_tf.tokenization import VocabError, load_vocab
    try:
        vocab = load_vocab(options.vocab_file)
    except VocabError as e:
        raise PretrainError(str(e)) from None
    config = _config(options, len(vocab))
    strategy = _strategy(options)
    model, optimizer = _model_and_optimizer(options, strategy, vocab, config)
    trainer = _trainer(options, strategy, vocab, model, optimizer)
    _check_same_run_shape(options, trainer)
    from bert_tf.training.trainer import TrainingStateError
    try:
        restored = trainer.restore(read_only=not options.do_train)  # --do_eval alone may read a run in progress
    except TrainingStateError as e:
        raise PretrainError(str(e)) from None
    start_step = int(trainer.step.numpy())
    if restored:
        print(f"resuming from {restored} at step {start_step}", file=sys.stderr)
    summary = {"restored_from": restored, "start_step": start_step}
    if options.do_train:
        result = _train_with_evals(options, trainer, start_step) if options.eval_every_steps and options.do_eval \
            else trainer.train()
        summary.update(step=result["step"], train_metrics=result["metrics"])
        if result["interrupted"]:
            return {**summary, "interrupted": True, "signal": result["signal"]}
        if trainer.is_chief:
            from bert_tf.checkpoints import save_hf
            if options.objective == "electra":
                # The discriminator is the pre-trained encoder; the generator (a masked LM) is kept beside it.
                save_hf(model.encoder, options.output_dir, vocab_file=options.vocab_file)
                save_hf(model.generator_masked_lm(), os.path.join(options.output_dir, "generator"),
                        vocab_file=options.vocab_file)
            else:
                save_hf(model, options.output_dir, vocab_file=options.vocab_file)
            from bert_tf.checkpoints.pretraining_record import write_pretraining_record
            write_pretraining_record(options.output_dir, max_seq_length=options.max_seq_length,
                                     objective=options.objective, init_checkpoint=options.init_checkpoint)
            summary["model_dir"] = options.output_dir
    if options.do_eval:
        last = result.get("eval") if options.do_train else None
        # Training that ended with a held-out evaluation at this step is not scored (nor logged) a second time.
        summary.update(_evaluate(options, trainer, last if last and last["step"] == trainer.step.numpy() else None))
    summary["step"] = int(trainer.step.numpy())
    return summary


# The options that decide which variables a training checkpoint holds: resuming with others cannot restore it.
RUN_SHAPE_OPTIONS = ("objective", "nsp", "train_only_embeddings")


def _check_same_run_shape(options, trainer):
    """`output_dir/training/run_shape.json` records `RUN_SHAPE_OPTIONS` of the run that made its checkpoints
    (written on the chief at the first start); a rerun that changes one of them is refused with a message saying
    so, instead of "no readable checkpoint". Directories from before this record are not checked; without a
    checkpoint yet the record is simply rewritten."""
    from bert_tf.training.checkpointing import scan_checkpoints
    from bert_tf.training.trainer import write_json_atomic

    shape = {name: getattr(options, name) for name in RUN_SHAPE_OPTIONS}
    path = os.path.join(options.output_dir, "training", "run_shape.json")
    if not scan_checkpoints(os.path.dirname(path)):
        if trainer.is_chief:
            write_json_atomic(path, shape)
        return
    if not os.path.isfile(path):
        return  # checkpoints from before the record
    try:
        with open(path, encoding="utf-8") as f:
            recorded = json.load(f)
    except (OSError, ValueError) as e:
        logger.warning("%s is unreadable (%s): not checked", path, e)
        return
    changed = [f"--{k}={_flag_value(recorded[k])} (now {_flag_value(v)})" for k, v in shape.items()
               if k in recorded and recorded[k] != v]
    if changed:
        raise PretrainError(
            f"{options.output_dir} holds checkpoints of a run with {', '.join(changed)}: rerun with the same flags "
            f"to resume it, or start the next stage in a new --output_dir with --init_checkpoint={options.output_dir}")


def _flag_value(value):
    return str(value).lower() if isinstance(value, bool) else str(value)


def _config(options, vocab_size):
    """The architecture: `bert_config_file` or `preset` (None: the `init_checkpoint`'s own)."""
    from bert_tf.config import BertConfig, ConfigError

    if options.bert_config_file and options.preset:
        raise PretrainError("give at most one of --bert_config_file and --preset")
    if not (options.bert_config_file or options.preset):
        if options.init_checkpoint:
            return None  # the checkpoint's own config
        raise PretrainError("give --bert_config_file or --preset (or --init_checkpoint, whose config is used)")
    try:
        if options.bert_config_file:
            config = BertConfig.from_json(options.bert_config_file, do_lower_case=options.do_lower_case)
        else:
            config = BertConfig.preset(options.preset, vocab_size=vocab_size, do_lower_case=options.do_lower_case)
    except ConfigError as e:
        raise PretrainError(str(e)) from None
    _check_fits(options, config, vocab_size, f"{options.bert_config_file}:", "")
    return config


def _check_fits(options, config, vocab_size, whose_vocab, whose_positions):
    """The vocabulary has the config's size and `max_seq_length` fits its position embeddings."""
    if config.vocab_size != vocab_size:
        raise PretrainError(f"{whose_vocab} vocab_size {config.vocab_size} but {options.vocab_file} has {vocab_size} "
                            "tokens")
    if options.max_seq_length > config.max_position_embeddings:
        raise PretrainError(f"--max_seq_length {options.max_seq_length} > {whose_positions}max_position_embeddings "
                            f"{config.max_position_embeddings}")


def _strategy(options):
    from bert_tf.training import distribute
    try:
        strategy = distribute.get_strategy(options.distribution_strategy, tpu_address=options.tpu,
                                           num_gpus=options.num_gpus)
    except ValueError as e:
        raise PretrainError(f"--distribution_strategy={options.distribution_strategy}: {e}") from None
    try:
        distribute.per_replica_batch_size(options.train_batch_size // options.grad_accum_steps,
                                          strategy.num_replicas_in_sync)
    except ValueError as e:
        raise PretrainError(f"--train_batch_size / --grad_accum_steps: {e}") from None
    return strategy


def _model_and_optimizer(options, strategy, vocab, config):
    """The `BertPretrainer` (from `init_checkpoint`, heads loaded where present, or random) and its optimizer,
    in the strategy's scope."""
    from bert_tf.checkpoints import CheckpointError, load_pretrainer
    from bert_tf.config import ConfigError
    from bert_tf.encoder import BertEncoder
    from bert_tf.tasks.bert_pretrainer import BertPretrainer
    from bert_tf.training.optimization import create_optimizer

    with strategy.scope():
        if options.objective == "electra":
            model = _electra_pretrainer(options, vocab, config)
        elif options.init_checkpoint:
            try:
                model = load_pretrainer(options.init_checkpoint, nsp=options.nsp, dtype=options.dtype)
            except (CheckpointError, ConfigError) as e:
                raise PretrainError(f"--init_checkpoint: {e}") from None
            _check_checkpoint_config(options, model.encoder.bert_config, config, len(vocab))
        else:
            model = BertPretrainer(BertEncoder.from_bert_config(config, dtype=options.dtype), nsp=options.nsp)
        if options.train_only_embeddings:
            freeze_all_but_token_embeddings(model.encoder)
        optimizer = create_optimizer(options.learning_rate, options.num_train_steps, options.num_warmup_steps,
                                     optimizer_type=options.optimizer, weight_decay_rate=options.weight_decay_rate)
    return model, optimizer


def freeze_all_but_token_embeddings(encoder) -> None:
    """Makes only `encoder`'s token embeddings trainable (with the pre-training heads outside it): position and
    segment embeddings, their LayerNorm, every transformer layer and the pooler are frozen. Artetxe et al. 2020
    ("On the Cross-lingual Transferability of Monolingual Representations"): a body pre-trained on one language
    learns a new language's vocabulary by masked LM with everything else fixed."""
    for layer in (encoder.position_embedding, encoder.segment_embedding, encoder.embeddings_layer_norm,
                  *encoder.transformer_layers, encoder.pooler):
        layer.trainable = False


def _electra_pretrainer(options, vocab, config):
    """The `ElectraPretrainer`: the discriminator from `init_checkpoint` (its encoder; a BERT pre-trained with
    MLM is a good start) or random, and the generator from `generator_init_checkpoint` (a masked LM, e.g. the
    `generator/` an ELECTRA run writes: continuing one) or random, sized by `generator_hidden_size`."""
    from bert_tf.checkpoints import CheckpointError, load_encoder, load_pretrainer
    from bert_tf.config import ConfigError
    from bert_tf.encoder import BertEncoder
    from bert_tf.tasks.electra_pretrainer import ElectraPretrainer, copy_masked_lm_head, generator_config

    if options.init_checkpoint:
        try:
            discriminator = load_encoder(options.init_checkpoint, dtype=options.dtype)
        except (CheckpointError, ConfigError) as e:
            raise PretrainError(f"--init_checkpoint: {e}") from None
        _check_checkpoint_config(options, discriminator.bert_config, config, len(vocab))
    else:
        discriminator = BertEncoder.from_bert_config(config, dtype=options.dtype)
    if options.generator_init_checkpoint:
        try:
            generator_mlm = load_pretrainer(options.generator_init_checkpoint, nsp=False, dtype=options.dtype)
        except (CheckpointError, ConfigError) as e:
            raise PretrainError(f"--generator_init_checkpoint: {e}") from None
        generator = generator_mlm.encoder
        if generator.bert_config.vocab_size != discriminator.bert_config.vocab_size:
            raise PretrainError(f"--generator_init_checkpoint has vocab_size {generator.bert_config.vocab_size}, the "
                                f"encoder {discriminator.bert_config.vocab_size}")
    else:
        generator_mlm = None
        generator = BertEncoder.from_bert_config(
            generator_config(discriminator.bert_config, options.generator_hidden_size), dtype=options.dtype,
            name="generator")
    model = ElectraPretrainer(discriminator, generator, disc_weight=options.disc_weight, seed=options.seed)
    if generator_mlm is not None:  # its masked-LM head too (a checkpoint without one logged a warning)
        copy_masked_lm_head(generator_mlm.masked_lm_head, model.masked_lm_head)
    return model


def _check_checkpoint_config(options, loaded, given, vocab_size):
    if given is not None and loaded.replace(do_lower_case=given.do_lower_case) != given:
        logger.warning("--init_checkpoint's config differs from the given one; using the checkpoint's")
    _check_fits(options, loaded, vocab_size, "--init_checkpoint has", "the checkpoint's ")


def _trainer(options, strategy, vocab, model, optimizer):
    """The record pipelines (train: `input_file`; eval: `eval_input_file`, else `input_file`) and the `Trainer`
    in `output_dir/training`."""
    from bert_tf.data import DataError
    from bert_tf.data.pretraining_dataset import PretrainingDataset
    from bert_tf.tokenization import pad_id
    from bert_tf.training import distribute
    from bert_tf.training.trainer import Trainer

    unselectable = [vocab["[CLS]"], vocab["[SEP]"], pad_id(vocab)]
    try:
        train_data = PretrainingDataset(
            options.input_file, options.max_seq_length, options.max_predictions_per_seq,
            options.train_batch_size // options.grad_accum_steps, is_training=True, nsp=options.nsp,
            dynamic_masking=options.dynamic_masking, vocab_size=len(vocab), mask_token_id=vocab.get("[MASK]"),
            unselectable_token_ids=unselectable,
            seed=distribute.per_worker_seed if distribute.is_parameter_server(strategy) else options.seed,
        ) if options.do_train else None
        eval_data = PretrainingDataset(
            options.eval_input_file or options.input_file, options.max_seq_length, options.max_predictions_per_seq,
            options.eval_batch_size, is_training=False, nsp=options.nsp) if options.do_eval else None
    except (FileNotFoundError, DataError) as e:
        raise PretrainError(str(e)) from None
    return Trainer(model, optimizer, train_data, model_dir=os.path.join(options.output_dir, "training"),
                   num_train_steps=options.num_train_steps, strategy=strategy, eval_dataset=eval_data,
                   grad_accum_steps=options.grad_accum_steps, jit_compile=options.jit_compile,
                   save_checkpoints_steps=options.save_checkpoints_steps, steps_per_loop=options.steps_per_loop,
                   log_every_steps=options.log_every_steps)


def _train_with_evals(options, trainer, start_step):
    """Trains to `num_train_steps` in segments of `eval_every_steps`, evaluating on the held-out records after
    each (the steps, learning rate and input are those of one uninterrupted run: segments only pause it).
    Returns the trainer's last `train` result, with the last evaluation under `eval`."""
    from bert_tf.training.trainer import write_json_atomic

    history_path = os.path.join(options.output_dir, "eval_history.json")
    history = []
    if os.path.isfile(history_path):
        try:
            with open(history_path, encoding="utf-8") as f:
                history = [h for h in json.load(f) if h["step"] <= start_step]
        except (OSError, ValueError, KeyError, TypeError) as e:
            logger.warning("%s is unreadable (%s): starting a new eval history", history_path, e)
    total, every = trainer.num_train_steps, options.eval_every_steps
    step = start_step
    result = {"step": step, "interrupted": False, "signal": None, "metrics": {}}
    while step < total:
        result = trainer.train(until_step=min(total, (step // every + 1) * every))
        step = result["step"]
        if result["interrupted"]:
            break
        metrics = trainer.evaluate(steps=options.max_eval_steps or None)
        history.append({"step": step, **{k: float(v) for k, v in metrics.items()}})
        result["eval"] = metrics  # (`evaluate` also wrote them as `summaries/eval` scalars)
        if trainer.is_chief:
            write_json_atomic(history_path, history)
        print(f"step {step}: held-out " + ", ".join(f"{k} = {v:.4f}" for k, v in sorted(metrics.items())),
              file=sys.stderr, flush=True)
    return result


def _evaluate(options, trainer, results=None):
    """Scores the eval records (at most `max_eval_steps` batches) unless `results` already did, writes
    `eval_results.json`."""
    eval_input_file = options.eval_input_file or options.input_file  # do_eval alone: the records to score
    if results is None:
        results = trainer.evaluate(steps=options.max_eval_steps or None)
    path = trainer.write_eval_results(results, os.path.join(options.output_dir, "eval_results.json"))
    summary = {"eval": results, "eval_input_file": eval_input_file}
    print(f"***** Eval results ({eval_input_file}) *****", file=sys.stderr)
    for key in sorted(results):
        print(f"  {key} = {results[key]}", file=sys.stderr)
    if path:
        summary["eval_results_file"] = path
    return summary
