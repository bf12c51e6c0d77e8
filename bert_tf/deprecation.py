"""Names kept for one release after a rename: an old keyword still works, with a `DeprecationWarning`.

    @renamed_kwargs(seq_length="max_seq_length")
    def encode_tf(self, strings, strings_b=None, max_seq_length=128): ...

`encode_tf(x, seq_length=64)` then warns and calls `encode_tf(x, max_seq_length=64)`; giving both names is a
`TypeError`. Works on functions, methods and `__init__` (so a Keras `from_config` with an old key still loads).
"""

from __future__ import annotations

import functools
import inspect
import warnings


def renamed_kwargs(**renames: str):
    """Decorator: each `old="new"` pair makes keyword `old` a deprecated alias of keyword `new`."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__qualname__}() got both {old!r} (deprecated) and {new!r}")
                    warnings.warn(f"{fn.__qualname__}({old}=...) is deprecated and will be removed in the next "
                                  f"release; use {new}=", DeprecationWarning, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)
        # Keras layers read `getfullargspec(cls.__init__)`, which ignores `__wrapped__` but honours `__signature__`.
        wrapper.__signature__ = inspect.signature(fn)
        return wrapper
    return decorate


def renamed_attribute(old: str, new: str) -> property:
    """A read-only class attribute `old` that warns and returns `self.<new>`:
    `lowercase = renamed_attribute("lowercase", "do_lower_case")` in the class body."""
    def getter(self):
        warnings.warn(f"{type(self).__name__}.{old} is deprecated and will be removed in the next release; use "
                      f".{new}", DeprecationWarning, stacklevel=2)
        return getattr(self, new)
    return property(getter, doc=f"Deprecated (one release): the old name of `{new}`.")


def renamed_key(mapping: dict, old: str, new: str, where: str) -> dict:
    """A copy of `mapping` (e.g. a JSON config or a Keras `get_config` dict) with the old key `old` renamed to
    `new`, warning once that `where` uses the old name; unchanged when `old` is absent. Both present: ValueError."""
    if old not in mapping:
        return mapping
    if new in mapping:
        raise ValueError(f"{where} has both {old!r} (the old name) and {new!r}; keep only {new!r}")
    warnings.warn(f"{where} uses the old key {old!r}; it is read as {new!r} (write {new!r})", DeprecationWarning,
                  stacklevel=2)
    renamed = dict(mapping)
    renamed[new] = renamed.pop(old)
    return renamed
