"""Runs absl scripts' `main` many times in ONE process, as `python scripts/X.py ARGS` would run them.

Usage: python script_driver.py CASES_JSON RESULTS_JSON

CASES_JSON holds `{"path/to/script.py": {"case name": [arg, ...], ...}, ...}`. Each script is executed as
`__main__` up to its `app.run(main)` call (its flags get defined, its `__main__` block marks the required
ones); for each case the flags are reset and `absl.app.run(main, argv=[script, *args])` runs exactly as the
script's `__main__` block runs it (same required flags, same UsageError and SystemExit handling). An exception
that escapes `app.run` is what Python would print as a traceback to the user, so it is recorded as one. File
descriptors 1 and 2 are redirected per case, so everything the user would see (print, absl logging, sys.exit
messages, TF's C++ logs) is captured. After a script's cases its flags are deleted, so the next script can
define flags of the same names (run_classifier.py and run_ner.py both define --data_format).
RESULTS_JSON gets `{"path/to/script.py": {"case name": {"code": int, "stdout": str, "stderr": str,
"seconds": float}}}`.

A case that runs longer than CASE_TIMEOUT seconds (environment variable, default 120) is stopped by SIGALRM
and recorded with code 124 and a note in stderr, so one case that unexpectedly trains cannot hang the rest.

One TensorFlow import serves every case of every script (a subprocess per case costs 5-10 s).
"""

import json
import os
import runpy
import signal
import sys
import tempfile
import time
import traceback

from absl import app, flags


class _Captured(Exception):
    pass


class _CaseTimeout(BaseException):
    """Raised by SIGALRM inside a case that runs too long (a BaseException, so `except Exception` in the
    script under test cannot swallow it)."""


def _load_main(script):
    """Executes the script as __main__ up to its `app.run(main)` call and returns `main`."""
    captured = {}
    real_run = app.run

    def fake_run(main, argv=None, **kwargs):
        captured["main"] = main
        raise _Captured()

    app.run = fake_run
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    except _Captured:
        pass
    finally:
        app.run = real_run
    if "main" not in captured:
        raise RuntimeError(f"{script} never called app.run")
    return captured["main"]


def _run_case(script, main, args):
    flags.FLAGS.unparse_flags()
    with tempfile.TemporaryFile("w+b") as out, tempfile.TemporaryFile("w+b") as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        code = 0
        start = time.time()
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(int(os.environ.get("CASE_TIMEOUT", "120")))
        try:
            app.run(main, argv=[script, *args])
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:  # sys.exit("message"): Python prints the message and exits with 1
                print(e.code, file=sys.stderr)
                code = 1
        except _CaseTimeout:
            print(f"script_driver: case stopped after {time.time() - start:.0f} s (CASE_TIMEOUT)", file=sys.stderr)
            code = 124
        except BaseException:  # what the interpreter would print to the user
            traceback.print_exc()
            code = 1
        finally:
            signal.alarm(0)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return {"code": code, "stdout": out.read().decode("utf-8", "replace"),
                "stderr": err.read().decode("utf-8", "replace"), "seconds": round(time.time() - start, 2)}


def _on_alarm(signum, frame):
    del signum, frame
    raise _CaseTimeout()


def main():
    cases_path, results_path = sys.argv[1:3]
    with open(cases_path, encoding="utf-8") as f:
        cases_by_script = json.load(f)
    results = {}
    for script, cases in cases_by_script.items():
        before = set(flags.FLAGS)
        main_fn = _load_main(script)
        results[script] = {name: _run_case(script, main_fn, args) for name, args in cases.items()}
        for name in set(flags.FLAGS) - before:  # the script's own flags (absl's built-in ones stay)
            delattr(flags.FLAGS, name)
    with open(results_path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
