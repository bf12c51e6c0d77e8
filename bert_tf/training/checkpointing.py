"""The trainer's checkpoints: which one to resume from, repairing the state file, and writing new ones.

A checkpoint (`tf.train.Checkpoint` of model, optimizer, step counter, the *resume state* and, with one replica,
the *input iterator*) is written by a `tf.train.CheckpointManager` as `ckpt-<step>`. The resume state (every
Keras `SeedGenerator` of the model and the running loss/metric sums of the current logging window) is restored
by its own root, so a checkpoint written before it existed still restores (a warning says so).

Which checkpoint: the newest readable one among those the `checkpoint` state file lists and the
`ckpt-<step>.index` files (with all their data shards) in the directory, so a state file that is missing,
unreadable (garbled, binary) or stale does not restart training at step 0 (a warning names what was found;
an unreadable state file with no checkpoint beside it is a `TrainingStateError`). TF writes a checkpoint's files
first and only then rewrites the state file (atomically), so a crash mid-save leaves the previous checkpoint
as the latest; a checkpoint that is present but unreadable (truncated, corrupt) is reported and the previous
good one is used. Nothing newer than the restored checkpoint is ever deleted or overwritten: unreadable newer
ones are renamed `ckpt-<step>.unreadable-<time>.*` (kept for inspection), and the state file is rewritten to
list the restored checkpoint and the older ones, which the manager then rotates as usual. Under multi-worker
training every worker takes part in saving (TF requires it) but only the chief's copy is kept (and only the
chief renames or rewrites anything).

One process at a time: the chief holds an exclusive lock on `model_dir/.training.lock` (`flock`, so the kernel
drops it when the process ends, however it ends) from its first restore or save until its `TrainingCheckpoints`
is garbage collected. A second process training into the same directory gets a `TrainingDirectoryBusyError`
naming the holder's pid, before it reads or renames anything: two writers would overwrite each other's
checkpoints, and the restore's repair would rename a checkpoint the other one is still writing. A read-only
restore (`restore(read_only=True)`: evaluating a run in progress) takes no lock and renames nothing. Inside one process
the lock is shared (a new `Trainer` on the same directory, as a notebook makes, is not a second writer). Not
taken for remote paths (`gs://...`: no `flock`), read-only directories, or where `fcntl` does not exist.
"""

import logging
import os
import re
import shutil
import socket
import sys
import threading
import time
import weakref

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.python.training.checkpoint_state_pb2 import CheckpointState

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "ckpt"
STATE_FILE = "checkpoint"  # tf.train.CheckpointManager's state file
_CHECKPOINT_PREFIX = re.compile(rf"^{re.escape(CHECKPOINT_NAME)}-(\d+)$")
_DATA_SHARD = re.compile(r"\.data-(\d{5})-of-(\d{5})$")
_UNREADABLE = (tf.errors.OpError, ValueError, AssertionError, IndexError, KeyError, OSError)


class TrainingStateError(RuntimeError):
    """No usable checkpoint could be restored from a directory that has some (or its state file is unreadable).

    Not `bert_tf.checkpoints.CheckpointError` (a ValueError: a pre-trained or saved model that cannot be read)."""


CheckpointError = TrainingStateError  # deprecated alias (the old name, shared with bert_tf.checkpoints' error)


class TrainingDirectoryBusyError(TrainingStateError):
    """Another process holds the training directory's lock (it is training there, or stopping)."""


LOCK_FILE = ".training.lock"
_locks = {}  # realpath -> [open lock file, holders] (this process's locks; shared by its TrainingCheckpoints)
_locks_guard = threading.Lock()


def lock_training_directory(model_dir):
    """Takes `model_dir`'s training lock for this process (see the module docstring); returns a release
    function (idempotent; the lock goes when every holder in this process released it). Raises
    `TrainingDirectoryBusyError` if another process holds it; a no-op for remote paths or without `fcntl`."""
    try:
        import fcntl
    except ImportError:
        return lambda: None
    if "://" in str(model_dir):
        return lambda: None
    key = os.path.realpath(model_dir)
    with _locks_guard:
        if key not in _locks:
            try:
                os.makedirs(key, exist_ok=True)
                f = open(os.path.join(key, LOCK_FILE), "a+", encoding="utf-8")
            except OSError:  # a read-only directory (restoring to evaluate): nothing here can write either
                return lambda: None
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                f.close()
                raise TrainingDirectoryBusyError(
                    f"{model_dir} is in use by {holder}: two runs writing the same checkpoints would overwrite each "
                    "other. Wait for that run to finish, stop it (on SIGINT/SIGTERM it saves a checkpoint and "
                    "exits; rerunning the same command then resumes), or train into another directory.") from None
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()} on {socket.gethostname()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
            f.flush()
            _locks[key] = [f, 0]
        _locks[key][1] += 1
    released = []

    def release():
        with _locks_guard:
            if released or key not in _locks:
                return
            released.append(True)
            entry = _locks[key]
            entry[1] -= 1
            if entry[1] == 0:
                del _locks[key]
                entry[0].close()  # closing the file drops the flock

    return release


def warn(message):
    logger.warning("%s", message)
    print(f"WARNING: {message}", file=sys.stderr)


class TrainingCheckpoints:
    """The checkpoints of one training directory: restores the newest readable one, saves new ones.

    Args:
        model_dir: str. Where the checkpoints are kept.
        trackables: dict. What a checkpoint holds (model, optimizer, step, maybe the input iterator).
        resume_variables: list of variables restored on their own (the resume state; may be empty).
        is_chief: bool. Only the chief keeps its files, renames or rewrites anything.
        save_dir: str. Where this process writes (`model_dir` on the chief, a temporary folder elsewhere).
        max_to_keep: int. Checkpoints the manager keeps.
    """

    def __init__(self, model_dir, trackables, resume_variables, *, is_chief, save_dir, max_to_keep):
        self.model_dir = model_dir
        self.is_chief = is_chief
        self.save_dir = save_dir
        self.max_to_keep = max_to_keep
        resume_state = tf.train.Checkpoint(**{f"v{i}": v for i, v in enumerate(resume_variables)})
        self.has_resume_state = bool(resume_variables)
        self.core = tf.train.Checkpoint(**trackables)
        self.resume = tf.train.Checkpoint(resume_state=resume_state)
        self.checkpoint = tf.train.Checkpoint(**trackables, resume_state=resume_state)  # what is saved
        self.manager = None  # made by `restore` (which first repairs a missing or unreadable state file)
        self._release_lock = None

    def lock(self):
        """Takes the directory's training lock (chief only; see the module docstring), kept while this object
        lives. Called by `restore` and `save`; raises `TrainingDirectoryBusyError` if another process holds it."""
        if self.is_chief and self._release_lock is None:
            release = lock_training_directory(self.model_dir)
            self._release_lock = release
            weakref.finalize(self, release)

    def candidates(self):
        """`(newest-first candidate paths, state, state-file problem or None, listed paths, on-disk paths)`."""
        state, problem = read_state_file(self.model_dir)
        listed = state_paths(state, self.model_dir) if state is not None else []
        on_disk = scan_checkpoints(self.model_dir)
        return newest_first(listed + [p for p in on_disk if p not in listed]), state, problem, listed, on_disk

    def restore(self, step, read_only=False):
        """Restores the newest readable checkpoint (see the module docstring); returns its path or None.
        `step` is the step counter the checkpoint restores (for the log line). `read_only`: only read (to
        evaluate a directory another process may be training in): no lock, nothing renamed or rewritten."""
        if not read_only:
            self.lock()
        candidates, state, state_problem, listed, on_disk = self.candidates()
        self._report_state_file(candidates, state, state_problem, listed, on_disk)
        if not candidates:
            if not read_only:
                self.make_manager()
            return None
        problems = []
        for i, path in enumerate(candidates):
            try:
                # expect_partial: the resume state is restored next, by its own root (no "unused value" warnings)
                self.core.restore(path).expect_partial().assert_existing_objects_matched()
            except _UNREADABLE as e:
                problem = f"checkpoint {path} is unreadable ({first_line(e)})"
                problems.append(problem)
                warn(f"{problem}; trying the previous checkpoint")
                continue
            self._restore_resume_state(path)
            logger.info("restored %s at step %d", path, int(step.numpy()))
            if read_only:
                return path
            if self.is_chief:
                self._settle(path, newer=candidates[:i], older=candidates[i + 1:], state=state)
            self.make_manager()
            return path
        raise TrainingStateError(f"no readable checkpoint in {self.model_dir}: " + "; ".join(problems))

    def _report_state_file(self, candidates, state, state_problem, listed, on_disk):
        """Warns about a missing, unreadable or stale state file; raises `TrainingStateError` for an unreadable one
        with no checkpoint beside it."""
        state_path = os.path.join(self.model_dir, STATE_FILE)
        if state_problem is not None or (state is None and candidates):
            what = f"is unreadable ({state_problem})" if state_problem is not None else "is missing"
            if not candidates:
                raise TrainingStateError(
                    f"the checkpoint state file {state_path} {what} and {self.model_dir} holds no "
                    f"{CHECKPOINT_NAME}-<step> checkpoint to resume from; delete {state_path} to start training "
                    "afresh in this directory")
            warn(f"the checkpoint state file {state_path} {what}; found "
                 f"{', '.join(os.path.basename(p) for p in candidates)} in {self.model_dir}: restoring the "
                 "newest readable one")
        elif listed:
            unlisted = [p for p in on_disk if p not in listed and step_of(p) > step_of(listed[-1])]
            if unlisted:
                warn(f"{', '.join(os.path.basename(p) for p in unlisted)} in {self.model_dir} "
                     f"{'is' if len(unlisted) == 1 else 'are'} newer than the state file's latest "
                     f"{os.path.basename(listed[-1])} (a save interrupted before it was recorded?): trying "
                     f"{'it' if len(unlisted) == 1 else 'them'} first")

    def _restore_resume_state(self, path):
        """The dropout RNG states and metric sums; a checkpoint without them (written before they were saved)
        still restores, with a warning that the resume is not bit-exact."""
        if not self.has_resume_state:
            return
        try:
            self.resume.restore(path).expect_partial().assert_existing_objects_matched()
        except _UNREADABLE as e:
            why = "none saved: an older bert_tf, or another model" if isinstance(e, AssertionError) else first_line(e)
            warn(f"checkpoint {path} has no usable resume state ({why}): the dropout RNG and the logged "
                 "averages restart, so this run is not bit-identical to an uninterrupted one")

    def _settle(self, restored, newer, older, state):
        """Chief only, after restoring `restored`: renames the unreadable `newer` candidates aside (so the steps
        trained next cannot overwrite them, nor the manager delete them) and rewrites the state file when it
        does not list exactly `older` + `restored`, so the manager rotates those as usual."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for path in newer:
            moved = move_checkpoint_aside(path, f"unreadable-{stamp}")
            if moved:
                warn(f"kept the unreadable checkpoint {path} as {moved}.* (nothing newer than the restored "
                     f"{os.path.basename(restored)} is deleted or overwritten)")
        keep = list(reversed(older)) + [restored]
        if state is not None and state_paths(state, self.model_dir) == keep and \
                state_paths(state, self.model_dir, latest_only=True) == [restored]:
            return
        timestamps = [_mtime(p) for p in keep]
        tf.__internal__.train.update_checkpoint_state(
            self.model_dir, model_checkpoint_path=restored, all_model_checkpoint_paths=keep,
            all_model_checkpoint_timestamps=timestamps, last_preserved_timestamp=min(timestamps) - 1.0,
            save_relative_paths=True)
        logger.info("rewrote %s: %s", os.path.join(self.model_dir, STATE_FILE),
                    ", ".join(os.path.basename(p) for p in keep))

    def make_manager(self):
        """The `CheckpointManager` that writes and rotates checkpoints (reads the state file: after `restore`)."""
        if not self.is_chief:  # a temporary folder emptied after every save: a leftover is stale
            shutil.rmtree(self.save_dir, ignore_errors=True)
        else:
            _, problem = read_state_file(self.save_dir)
            if problem is not None:
                raise TrainingStateError(f"the checkpoint state file {os.path.join(self.save_dir, STATE_FILE)} is "
                                      f"unreadable ({problem}): call restore() first, which rebuilds it")
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory=self.save_dir,
                                                  max_to_keep=self.max_to_keep, checkpoint_name=CHECKPOINT_NAME)

    def save(self, step):
        """Writes `ckpt-<step>` (every worker calls this); the chief's path, None elsewhere."""
        self.lock()
        if self.manager is None:
            self.make_manager()
        path = self.manager.save(checkpoint_number=step)
        if not self.is_chief:
            shutil.rmtree(self.save_dir, ignore_errors=True)
            return None
        return path


def first_line(e):
    """`Type: first line of the message` (at most 300 characters) of an exception."""
    message = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    return f"{type(e).__name__}: {message}" if message else type(e).__name__


def read_state_file(directory):
    """`(CheckpointState or None, problem or None)` of `directory/checkpoint`; `(None, None)` if there is none.

    Unlike `tf.train.get_checkpoint_state` (which turns a garbled file into None, i.e. "no checkpoint", and
    raises `UnicodeDecodeError` on a binary one), every unreadable file is reported as a problem."""
    path = os.path.join(directory, STATE_FILE)
    try:
        if not tf.io.gfile.exists(path):
            return None, None
        with tf.io.gfile.GFile(path, "rb") as f:
            raw = f.read()
    except (tf.errors.OpError, OSError) as e:
        return None, f"cannot be read: {first_line(e)}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 text: byte {e.start} is 0x{raw[e.start]:02x}"
    state = CheckpointState()
    try:
        text_format.Parse(text, state)
    except text_format.ParseError as e:
        return None, f"not a checkpoint state: {str(e).splitlines()[0][:200]}"
    if not state.model_checkpoint_path:
        return None, "it names no checkpoint"
    return state, None


def state_paths(state, directory, latest_only=False):
    """The state file's checkpoints, oldest first, as paths in `directory` (the latest one last); with
    `latest_only`, just `[the latest]`."""
    if latest_only:
        paths = [state.model_checkpoint_path]
    else:
        paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
        if state.model_checkpoint_path not in paths:
            paths.append(state.model_checkpoint_path)
    return [p if os.path.isabs(p) else os.path.join(directory, p) for p in paths]


def scan_checkpoints(directory):
    """The `ckpt-<step>` checkpoints in `directory` that have an index file and every data shard, oldest first."""
    try:
        names = set(tf.io.gfile.listdir(directory))
    except (tf.errors.OpError, OSError):
        return []
    found = []
    for name in names:
        if not name.endswith(".index"):
            continue
        prefix = name[:-len(".index")]
        if not _CHECKPOINT_PREFIX.match(prefix):
            continue
        shards = [_DATA_SHARD.search(n) for n in names if n.startswith(prefix + ".data-")]
        counts = {int(m.group(2)) for m in shards if m}
        if len(counts) != 1 or {int(m.group(1)) for m in shards if m} != set(range(counts.pop())):
            continue
        found.append(os.path.join(directory, prefix))
    return sorted(found, key=step_of)


def step_of(path):
    match = _CHECKPOINT_PREFIX.match(os.path.basename(path))
    return int(match.group(1)) if match else -1


def newest_first(paths):
    """Highest step first; paths not named `ckpt-<step>` last, latest listed first (a stable sort)."""
    return [p for _, p in sorted(enumerate(paths), key=lambda ip: (step_of(ip[1]), ip[0]), reverse=True)]


def _mtime(prefix):
    try:
        return tf.io.gfile.stat(prefix + ".index").mtime_nsec / 1e9
    except (tf.errors.OpError, OSError):
        return time.time()


def move_checkpoint_aside(prefix, tag):
    """Renames the files of checkpoint `prefix` to `prefix.<tag>.*` (still a loadable checkpoint prefix, no
    longer `ckpt-<step>`); returns the new prefix, or None if it had no files."""
    directory, base = os.path.split(prefix)
    try:
        names = [n for n in tf.io.gfile.listdir(directory) if n.startswith(base + ".") and (
            n == base + ".index" or n.startswith(base + ".data-"))]
    except (tf.errors.OpError, OSError):
        return None
    for name in names:
        tf.io.gfile.rename(os.path.join(directory, name),
                           os.path.join(directory, f"{base}.{tag}{name[len(base):]}"), overwrite=False)
    return f"{prefix}.{tag}" if names else None
