"""Which model versions are loaded: file-system polling, version policies, labels, warmup and states.

Mirrors TF Serving's ServerCore + FileSystemStoragePathSource + AspiredVersionsManager:
- versions are the integer-named folders of `base_path` that hold a `saved_model.pb` (temporary or other
  names are ignored, so write a version under a temporary name and rename it into place);
- policies `latest {num_versions: N}` (the default, N = 1), `all {}`, `specific {versions: [...]}`;
- new versions are loaded (and warmed up) before old ones are unloaded, so a served model never disappears;
- states START → LOADING → AVAILABLE → UNLOADING → END (END with an error status when a load fails);
- a failed load is retried `max_num_load_retries` times, `load_retry_interval_micros` apart (TF Serving's
  flags and defaults: 5 retries, 1 minute; the version stays LOADING meanwhile), and loaded afresh whenever
  its files change (a half-copied version completed, or replaced by rm + rename);
- a base path that cannot be read (renamed away, unmounted for a moment) keeps what is loaded, as TF
  Serving's FileSystemStoragePathSource does; only an existing base path without versions unloads them;
- labels map to versions and must point at AVAILABLE versions unless allowed otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Callable

from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.server import status
from serving.server.servable import Servable
from serving.server.versions import LoadFailure, aspired_versions, list_versions, version_fingerprint

logger = logging.getLogger("bert_tf.serving")

State = get_model_status_pb2.ModelVersionStatus.State

# TF Serving's --max_num_load_retries and --load_retry_interval_micros defaults.
DEFAULT_MAX_NUM_LOAD_RETRIES = 5
DEFAULT_LOAD_RETRY_INTERVAL_MICROS = 60 * 1000 * 1000


class _VersionState:
    __slots__ = ("state", "error", "servable")

    def __init__(self, state, error=None, servable=None):
        self.state = state
        self.error = error  # ServingError or None
        self.servable = servable


class ModelManager:
    """Loads, warms up, serves and unloads the versions of the configured models.

    Args:
        warmup_fn: callable(servable) or None. Replays the version's warmup requests; raising fails the load.
        allow_version_labels_for_unavailable_models: bool. Accept labels on versions that are not AVAILABLE.
        on_unload: callable(servable) or None. Called after a version leaves service.
        max_num_load_retries: int. Retries of a failed load after the first failure (TF Serving's flag;
            default 5; 0 tries once).
        load_retry_interval_micros: int. Wait between retries, in microseconds (TF Serving's flag; default
            one minute; negative: no wait).
    """

    def __init__(self, warmup_fn: Callable[[Servable], None] | None = None,
                 allow_version_labels_for_unavailable_models: bool = False,
                 on_unload: Callable[[Servable], None] | None = None,
                 max_num_load_retries: int = DEFAULT_MAX_NUM_LOAD_RETRIES,
                 load_retry_interval_micros: int = DEFAULT_LOAD_RETRY_INTERVAL_MICROS):
        self.warmup_fn = warmup_fn
        self.allow_version_labels_for_unavailable_models = allow_version_labels_for_unavailable_models
        self.on_unload = on_unload
        self.max_num_load_retries = max(0, int(max_num_load_retries))
        self.load_retry_interval_micros = int(load_retry_interval_micros)
        self._failures: dict[tuple[str, int], LoadFailure] = {}
        self._unreadable: set[str] = set()  # models whose base path could not be read at the last poll
        self._configs: dict[str, model_server_config_pb2.ModelConfig] = {}
        self._states: dict[str, dict[int, _VersionState]] = {}
        self._labels: dict[str, dict[str, int]] = {}
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()
        self._poll_thread: threading.Thread | None = None
        self._stop = threading.Event()

    # === Configuration ===
    def set_config(self, server_config: model_server_config_pb2.ModelServerConfig) -> None:
        """Applies a ModelServerConfig: adds/updates/removes models, loads versions, then sets labels."""
        if server_config.WhichOneof("config") not in (None, "model_config_list"):
            raise status.invalid_argument("ServerModelConfig type not supported by HandleReloadConfigRequest. "
                                          "Only ModelConfigList is currently supported")
        new_configs = {}
        for config in server_config.model_config_list.config:
            if not config.name:
                raise status.invalid_argument("ModelConfig has no name specified.")
            if config.name in new_configs:
                raise status.invalid_argument(f"Illegal to list model {config.name} multiple times in config list")
            if config.model_platform not in ("", "tensorflow"):
                raise status.invalid_argument(f"Model {config.name} has unsupported platform "
                                              f"{config.model_platform}")
            new_configs[config.name] = config
        with self._poll_lock:
            with self._lock:
                removed = [name for name in self._configs if name not in new_configs]
                self._configs = dict(new_configs)
                for name in new_configs:
                    self._states.setdefault(name, {})
            for name in removed:
                self._forget_failures(name)
                self._unload_all(name)
            self._poll_locked()
            self._update_labels(new_configs)

    def _update_labels(self, configs) -> None:
        new_labels = {}
        for name, config in configs.items():
            with self._lock:
                states = dict(self._states.get(name, {}))
            for label, version in config.version_labels.items():
                state = states.get(version)
                available = state is not None and state.state == State.AVAILABLE
                if not available and not self.allow_version_labels_for_unavailable_models:
                    raise status.ServingError(
                        status.FAILED_PRECONDITION,
                        f"Request to assign label to version {version} of model {name}, which is not currently "
                        "available for inference")
                new_labels.setdefault(name, {})[label] = version
        with self._lock:
            self._labels = new_labels

    # === Polling ===
    def poll(self) -> None:
        """One pass over every model's base path: load aspired versions, then unload the others."""
        with self._poll_lock:
            self._poll_locked()

    def _poll_locked(self) -> None:
        with self._lock:
            configs = dict(self._configs)
        for name, config in configs.items():
            self._poll_model(name, config)

    def _poll_model(self, name: str, config) -> None:
        """One model's pass: load its aspired versions (retrying failed ones when due), unload the others."""
        try:
            on_disk = list_versions(config.base_path)
        except OSError as e:
            if name not in self._unreadable:  # once per outage, not once per poll
                self._unreadable.add(name)
                logger.warning("Could not read base path %s of servable %s (%s); keeping the versions that are "
                               "loaded until it can be read again", config.base_path, name, e.strerror or e)
            return
        if name in self._unreadable:
            self._unreadable.discard(name)
            logger.info("Base path %s of servable %s can be read again", config.base_path, name)
        if not on_disk:
            logger.warning("No versions of servable %s found under base path %s", name, config.base_path)
        aspired = aspired_versions(config, on_disk)
        if config.model_version_policy.WhichOneof("policy_choice") == "specific":
            missing = set(config.model_version_policy.specific.versions) - set(on_disk)
            if missing:
                logger.warning("Versions %s of model %s not found under %s", sorted(missing), name,
                               config.base_path)
        for version in aspired:
            path = os.path.join(config.base_path, str(version))
            with self._lock:
                existing = self._states[name].get(version)
                failure = self._failures.get((name, version))
            if existing is not None and existing.state == State.AVAILABLE:
                continue
            if failure is not None:
                fingerprint = version_fingerprint(path)
                if fingerprint is not None and fingerprint != failure.fingerprint:
                    # Files completed, or the folder replaced (rm + rename): a fresh series of attempts.
                    logger.info("Servable version {name: %s version: %d} changed on disk since its failed load; "
                                "loading it again", name, version)
                    failure.cancel()
                    failure.attempts = 0
                elif not failure.due:
                    continue  # a retry is pending, or the retries are used up
                failure.cancel()
            elif existing is not None and existing.state == State.LOADING:
                continue
            self._load(name, version, path)
        with self._lock:
            states = self._states[name]
            # Availability preserving: old versions go only once an aspired one serves (or none is
            # aspired any more), so a broken new version never takes a working model down.
            aspired_up = any(states.get(v) is not None and states[v].state == State.AVAILABLE for v in aspired)
            to_unload = [v for v, s in states.items() if s.state == State.AVAILABLE and v not in aspired] \
                if aspired_up or not aspired else []
            for (model, v), failure in list(self._failures.items()):
                if model != name or v in aspired:
                    continue
                failure.cancel()  # no longer wanted: stop retrying
                del self._failures[(model, v)]
                if v in on_disk:
                    states[v] = _VersionState(State.END, error=failure.error)
                else:
                    states.pop(v, None)
            # A version that failed and vanished from disk is forgotten, so a fixed re-export can load.
            for v in [v for v, s in states.items() if s.error is not None and v not in on_disk]:
                del states[v]
        for version in to_unload:
            self._unload(name, version)

    def _load(self, name: str, version: int, path: str) -> bool:
        """Loads (and warms up) a version; on failure, schedules a retry while retries remain (the version
        stays LOADING, as in TF Serving's LoaderHarness), else marks it END with the error."""
        fingerprint = version_fingerprint(path)  # taken before the attempt: a change during it counts
        with self._lock:
            self._states[name][version] = _VersionState(State.LOADING)
        logger.info("Loading servable version {name: %s version: %d} from %s", name, version, path)
        start = time.monotonic()
        try:
            servable = Servable(name, version, path)
            if self.warmup_fn is not None:
                self.warmup_fn(servable)
        except status.ServingError as e:
            self._load_failed(name, version, e, fingerprint)
            return False
        except Exception as e:  # a broken SavedModel must never take the server down
            logger.exception("Loading servable: {name: %s version: %d} failed", name, version)
            self._load_failed(name, version, status.ServingError(status.INTERNAL, f"{type(e).__name__}: {e}"),
                              fingerprint)
            return False
        with self._lock:
            failure = self._failures.pop((name, version), None)
            if failure is not None:
                failure.cancel()
            self._states[name][version] = _VersionState(State.AVAILABLE, servable=servable)
        logger.info("Successfully loaded servable version {name: %s version: %d} in %.2fs", name, version,
                    time.monotonic() - start)
        return True

    def _load_failed(self, name: str, version: int, error: status.ServingError, fingerprint) -> None:
        with self._lock:
            failure = self._failures.setdefault((name, version), LoadFailure())
            failure.cancel()
            failure.attempts += 1
            failure.fingerprint = fingerprint
            failure.error = error
            retry = failure.attempts <= self.max_num_load_retries and not self._stop.is_set()
            if retry:
                delay = max(0.0, self.load_retry_interval_micros / 1e6)
                timer = threading.Timer(delay, self._retry_due, args=(name, version, failure))
                timer.daemon = True
                failure.timer = timer
                self._states[name][version] = _VersionState(State.LOADING)
            else:
                self._states[name][version] = _VersionState(State.END, error=error)
        if retry:
            logger.error("Loading servable: {name: %s version: %d} failed: %s; retry %d of %d in %.1f s", name,
                         version, error, failure.attempts, self.max_num_load_retries, delay)
            timer.start()
        else:
            logger.error("Loading servable: {name: %s version: %d} failed: %s%s", name, version, error,
                         f" (after {failure.attempts - 1} retries; it is loaded again when its files change)"
                         if self.max_num_load_retries else "")

    def _retry_due(self, name: str, version: int, failure: LoadFailure) -> None:
        """Timer callback: the next attempt of a failed load is due; run the model's pass now."""
        with self._poll_lock:
            with self._lock:
                if self._stop.is_set() or self._failures.get((name, version)) is not failure:
                    return
                failure.timer = None
                failure.due = True
                config = self._configs.get(name)
            if config is not None:
                try:
                    self._poll_model(name, config)
                except Exception:  # keep the server up whatever happens
                    logger.exception("Retrying the load of servable version {name: %s version: %d} failed",
                                     name, version)

    def _forget_failures(self, name: str) -> None:
        with self._lock:
            for key in [k for k in self._failures if k[0] == name]:
                self._failures.pop(key).cancel()

    def _unload(self, name: str, version: int) -> None:
        with self._lock:
            state = self._states[name].get(version)
            if state is None or state.servable is None:
                return
            servable = state.servable
            self._states[name][version] = _VersionState(State.UNLOADING, servable=None)
        logger.info("Unloading servable version {name: %s version: %d}", name, version)
        servable.close()
        if self.on_unload is not None:
            self.on_unload(servable)
        with self._lock:
            self._states[name][version] = _VersionState(State.END)

    def _unload_all(self, name: str) -> None:
        with self._lock:
            versions = [v for v, s in self._states.get(name, {}).items() if s.servable is not None]
        for version in versions:
            self._unload(name, version)

    def start_polling(self, interval_seconds: float) -> None:
        """Polls every `interval_seconds` in a daemon thread (TF Serving: 0 polls once, < 0 never)."""
        if interval_seconds <= 0 or self._poll_thread is not None:
            return

        def loop():
            while not self._stop.wait(interval_seconds):
                try:
                    self.poll()
                except Exception:  # keep polling whatever happens
                    logger.exception("File system poll failed")

        self._poll_thread = threading.Thread(target=loop, name="fs-poll", daemon=True)
        self._poll_thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._poll_thread is not None:
            self._poll_thread.join(timeout=30)
            self._poll_thread = None
        with self._poll_lock:  # a pending load retry finishes first, then sees the stop
            with self._lock:
                names = list(self._states)
            for name in names:
                self._forget_failures(name)
                self._unload_all(name)

    # === Lookups ===
    @contextlib.contextmanager
    def serving(self, model_spec):
        """The servable `model_spec` resolves to, held for the block: a version that a newer one replaces
        meanwhile is unloaded only after the block ends (TF Serving's ServableHandle), so no request fails
        because of a version swap."""
        servable = self.get_servable(model_spec, hold=True)
        try:
            yield servable
        finally:
            servable.release()

    def get_servable(self, model_spec, hold: bool = False) -> Servable:
        """Resolves a ModelSpec (name + version | version_label | latest) to an AVAILABLE servable; with
        `hold`, also takes a hold on it (under the same lock as the resolution; `release()` it)."""
        with self._lock:
            servable = self._resolve(model_spec)
            if hold:
                servable.hold()
            return servable

    def _resolve(self, model_spec) -> Servable:
        """get_servable's resolution; the caller holds `self._lock`."""
        name = model_spec.name
        if not name:
            raise status.invalid_argument("ModelSpec has no name specified.")
        choice = model_spec.WhichOneof("version_choice")
        if choice == "version_label":
            version = self._labels.get(name, {}).get(model_spec.version_label)
            if version is None:
                raise status.invalid_argument(
                    f"Unrecognized servable version label: {model_spec.version_label}")
            choice, wanted = "version", version
        elif choice == "version":
            wanted = model_spec.version.value
        states = self._states.get(name, {})
        if choice == "version":
            state = states.get(wanted)
            if state is not None and state.state == State.AVAILABLE:
                return state.servable
            raise status.ServingError(status.NOT_FOUND, f"Servable not found for request: Specific({name}, {wanted})")
        available = [v for v, s in states.items() if s.state == State.AVAILABLE]
        if not available:
            raise status.ServingError(status.NOT_FOUND, f"Servable not found for request: Latest({name})")
        return states[max(available)].servable

    def version_states(self, name: str) -> dict[int, tuple[int, status.ServingError | None]]:
        """version → (ModelVersionStatus.State, error or None) for every version the model has had."""
        with self._lock:
            return {v: (s.state, s.error) for v, s in sorted(self._states.get(name, {}).items())}

    def failed_loads(self, name: str) -> dict[int, int]:
        """version → failed load attempts, for the versions of a model whose load has not succeeded yet."""
        with self._lock:
            return {v: f.attempts for (model, v), f in sorted(self._failures.items()) if model == name}

    def labels(self, name: str) -> dict[str, int]:
        with self._lock:
            return dict(self._labels.get(name, {}))

    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(self._configs)

    def available_versions(self, name: str) -> list[int]:
        with self._lock:
            return sorted(v for v, s in self._states.get(name, {}).items() if s.state == State.AVAILABLE)
