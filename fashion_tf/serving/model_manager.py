"""Model repository handling for the stand-in model server.

Follows TensorFlow Serving's file-system source: each model has a base path whose
integer-named subdirectories are versions (``BASE/1/saved_model.pb``); the
``model_version_policy`` of models.config picks which are served (latest N, all, or
specific versions; default: the latest one). A poller thread rescans the base paths
every ``--file_system_poll_wait_seconds``; a new version is loaded *fully* and only then
swapped in by replacing one reference, so in-flight requests finish on the version they
started with and nothing is dropped. Directories that are not plain integers (``.tmp-3``,
``3.partial``) and integer directories without ``saved_model.pb`` yet are ignored: an
export that died half-way never becomes a visible version. A version directory that
is a symbolic link resolving outside its model's base path is ignored too (with a
warning), and model names are plain names (:func:`check_model_name`): nothing a
repository or a request names is read from outside the base paths the operator gave.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.config import model_server_config_pb2

from fashion_tf_client import messages

log = logging.getLogger("fashion_tf.serving")

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_model_name(name: str, where: str = "model name") -> str:
    """A model name is letters, digits, ``_ . -`` (no path separators, no ``..``): it names
    a served model and appears in REST paths, never a file."""
    if not _MODEL_NAME.fullmatch(name or "") or ".." in name:
        raise ValueError(f"{where}: {name!r} is not a valid model name (letters, digits, '_', '.', '-'; "
                         "no '/' or '..')")
    return name


@dataclass(frozen=True)
class ModelSpec:
    """One model of the repository: name, base path and version policy."""

    name: str
    base_path: Path
    policy: str = "latest"            # "latest" | "all" | "specific"
    num_versions: int = 1             # for "latest"
    versions: tuple[int, ...] = ()    # for "specific"
    labels: dict = field(default_factory=dict, hash=False, compare=False)  # version_labels

    def select(self, available: list[int]) -> list[int]:
        """The versions to serve among those present on disk."""
        available = sorted(available)
        if self.policy == "all":
            return available
        if self.policy == "specific":
            return [v for v in available if v in self.versions]
        return available[-max(1, self.num_versions):]


def read_model_config(path) -> list[ModelSpec]:
    """Parse a text-format ``ModelServerConfig`` (TF Serving's models.config).

    Relative base paths are resolved against the config file's directory.
    """
    path = Path(path)
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(path.read_text(), config)
    except text_format.ParseError as error:
        raise ValueError(f"{path}: not a text-format ModelServerConfig: {error}") from None
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError(f"{path}: expected a model_config_list {{ config {{ ... }} }} block")
    specs = []
    for entry in config.model_config_list.config:
        if not entry.name or not entry.base_path:
            raise ValueError(f"{path}: every config needs a name and a base_path (got {entry.name!r})")
        check_model_name(entry.name, f"{path}: model")
        if entry.model_platform not in ("", "tensorflow"):
            raise ValueError(f"{path}: model {entry.name!r}: model_platform must be 'tensorflow'")
        base = Path(entry.base_path)
        if not base.is_absolute():
            base = path.parent / base
        policy = entry.model_version_policy.WhichOneof("policy_choice") or "latest"
        specs.append(ModelSpec(
            name=entry.name, base_path=base, policy=policy,
            num_versions=entry.model_version_policy.latest.num_versions or 1,
            versions=tuple(int(v) for v in entry.model_version_policy.specific.versions),
            labels={k: int(v) for k, v in entry.version_labels.items()},
        ))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: model names must be unique, got {names}")
    return specs


def version_directories(base_path: Path) -> dict[int, Path]:
    """Complete version directories: integer names holding a saved_model.pb."""
    found = {}
    if not base_path.is_dir():
        return found
    base = base_path.resolve()
    for child in base_path.iterdir():
        # str.isdigit() rejects ".tmp-3-123", "3.partial", "-1"; TF Serving does the same.
        if child.name.isdigit() and child.is_dir() and any((child / f).is_file() for f in SAVED_MODEL_FILES):
            if not child.resolve().is_relative_to(base):  # a symlink out of the repository
                log.warning("ignoring version directory %s: it resolves to %s, outside the base path %s",
                            child, child.resolve(), base)
                continue
            found[int(child.name)] = child
    return found


def read_signature_defs(version_dir: Path) -> dict[str, messages.SignatureDef]:
    """The serving MetaGraph's SignatureDefs, exactly as TF Serving reports them (as the
    wire-compatible messages the server answers with)."""
    saved_model = saved_model_pb2.SavedModel()
    pb = version_dir / "saved_model.pb"
    if pb.is_file():
        saved_model.ParseFromString(pb.read_bytes())
    else:
        text_format.Parse((version_dir / "saved_model.pbtxt").read_text(), saved_model)
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return {key: messages.SignatureDef.FromString(value.SerializeToString())
                    for key, value in meta_graph.signature_def.items()}
    raise ValueError(f"{version_dir}: no MetaGraph tagged 'serve'")


class LoadedVersion:
    """A loaded SavedModel version: its concrete signature functions and SignatureDefs."""

    def __init__(self, name: str, version: int, path: Path):
        import tensorflow as tf

        self.name, self.version, self.path = name, version, path
        self.signature_defs = read_signature_defs(path)
        self._loaded = tf.saved_model.load(str(path), tags=["serve"])
        self.functions = dict(self._loaded.signatures)


@dataclass
class VersionState:
    """What GetModelStatus reports for one version (TF Serving's ModelVersionStatus)."""

    state: str            # "LOADING" | "AVAILABLE" | "END"
    error: str = ""       # message of a failed load


class ServedModel:
    """The versions of one model currently being served, swapped atomically."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.versions: dict[int, LoadedVersion] = {}   # replaced, never mutated
        self.states: dict[int, VersionState] = {}
        self._failed: dict[int, float] = {}            # version -> mtime of the failed directory

    def refresh(self) -> bool:
        """Load newly wanted versions, then swap; returns True when the set changed.

        A version that fails to load is reported (state END with the error) and the
        policy is applied again without it, so the previous version keeps serving.
        It is retried only when its directory changes.
        """
        on_disk = version_directories(self.spec.base_path)
        for version, mtime in list(self._failed.items()):
            if version not in on_disk or on_disk[version].stat().st_mtime != mtime:
                del self._failed[version]
        current = self.versions
        loaded: dict[int, LoadedVersion] = {}
        while True:
            wanted = self.spec.select([v for v in on_disk if v not in self._failed])
            if set(wanted) == set(current) and not loaded:
                return False
            for version in wanted:
                if version in loaded:
                    continue
                if version in current:
                    loaded[version] = current[version]
                    continue
                self.states[version] = VersionState("LOADING")
                started = time.perf_counter()
                try:
                    loaded[version] = LoadedVersion(self.spec.name, version, on_disk[version])
                except Exception as error:  # noqa: BLE001  (a broken export must not take the server down)
                    first = str(error).splitlines()[0] if str(error) else ""
                    message = f"{type(error).__name__}: {first}"
                    log.error("model %s version %d failed to load: %s", self.spec.name, version, message)
                    self.states[version] = VersionState("END", message)
                    self._failed[version] = on_disk[version].stat().st_mtime
                    break
                log.info("loaded model %s version %d in %.1fs", self.spec.name, version,
                         time.perf_counter() - started)
            else:
                break
        loaded = {v: loaded[v] for v in wanted}
        if set(loaded) == set(current):
            return False
        self.versions = loaded  # the atomic swap: requests already running keep their reference
        for version in loaded:
            self.states[version] = VersionState("AVAILABLE")
        for version in set(current) - set(loaded):
            self.states[version] = VersionState("END")
            log.info("unloaded model %s version %d", self.spec.name, version)
        return True

    def resolve(self, version: int | None = None, label: str | None = None) -> LoadedVersion:
        """The version to serve a request; raises LookupError with TF Serving's wording."""
        versions = self.versions
        if label:
            if label not in self.spec.labels:
                raise LookupError(f"Unrecognized servable version label: {label} for model {self.spec.name}")
            version = self.spec.labels[label]
        if version is None:
            if not versions:
                raise LookupError(f"Servable not found for request: Latest({self.spec.name})")
            return versions[max(versions)]
        if version not in versions:
            raise LookupError(f"Servable not found for request: Specific({self.spec.name}, {version})")
        return versions[version]


class ModelManager:
    """All served models plus the thread that polls their base paths."""

    def __init__(self, specs: list[ModelSpec], poll_wait_seconds: float = 1.0):
        self.models = {spec.name: ServedModel(spec) for spec in specs}
        self.poll_wait_seconds = poll_wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh_all(self) -> None:
        for model in self.models.values():
            try:
                model.refresh()
            except Exception:  # e.g. a base path on a flaky disk: log, keep serving
                log.exception("polling model %s failed", model.spec.name)

    def start_polling(self) -> None:
        if self.poll_wait_seconds <= 0:
            return

        def loop():
            while not self._stop.wait(self.poll_wait_seconds):
                self.refresh_all()

        self._thread = threading.Thread(target=loop, name="version-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def get(self, name: str) -> ServedModel:
        if name not in self.models:
            raise LookupError(f"Servable not found for request: Latest({name})" if name else "Missing ModelSpec name")
        return self.models[name]
