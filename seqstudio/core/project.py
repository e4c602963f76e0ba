"""Projects: data source and options, layer stack, train config, fitted transforms, results.

A project is two files side by side: ``NAME.json`` (everything but the
weights, with a schema version) and ``NAME.safetensors`` (the weights; never a
pickle). The weights of past runs kept for "continue from this run" go into
the same file under ``run.<run id>.<parameter>``. Saves are atomic: each file
is written to a temporary file in the same folder and moved over the old one
with :func:`os.replace`, weights first, so that a crash mid-save leaves the
previous project intact. The JSON records the
weights' SHA-256, so a weights file that does not belong to it is detected.

>>> from seqstudio.core.project import Project
>>> p = Project.from_preset("airline-lstm")
>>> p.source, p.data_options["look_back"]
('csv-series', 1)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqstudio.core.errors import PluginError, ProjectError, SeqStudioError
from seqstudio.core.presets import EMBEDDED, get_preset

SCHEMA_VERSION = 1
FORMAT = "seqstudio-project"
#: Data options that hold file paths (made relative to the project on save).
PATH_OPTIONS = ("path", "test_path")
#: Keys of run weights in the .safetensors file: ``run.<run id>.<parameter name>``.
RUN_WEIGHTS_PREFIX = "run."
#: Keys of the optimizer state that goes with the weights (continued training):
#: ``optimizer.<optimizer>.<parameter index>.<key>``.
OPTIMIZER_PREFIX = "optimizer."


def resolve_data_path(value: str, base: Path | None = None) -> str:
    """Turn a stored data path into a real one.

    ``embedded:NAME`` names a file shipped with seqstudio; a relative path is
    taken relative to ``base`` (the project's folder).
    """
    if not value:
        return value
    if value.startswith(EMBEDDED):
        from seqstudio.resources import path as resource_path

        return str(resource_path(value[len(EMBEDDED):]))
    p = Path(value).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return str(p)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def weights_path(project_path: str | Path) -> Path:
    """Where the weights of the project at ``project_path`` live."""
    return Path(project_path).with_suffix(".safetensors")


@dataclass
class Project:
    """Everything needed to reproduce, continue and use a model.

    ``model`` is the layer stack as its dict form (``ModelSpec.to_dict()``) and
    ``train`` the train config as a dict, so that a project can be opened and
    inspected even when a plugin it names is missing.
    """

    name: str = "untitled"
    source: str = "csv-series"
    data_options: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=lambda: {"layers": []})
    train: dict[str, Any] = field(default_factory=dict)
    fitted: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    #: plugin name -> distribution, for every plugin whose source/cell/layer the project uses.
    plugins: dict[str, str] = field(default_factory=dict)
    weights: dict[str, Any] | None = None
    #: run id -> the weights that run ended with, for the runs that kept them
    #: (saved in the same .safetensors file under ``run.<id>.<param>``).
    run_weights: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)
    #: The optimizer's state after the run that produced :attr:`weights`
    #: (``TrainResult.optimizer_state``), so that continuing goes on where it was.
    optimizer_state: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    #: The file this project was loaded from / saved to (not stored).
    path: Path | None = field(default=None, compare=False)

    # -- construction -----------------------------------------------------
    @classmethod
    def from_preset(cls, name: str) -> Project:
        preset = get_preset(name)
        return cls(
            name=preset.name,
            source=preset.source,
            data_options=dict(preset.data_options),
            model={"layers": [dict(d) for d in preset.layers]},
            train=dict(preset.train),
        )

    # -- the core objects -------------------------------------------------
    def model_spec(self, registry=None):
        from seqstudio.core.model.spec import ModelSpec

        return ModelSpec.from_dict(self.model, registry)

    def train_config(self, **overrides):
        from seqstudio.core.train.config import TrainConfig

        return TrainConfig.from_dict({**self.train, **overrides})

    def resolved_data_options(self, registry=None) -> dict[str, Any]:
        """Data options with defaults from the source and paths made real."""
        opts: dict[str, Any] = {}
        if registry is not None:
            opts.update(self._source_type(registry).defaults())
        opts.update(self.data_options)
        base = self.path.parent if self.path else None
        for key in PATH_OPTIONS:
            if isinstance(opts.get(key), str):
                opts[key] = resolve_data_path(opts[key], base)
        return opts

    def _source_type(self, registry):
        try:
            return registry.source(self.source)
        except PluginError as exc:
            raise self._missing_plugin(exc, self.source) from None

    def _missing_plugin(self, exc: PluginError, key: str) -> PluginError:
        plugin = key.split(">", 1)[0] if ">" in key else None
        dist = self.plugins.get(plugin) if plugin else None
        if dist:
            return PluginError(
                f"{exc.what}; it comes from the distribution {dist!r}",
                where=str(self.path) if self.path else None,
                fix=f"install it (seqstudio plugins install {dist}), then open the project again")
        return exc

    def prepare_data(self, registry):
        """Load and prepare the project's data through its registered source."""
        source = self._source_type(registry)
        return source.load(self.resolved_data_options(registry))

    def build_model(self, data, registry):
        """Validate the stack against ``data``, build it, and load the saved weights if any."""
        spec = self.model_spec(registry)
        spec.check_data(data, registry=registry)
        module = spec.build(data.input_shape, registry=registry)
        if self.weights:
            try:
                module.load_state_dict(self.weights)
            except RuntimeError as exc:
                raise ProjectError(
                    "the saved weights do not fit the project's layer stack",
                    where=str(weights_path(self.path)) if self.path else None,
                    fix="retrain (the layers were changed after the weights were saved)",
                ) from exc
        return module

    def set_weights(self, module, optimizer_state: dict[str, Any] | None = None) -> None:
        """Keep ``module``'s weights (a CPU copy) and the optimizer state that goes with them."""
        self.weights = _cpu_copy(module.state_dict())
        self.optimizer_state = _cpu_copy(optimizer_state) if optimizer_state else None

    # -- run history ------------------------------------------------------
    def add_run(self, record: dict[str, Any], weights: dict[str, Any] | None = None) -> dict[str, Any]:
        """Append a run record (:func:`~seqstudio.core.train.runs.make_run_record`) and keep its weights.

        ``weights`` (a state dict) are copied to the CPU and stored in
        :attr:`run_weights` under the record's id; ``record["has_weights"]``
        is set accordingly. Returns the record.
        """
        if weights:
            self.run_weights[record["id"]] = _cpu_copy(weights)
        record["has_weights"] = record["id"] in self.run_weights
        self.runs.append(record)
        return record

    def remove_run(self, run_id: str) -> None:
        """Forget a run and its weights (nothing happens for an unknown id)."""
        self.runs = [r for r in self.runs if r.get("id") != run_id]
        self.run_weights.pop(run_id, None)

    def restore_run(self, run: dict[str, Any], *, with_weights: bool = False) -> None:
        """Make a past run's data source, options, layers and train config the project's own.

        With ``with_weights`` the project's weights become a copy of the ones
        that run ended with, and ``results["epochs_total"]`` where it ended, so
        the next training continues it (raises :class:`ProjectError` when the
        run kept no weights). Without, the weights are dropped: the restored
        layer stack may not fit them.
        """
        import copy

        state = self.run_weights_of(run["id"]) if with_weights else None
        self.source = run.get("source", self.source)
        self.data_options = copy.deepcopy(run.get("data_options") or {})
        self.model = copy.deepcopy(run.get("model") or {"layers": []})
        self.train = copy.deepcopy(run.get("train") or {})
        if state is not None:
            self.weights = _cpu_copy(state)
            self.optimizer_state = None  # a run's optimizer state is not kept
            self.results = {"splits": copy.deepcopy(run.get("metrics") or {}),
                            "epochs_total": int(run.get("start_epoch", 0)) + int(run.get("epochs_run", 0))}
        else:
            self.weights = None
            self.results = {}

    def run_weights_of(self, run_id: str) -> dict[str, Any]:
        """The weights a run ended with, to continue training from them."""
        try:
            return self.run_weights[run_id]
        except KeyError:
            raise ProjectError(f"run {run_id!r} has no saved weights", where=str(self.path or ""),
                               fix="keep run weights when training, or restore the run's config "
                                   "and train again") from None

    # -- JSON -------------------------------------------------------------
    def to_json_dict(self, *, base: Path | None = None, weights_sha256: str | None = None) -> dict:
        data_options = dict(self.data_options)
        if base is not None:
            for key in PATH_OPTIONS:
                value = data_options.get(key)
                if isinstance(value, str) and value and not value.startswith(EMBEDDED):
                    p = Path(value)
                    if p.is_absolute():
                        try:
                            data_options[key] = os.path.relpath(p, base)
                        except ValueError:  # another drive on Windows
                            pass
        from seqstudio import __version__

        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "seqstudio_version": __version__,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "name": self.name,
            "source": self.source,
            "data_options": data_options,
            "model": self.model,
            "train": self.train,
            "fitted": self.fitted,
            "results": self.results,
            "runs": self.runs,
            "plugins": self.plugins,
            "weights": {"sha256": weights_sha256} if weights_sha256 else None,
        }

    def save(self, path: str | Path) -> Path:
        """Write the project atomically to ``path`` (JSON) and its weights beside it."""
        path = Path(path)
        if path.suffix.lower() != ".json":
            path = path.with_suffix(path.suffix + ".json") if path.suffix else path.with_suffix(".json")
        # Data paths written so far were relative to the old location; make them real first.
        if self.path is not None and self.path.parent.resolve() != path.parent.resolve():
            for key in PATH_OPTIONS:
                v = self.data_options.get(key)
                if isinstance(v, str) and v and not v.startswith(EMBEDDED):
                    self.data_options[key] = resolve_data_path(v, self.path.parent)
        sha = None
        wpath = weights_path(path)
        tensors = self._tensors_to_save()
        if tensors:
            from safetensors.torch import save as st_save

            blob = st_save(tensors, metadata={"format": FORMAT})
            sha = hashlib.sha256(blob).hexdigest()
            _atomic_write_bytes(wpath, blob)
        doc = self.to_json_dict(base=path.parent.resolve(), weights_sha256=sha)
        if sha:
            doc["weights"] = {"file": wpath.name, "sha256": sha, "model": bool(self.weights),
                              "runs": sorted(self.run_weights),
                              "optimizer": bool(self.weights and self.optimizer_state)}
        text = json.dumps(_finite(doc), indent=2, allow_nan=False, default=_json_default)
        _atomic_write_bytes(path, (text + "\n").encode("utf-8"))
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | Path) -> Project:
        """Read and validate a project; never unpickles anything."""
        path = Path(path)
        where = str(path)
        if not path.is_file():
            raise ProjectError(f"project file {path.name!r} does not exist", where=where,
                               fix="check the path, or create one with `seqstudio train ... --save FILE`")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ProjectError("the project file is not UTF-8 text (damaged, or not a project)",
                               where=where, fix="open the .json file that seqstudio saved") from None
        except json.JSONDecodeError as exc:
            raise ProjectError(f"the project file is damaged: {exc.msg}",
                               where=f"{where}, line {exc.lineno}, column {exc.colno}",
                               fix="restore it from a backup or the autosave, or re-save the project") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ProjectError("this file is not a seqstudio project", where=where,
                               fix="open the .json file that seqstudio saved")
        version = doc.get("schema_version")
        if not isinstance(version, int):
            raise ProjectError("the project has no valid schema_version", where=where,
                               fix="re-save the project with seqstudio")
        if version > SCHEMA_VERSION:
            raise ProjectError(
                f"the project was saved by a newer seqstudio (schema {version}; this one reads up to "
                f"{SCHEMA_VERSION})", where=where, fix="upgrade seqstudio to open it")
        problems = []
        for key, typ in (("name", str), ("source", str), ("data_options", dict), ("model", dict),
                         ("train", dict)):
            if not isinstance(doc.get(key), typ):
                problems.append(f"{key!r} must be a {typ.__name__}")
        if problems:
            raise ProjectError("the project file is incomplete: " + "; ".join(problems), where=where,
                               fix="re-save the project with seqstudio")
        project = cls(
            name=doc["name"], source=doc["source"], data_options=doc["data_options"],
            model=doc["model"], train=doc["train"], fitted=doc.get("fitted") or {},
            results=doc.get("results") or {}, runs=doc.get("runs") or [],
            plugins=doc.get("plugins") or {}, path=path,
        )
        weights = doc.get("weights")
        if weights:
            tensors = _load_weights(weights_path(path), weights.get("sha256"))
            project._take_tensors(tensors, weights)
        return project

    # -- weights file -----------------------------------------------------
    def _tensors_to_save(self) -> dict[str, Any]:
        """The model's weights and every kept run's, in one flat dict (run ones prefixed)."""
        tensors = dict(self.weights or {})
        if self.weights and self.optimizer_state:
            tensors.update({OPTIMIZER_PREFIX + k: v for k, v in self.optimizer_state.items()})
        kept = {r.get("id") for r in self.runs}
        for run_id, state in self.run_weights.items():
            if run_id not in kept:
                continue  # a deleted run's weights are not worth the disk space
            for key, value in state.items():
                tensors[f"{RUN_WEIGHTS_PREFIX}{run_id}.{key}"] = value
        return tensors

    def _take_tensors(self, tensors: dict[str, Any], info: dict[str, Any]) -> None:
        """Split a loaded weights file back into the model's weights and the runs' weights."""
        run_ids = set(info.get("runs") or []) | {r.get("id") for r in self.runs if r.get("has_weights")}
        run_ids.discard(None)
        model: dict[str, Any] = {}
        optimizer: dict[str, Any] = {}
        for key, value in tensors.items():
            if info.get("optimizer") and key.startswith(OPTIMIZER_PREFIX):
                optimizer[key[len(OPTIMIZER_PREFIX):]] = value
                continue
            run_id = key[len(RUN_WEIGHTS_PREFIX):].split(".", 1)[0] if key.startswith(RUN_WEIGHTS_PREFIX) \
                else None
            if run_id in run_ids:
                self.run_weights.setdefault(run_id, {})[key[len(RUN_WEIGHTS_PREFIX) + len(run_id) + 1:]] = value
            else:
                model[key] = value
        # files written before run weights existed hold only the model's weights
        self.weights = model or None
        self.optimizer_state = optimizer if model and optimizer else None
        for run in self.runs:
            if isinstance(run, dict) and "has_weights" in run:
                run["has_weights"] = run.get("id") in self.run_weights


def _cpu_copy(state) -> dict[str, Any]:
    """A detached, contiguous CPU copy (safetensors refuses shared or strided storage)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def _load_weights(wpath: Path, sha: str | None) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    if not wpath.is_file():
        raise ProjectError(f"the weights file {wpath.name!r} is missing", where=str(wpath),
                           fix="keep the .safetensors file next to the project's .json, or retrain")
    blob = wpath.read_bytes()
    if sha and hashlib.sha256(blob).hexdigest() != sha:
        raise ProjectError("the weights file does not belong to this project (its checksum differs)",
                           where=str(wpath), fix="restore the matching .safetensors file, or retrain")
    try:
        return st_load(blob)
    except (SafetensorError, Exception) as exc:  # noqa: B014 - safetensors raises several kinds
        if isinstance(exc, SeqStudioError):
            raise
        raise ProjectError(f"the weights file is damaged: {exc}", where=str(wpath),
                           fix="restore it from a backup, or retrain") from None


def _finite(obj):
    """JSON has no NaN or infinity: store them as null (a NaN loss stays visible as a gap)."""
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
