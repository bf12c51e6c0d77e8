"""SIGINT/SIGTERM during training: the first one asks the loop to finish its step, save and return; a second
one stops at once. Under multi-worker training all workers agree on stopping (else the ones still training
would wait forever in a collective)."""

import signal
import sys
import threading

import tensorflow as tf

from bert_tf.training.steps import is_multi_worker


class StopSignal:
    """The stop request of one trainer: `install()` / `uninstall(old)` around the loop, `requested()` after
    each step; `signum` is the signal received (None if none)."""

    def __init__(self, strategy, enabled=True):
        self.strategy = strategy
        self.enabled = enabled
        self.signum = None
        self._sum_flags_fn = None

    @property
    def name(self):
        return signal.Signals(self.signum).name if self.signum is not None else None

    def install(self):
        """Installs the handlers (main thread only); returns the previous ones for `uninstall`."""
        if not self.enabled or threading.current_thread() is not threading.main_thread():
            return None
        self.signum = None
        return {signum: signal.signal(signum, self.on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def uninstall(old):
        for signum, handler in (old or {}).items():
            signal.signal(signum, handler)

    def on_signal(self, signum, frame):
        del frame
        if self.signum is not None:  # Second signal: stop hard.
            raise SystemExit(128 + signum)
        self.signum = signum
        print(f"\nreceived {signal.Signals(signum).name}: saving a checkpoint after this step, then stopping "
              "(send it again to stop at once)", file=sys.stderr)

    def requested(self):
        flag = 1 if self.signum is not None else 0
        if not is_multi_worker(self.strategy):
            return bool(flag)
        if self._sum_flags_fn is None:
            def sum_flags(flag):
                per_replica = self.strategy.run(tf.identity, args=(flag,))
                return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            self._sum_flags_fn = tf.function(sum_flags)
        return int(self._sum_flags_fn(tf.constant(flag, tf.int32)).numpy()) > 0
