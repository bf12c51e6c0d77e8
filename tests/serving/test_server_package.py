"""serving/ is three packages (issue 15): the server (serving.server) imports no bert_tf, serving.export or
serving.client, at run time or in any import statement; every file under serving/ stays small; the old
serving.config and serving.audit import paths still work for one release, with a DeprecationWarning."""

import ast
import importlib
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVING = os.path.join(ROOT, "serving")
FORBIDDEN = ("bert_tf", "serving.export", "serving.client")


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_server_imports_no_bert_tf_export_or_client_at_run_time():
    code = ("import importlib, pkgutil, sys\n"
            "import serving.server as server\n"
            "server.ModelServer, server.ConfigError\n"
            "for info in pkgutil.walk_packages(server.__path__, 'serving.server.'):\n"
            "    importlib.import_module(info.name)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] == 'bert_tf' or "
            f"m.startswith(('serving.export', 'serving.client'))))\n")
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_no_server_module_names_bert_tf_export_or_client_in_any_import():
    found = []
    for name in sorted(os.listdir(os.path.join(SERVING, "server"))):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(SERVING, "server", name), encoding="utf-8").read())
        for node in ast.walk(tree):  # function-level imports count too
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{name}: {n}" for n in names if _forbidden(n)]
    assert found == []


def _sizes():
    """(file, lines) of every .py under serving/ and (file:function, lines) of every function in them."""
    files, functions = [], []
    for folder, _, names in os.walk(SERVING):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            text = open(path, encoding="utf-8").read()
            rel = os.path.relpath(path, ROOT)
            files.append((rel, len(text.splitlines())))
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    functions.append((f"{rel}:{node.name}", node.end_lineno - node.lineno + 1))
    return files, functions


def test_serving_files_and_functions_are_small():
    files, functions = _sizes()
    assert [f for f in files if f[1] > 400] == []
    assert [f for f in functions if f[1] > 80] == []


@pytest.mark.parametrize("old, new", [("serving.config", "serving.server.config"),
                                      ("serving.audit", "serving.export.audit")])
def test_old_paths_are_deprecated_aliases(old, new):
    target = importlib.import_module(new)
    saved = sys.modules.pop(old, None)
    try:
        with pytest.warns(DeprecationWarning, match=f"{old} is deprecated.*{new}"):
            alias = importlib.import_module(old)
    finally:
        sys.modules.pop(old, None)
        if saved is not None:
            sys.modules[old] = saved
    public = [n for n in vars(target) if not n.startswith("_") and callable(getattr(target, n))
              and getattr(getattr(target, n), "__module__", None) == new]
    assert public and all(getattr(alias, n) is getattr(target, n) for n in public)
