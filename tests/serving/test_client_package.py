"""serving.client is one package (issue 15): gRPC and REST clients over one shared text_helpers module, no
import cycle between its modules, and the old serving.rest_client import path still works for one release,
with a DeprecationWarning."""

import ast
import importlib
import os
import sys

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "serving",
                       "client")


def _imports(path):
    """The serving.client.* modules a module imports (at any depth: function-level imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        found.update(n for n in names if n.startswith("serving.client."))
    return found


def test_client_modules_import_no_module_that_imports_them_back():
    graph = {f"serving.client.{name[:-3]}": _imports(os.path.join(PACKAGE, name))
             for name in os.listdir(PACKAGE) if name.endswith(".py") and name != "__init__.py"}
    assert graph["serving.client.text_helpers"] == set()  # the shared module imports neither transport
    assert graph["serving.client.grpc_client"] == graph["serving.client.rest_client"] == \
        {"serving.client.text_helpers"}

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, seen + (n,))) for n in graph.get(start, ()))
    assert not [m for m in graph if reaches(m, m)]


def test_public_names_and_one_classify_text():
    import serving.client as client
    from serving.client import grpc_client, rest_client, text_helpers
    for name in client.__all__:
        assert hasattr(client, name), name
    assert client.ServingClient is grpc_client.ServingClient and client.RestClient is rest_client.RestClient
    assert client.ServingClient.classify_text is client.RestClient.classify_text is \
        text_helpers.TextHelpers.classify_text


def test_importing_serving_rest_client_warns_and_gives_the_same_names():
    import serving.client
    saved = sys.modules.pop("serving.rest_client", None)
    try:
        with pytest.warns(DeprecationWarning, match="serving.rest_client is deprecated.*serving.client"):
            alias = importlib.import_module("serving.rest_client")
    finally:
        sys.modules.pop("serving.rest_client", None)
        if saved is not None:
            sys.modules["serving.rest_client"] = saved
    assert alias.RestClient is serving.client.RestClient and alias.RestError is serving.client.RestError
