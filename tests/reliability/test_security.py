"""Security defaults (issue 7, part 6): no unsafe deserialization anywhere in bert_tf/, serving/ and scripts/
(an AST scan, so comments and messages that mention pickle do not count and aliases do), and the servers
listen on 127.0.0.1 unless --host says otherwise — checked on the sockets themselves (the kernel's table of
listening sockets in /proc/net, so Linux only, and a connection attempt on the machine's non-loopback address).

(tests/serving/test_serving_security_load.py has a regex scan of serving/ and scripts/ and checks the
`ModelServer.host` attribute; TLS, size limits and batch limits are tested there.)
"""

import ast
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCANNED = ("bert_tf", "serving", "scripts")

# Modules whose purpose is deserializing arbitrary Python objects (or executing code on load).
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve", "jsonpickle",
                  "joblib", "pickletools"}
# Calls: builtins by bare name; these attributes on anything; these dotted names (or their last parts).
UNSAFE_BUILTINS = {"eval", "exec"}
UNSAFE_ATTRIBUTES = {"read_pickle", "enable_unsafe_deserialization", "unsafe_load", "unsafe_load_all"}
UNSAFE_DOTTED = {"torch.load", "yaml.full_load", "yaml.full_load_all", "layers.Lambda"}


def _dotted(node):
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _is_false(node):
    return isinstance(node, ast.Constant) and node.value is False


def unsafe_uses(source, filename="<source>"):
    """[(line, what)] of unsafe deserialization in Python `source`."""
    tree = ast.parse(source, filename)
    aliases = {}  # local name -> module path, for `import numpy as np`, `from torch import load`
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in UNSAFE_MODULES:
                    found.append((node.lineno, f"import {alias.name}"))
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                    alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in UNSAFE_MODULES:
                found.append((node.lineno, f"from {node.module} import ..."))
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name is not None:
            head, _, rest = name.partition(".")
            full = aliases.get(head, head) + ("." + rest if rest else "")
            if name in UNSAFE_BUILTINS or full in {f"builtins.{b}" for b in UNSAFE_BUILTINS} or \
                    full.split(".")[-1] in UNSAFE_ATTRIBUTES or \
                    any(full == c or full.endswith("." + c) for c in UNSAFE_DOTTED):
                found.append((node.lineno, f"{full}(...)"))
            if full.split(".")[-1] in ("load", "load_all") and full.split(".")[0] == "yaml":
                loader = next((k.value for k in node.keywords if k.arg == "Loader"), None)
                if loader is None or not (_dotted(loader) or "").endswith("SafeLoader"):
                    found.append((node.lineno, f"{full}(...) without SafeLoader"))
        for keyword in node.keywords:
            if keyword.arg == "allow_pickle" and not _is_false(keyword.value):
                found.append((node.lineno, "allow_pickle=" + ast.unparse(keyword.value)))
            if keyword.arg == "safe_mode" and not (isinstance(keyword.value, ast.Constant)
                                                   and keyword.value.value is True):
                found.append((node.lineno, "safe_mode=" + ast.unparse(keyword.value)))
    return sorted(set(found))


def test_the_scan_finds_unsafe_deserialization_and_ignores_safe_code():
    bad = {
        "import pickle\n": "import pickle",
        "import cPickle as p\n": "import cPickle",
        "from marshal import loads\n": "from marshal",
        "import dill\n": "import dill",
        "import torch\ntorch.load('m.bin')\n": "torch.load",
        "from torch import load\nload('m.bin')\n": "torch.load",
        "import numpy as np\nnp.load('x.npy', allow_pickle=True)\n": "allow_pickle=True",
        "import numpy\nnumpy.load(path, allow_pickle=flag)\n": "allow_pickle=flag",
        "import yaml\nyaml.load(text)\n": "without SafeLoader",
        "import yaml\nyaml.load(text, Loader=yaml.Loader)\n": "without SafeLoader",
        "import yaml\nyaml.unsafe_load(text)\n": "yaml.unsafe_load",
        "import yaml as y\ny.full_load(text)\n": "yaml.full_load",
        "eval(user_text)\n": "eval",
        "exec(code)\n": "exec",
        "import builtins\nbuiltins.eval(text)\n": "builtins.eval",
        "import keras\nkeras.models.load_model(p, safe_mode=False)\n": "safe_mode=False",
        "import keras\nkeras.saving.load_model(p, safe_mode=trusted)\n": "safe_mode=trusted",
        "import keras\nkeras.config.enable_unsafe_deserialization()\n": "enable_unsafe_deserialization",
        "import keras\nkeras.layers.Lambda(lambda x: x)\n": "layers.Lambda",
        "from keras.layers import Lambda\nLambda(f)\n": "layers.Lambda",
        "import pandas as pd\npd.read_pickle(p)\n": "read_pickle",
    }
    for source, expected in bad.items():
        uses = unsafe_uses(source)
        assert any(expected in what for _, what in uses), (source, uses)
    safe = ('"""Never pickle; torch.load is refused."""\n# eval(x) in a comment\nimport numpy as np\nimport yaml\n'
            "import keras\nnp.load('x.npy')\nnp.load('x.npz', allow_pickle=False)\nyaml.safe_load(t)\n"
            "yaml.load(t, Loader=yaml.SafeLoader)\nyaml.load(t, Loader=yaml.CSafeLoader)\n"
            "keras.models.load_model(p)\nkeras.models.load_model(p, safe_mode=True)\nmodel.evaluate(x)\n"
            "trainer.eval_step(b)\nsession_tensor.eval()\nmessage = 'do not use eval() or pickle.loads'\n")
    assert unsafe_uses(safe) == []


def test_no_unsafe_deserialization_in_bert_tf_serving_and_scripts():
    scanned, problems = 0, []
    for folder in SCANNED:
        for root, _, names in os.walk(os.path.join(REPO, folder)):
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    with open(path, encoding="utf-8") as f:
                        source = f.read()
                    scanned += 1
                    problems += [f"{os.path.relpath(path, REPO)}:{line}: {what}"
                                 for line, what in unsafe_uses(source, path)]
    assert scanned > 80  # the whole package was read, not an empty folder
    assert problems == []


# === Listening addresses ===

def _listening_addresses(port):
    """`ipaddress` objects of the local addresses with a listening TCP socket on `port`, from the kernel's tables
    (/proc/net/tcp and tcp6; an IPv4-mapped IPv6 address counts as its IPv4 address)."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                local, state = fields[1], fields[3]
                address, port_hex = local.split(":")
                if state != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                    continue
                raw = bytes.fromhex(address)
                # The kernel prints each 32-bit word in host (little-endian) byte order.
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                ip = ipaddress.ip_address(raw)
                addresses.add(ip.ipv4_mapped if getattr(ip, "ipv4_mapped", None) else ip)  # gRPC: ::ffff:a.b.c.d
    return addresses


def _non_loopback_ipv4():
    """An IPv4 address of this machine that is not loopback, or None (a route lookup; no packet is sent)."""
    candidates = []
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 9))
        candidates.append(probe.getsockname()[0])
    except OSError:
        pass
    finally:
        probe.close()
    try:
        candidates += socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        pass
    return next((a for a in candidates if not a.startswith("127.") and a != "0.0.0.0"), None)


def _connects(host, port):
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def _check_exposure(ports, loopback_only):
    other = _non_loopback_ipv4()
    for port in ports:
        addresses = _listening_addresses(port)
        assert addresses, f"nothing listens on port {port}"
        if loopback_only:
            assert all(a.is_loopback for a in addresses), (port, addresses)
        else:  # 0.0.0.0 (or ::): every interface
            assert all(a.is_unspecified for a in addresses), (port, addresses)
        assert _connects("127.0.0.1", port)
        if other is not None:  # the machine has a network interface besides loopback
            assert _connects(other, port) is (not loopback_only), (other, port)


def test_model_server_listens_on_loopback_unless_host_says_otherwise(tmp_path):
    from serving.server import ModelServer

    base = tmp_path / "m"
    base.mkdir()  # no version yet: the server still opens its ports
    common = dict(model_name="m", model_base_path=str(base), port=0, rest_api_port=0,
                  file_system_poll_wait_seconds=-1)
    with ModelServer(**common) as server:
        assert server.host == "127.0.0.1"
        _check_exposure([server.port, server.rest_api_port], loopback_only=True)
    with ModelServer(host="0.0.0.0", **common) as server:
        _check_exposure([server.port, server.rest_api_port], loopback_only=False)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_script_listens_on_loopback_by_default_and_host_flag_exposes_it(tmp_path):
    base = tmp_path / "m"
    base.mkdir()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    procs = {}
    for name, extra in (("default", []), ("exposed", ["--host=0.0.0.0"])):  # both start at once (TF import)
        port_file = tmp_path / f"ports_{name}"
        procs[name] = (subprocess.Popen(
            [sys.executable, os.path.join(REPO, "scripts", "serve.py"), "--model_name=m",
             f"--model_base_path={base}", "--port=0", f"--rest_api_port={_free_port()}",
             f"--port_file={port_file}", "--file_system_poll_wait_seconds=0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO), port_file)
    try:
        for name, (proc, port_file) in procs.items():
            deadline = time.time() + 180
            while not port_file.exists() and proc.poll() is None and time.time() < deadline:
                time.sleep(0.1)
            assert port_file.exists(), proc.communicate(timeout=30)[0][-3000:] if proc.poll() is not None else name
            ports = [int(p) for p in port_file.read_text().split()]
            _check_exposure(ports, loopback_only=name == "default")
    finally:
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in procs.values():
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def test_keras_requirement_excludes_releases_with_safe_mode_bypasses():
    """Issue 14 L: setup.cfg allowed keras>=3.10, i.e. releases with the safe-mode bypasses CVE-2025-8747 and
    CVE-2025-9906 (fixed in 3.11.0) and the later ones (see the comment in setup.cfg). The installed Keras
    must still satisfy the requirement."""
    import configparser
    import importlib.metadata

    from packaging.requirements import Requirement

    config = configparser.ConfigParser()
    config.read(os.path.join(REPO, "setup.cfg"))
    requirements = [Requirement(line) for line in config["options"]["install_requires"].splitlines() if line.strip()]
    keras_requirement = next(r for r in requirements if r.name == "keras")
    vulnerable = {"3.10.0": "CVE-2025-8747, CVE-2025-9906", "3.10.9": "CVE-2025-8747, CVE-2025-9906",
                  "3.11.2": "CVE-2025-49655, CVE-2025-9905", "3.11.3": "CVE-2025-12060",
                  "3.12.0": "CVE-2026-1462", "3.13.1": "CVE-2026-1462", "3.14.0": "pickling fixes of 3.15.1",
                  "3.15.0": "pickling fixes of 3.15.1"}
    allowed = {v: why for v, why in vulnerable.items() if keras_requirement.specifier.contains(v)}
    assert not allowed, f"{keras_requirement} allows {allowed}"
    assert keras_requirement.specifier.contains(importlib.metadata.version("keras"))
    assert not keras_requirement.specifier.contains("4.0.0")
