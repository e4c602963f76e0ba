"""Projects: data source and options, layer stack, train config, fitted transforms, results.

A project is two files side by side: ``NAME.json`` (everything but the
weights, with a schema version) and ``NAME.safetensors`` (the weights; never a
pickle). The weights of past runs kept for "continue from this run" go into
the same file under ``run.<run id>.<parameter>``. Saves are atomic: each file
is written to a temporary file in the same folder and moved over the old one
with :func:`os.replace`, weights first, so that a crash mid-save leaves the previous
project intact. The JSON records the weights' SHA-256, so a foreign weights file is detected.

>>> from seqstudio.core.project import Project
>>> p = Project.from_preset("airline-lstm")
>>> p.source, p.data_options["look_back"]
('csv-series', 1)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqstudio.core.errors import PluginError, ProjectError, SeqStudioError
from seqstudio.core.presets import EMBEDDED, get_preset
from seqstudio.core.projectfile import FORMAT, SCHEMA_VERSION

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


#: Called with the name of each step of a save as it is reached (tests inject kills and faults
#: there); None in normal use. See :data:`SAVE_STEPS`.
_save_hook: Callable[[str], None] | None = None

#: The steps of :meth:`Project.save`, in order. Only ``json:replaced`` changes what the
#: project is: before it the old project is complete, after it the new one.
SAVE_STEPS = (
    "cleaned-stray",          # temporary files left by an earlier, killed save are gone
    "weights:tmp-created", "weights:written", "weights:synced", "weights:replaced",
    "json:tmp-created", "json:written", "json:synced", "json:replaced",   # the commit point
    "cleaned-old",            # weights files the new JSON no longer names are gone
)


def _step(name: str) -> None:
    if _save_hook is not None:
        _save_hook(name)


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no other portable way to read it
    os.umask(mask)
    return mask


def _write_fully(fh, data: bytes) -> None:
    """Write ``data`` to ``fh`` (a separate function so tests can fail it like a full disk)."""
    fh.write(data)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write_bytes(path: Path, data: bytes, what: str = "file") -> None:
    """Write ``path`` by a temporary file in its folder and one :func:`os.replace`.

    The file gets the permissions a plain ``open()`` would give it (``0o666``
    less the umask), not ``mkstemp``'s private ``0o600``.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_umask())
        _step(f"{what}:tmp-created")
        with os.fdopen(fd, "wb") as fh:
            _write_fully(fh, data)
            fh.flush()
            _step(f"{what}:written")
            os.fsync(fh.fileno())
        _step(f"{what}:synced")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    _step(f"{what}:replaced")


def _weights_name(stem: str, sha: str) -> str:
    """The weights file of a project: named by its content, so a save never overwrites the
    file the current JSON names (``air.json`` -> ``air.3f2a...c1.safetensors``)."""
    return f"{stem}.{sha[:16]}.safetensors"


def _own_files(folder: Path, stem: str) -> tuple[list[Path], list[Path]]:
    """(temporary files of earlier saves, weights files) of the project ``stem`` in ``folder``.

    Weights files are the content-addressed ``STEM.<16 hex>.safetensors`` and the
    older ``STEM.safetensors``; a name that is itself another project's
    (``STEM.<16 hex>.json`` beside it) is left alone.
    """
    esc = re.escape(stem)
    tmp_re = re.compile(rf"^\.{esc}\.(json|([0-9a-f]{{16}}\.)?safetensors)\.[A-Za-z0-9_]+\.tmp$")
    weights_re = re.compile(rf"^{esc}\.(([0-9a-f]{{16}})\.)?safetensors$")
    stray, weights = [], []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return [], []
    for entry in entries:
        if tmp_re.match(entry.name):
            stray.append(Path(entry.path))
            continue
        m = weights_re.match(entry.name)
        if m and not (m.group(2) and (folder / f"{stem}.{m.group(2)}.json").exists()):
            weights.append(Path(entry.path))
    return stray, weights


def _remove_quietly(paths) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError:  # not ours to fight over; the next save tries again
            pass


def _save_error(exc: OSError, path: Path) -> ProjectError:
    import errno

    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        fix = "free some disk space or save to another drive; the project as last saved is unchanged"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "choose a folder you can write to; the project as last saved is unchanged"
    else:
        fix = "save to another place; the project as last saved is unchanged"
    return ProjectError(f"cannot save the project: {reason}", where=str(path), fix=fix)


def check_save_path(path: str | Path) -> Path:
    """Where :meth:`Project.save` would write ``path``, checked now (before hours of training).

    The folder must exist (nothing is created silently) and be writable, and
    the name must not be a folder. Raises :class:`ProjectError` saying so;
    returns the ``.json`` path the project will be saved as.
    """
    path = project_json_path(path)
    folder = path.parent
    if not folder.exists():
        raise ProjectError(f"the folder {str(folder)!r} does not exist", where=str(path),
                           fix="create the folder first, or choose another place to save")
    if not folder.is_dir():
        raise ProjectError(f"{str(folder)!r} is a file, not a folder", where=str(path),
                           fix="choose a path inside a folder")
    if path.is_dir():
        raise ProjectError(f"{str(path)!r} is a folder", where=str(path),
                           fix="give a file name ending in .json")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ProjectError(f"the folder {str(folder)!r} is not writable", where=str(path),
                           fix="choose a folder you can write to")
    return path


def project_json_path(path: str | Path) -> Path:
    """``path`` with the ``.json`` suffix a project file gets."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        path = path.with_suffix(path.suffix + ".json") if path.suffix else path.with_suffix(".json")
    return path


def weights_path(project_path: str | Path) -> Path:
    """The weights file of the project saved at ``project_path`` (the one its JSON names).

    For a project that is not saved yet (or names none): ``NAME.safetensors``.
    """
    project_path = Path(project_path)
    try:
        doc = json.loads(project_path.read_text(encoding="utf-8"))
        name = doc["weights"]["file"]
    except (OSError, ValueError, KeyError, TypeError):
        return project_path.with_suffix(".safetensors")
    return project_path.parent / name if isinstance(name, str) and _safe_name(name) \
        else project_path.with_suffix(".safetensors")


def _safe_name(name: str) -> bool:
    """A plain file name in the project's folder (a project never points elsewhere)."""
    return bool(re.fullmatch(r"[^/\\\x00]{1,255}\.safetensors", name)) and name not in (".", "..") \
        and Path(name).name == name


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
    #: data option -> ``{"sha256", "size"}`` of the file the fitted state was computed from,
    #: so that using the project on a changed file is noticed.
    data_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    weights: dict[str, Any] | None = None
    #: run id -> the weights that run ended with, for the runs that kept them
    #: (saved in the same .safetensors file under ``run.<id>.<param>``).
    run_weights: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)
    #: The optimizer's state after the run that produced :attr:`weights`
    #: (``TrainResult.optimizer_state``), so that continuing goes on where it was.
    optimizer_state: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    #: Sweep settings and search space (``SweepSettings.to_dict()``, versioned); None if none.
    sweep: dict[str, Any] | None = None
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

        self._name_distributions(registry)
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

    # -- the data files the fitted state came from ------------------------
    def _data_file_paths(self) -> dict[str, Path]:
        """Data option -> the real file it names (plain files only; folders and lists are skipped)."""
        out = {}
        for key, value in self.resolved_data_options().items():
            if key in PATH_OPTIONS and isinstance(value, str) and value:
                p = Path(value)
                if p.is_file():
                    out[key] = p
        return out

    def record_data_files(self) -> None:
        """Remember the checksum and size of each data file (called when training ends)."""
        self.data_files = {key: {"sha256": _file_sha256(p), "size": p.stat().st_size}
                           for key, p in self._data_file_paths().items()}

    def changed_data_files(self) -> list[str]:
        """Descriptions of the data files that differ from the ones the project was trained on."""
        changed = []
        for key, p in self._data_file_paths().items():
            known = self.data_files.get(key)
            if not isinstance(known, dict) or not known.get("sha256"):
                continue
            if p.stat().st_size != known.get("size") or _file_sha256(p) != known["sha256"]:
                changed.append(f"{p} (data option {key!r})")
        return changed

    def _name_distributions(self, registry) -> None:
        """Tell the registry which distribution each plugin this project uses came from, so a
        missing one is named by what to install (an installed plugin's own record wins)."""
        table = getattr(registry, "distributions", None)
        if isinstance(table, dict):
            for plugin, dist in self.plugins.items():
                if dist:
                    table.setdefault(plugin, dist)

    def _source_type(self, registry):
        self._name_distributions(registry)
        try:
            return registry.source(self.source)
        except PluginError as exc:
            raise PluginError(exc.what, where=str(self.path) if self.path else exc.where,
                              fix=exc.fix) from None

    def prepare_data(self, registry, *, refit: bool = False):
        """Load and prepare the project's data through its registered source.

        A trained project's fitted state (scaler, vocabulary) is applied to the
        data, so that the same model sees the same scaling whatever the file
        holds now; ``refit`` fits them again on the data instead.
        """
        source = self._source_type(registry)
        options = self.resolved_data_options(registry)
        for key in PATH_OPTIONS:
            _check_data_path(options.get(key), key)
        data = source.load(options)
        if self.fitted and self.weights and not refit:
            use = getattr(data, "use_fitted_state", None)
            if use is not None:
                data = use(self.fitted)
        return data

    def build_model(self, data, registry):
        """Validate the stack against ``data``, build it, and load the saved weights if any."""
        from seqstudio.core.model.memory import check_fits, estimate_training_memory
        from seqstudio.core.model.quantiles import quantile_spec, train_quantiles
        spec = quantile_spec(self.model_spec(registry), train_quantiles(self.train))  # pinball: wider
        summary = spec.check_data(data, registry=registry)
        batch_size = self.train.get("batch_size", 32)
        device = self.train.get("device", "cpu")
        # refuse what cannot fit before anything is allocated
        check_fits(estimate_training_memory(summary, batch_size if isinstance(batch_size, int) else 32),
                   summary, device=device if isinstance(device, str) else "cpu")
        module = spec.build(data.input_shape, registry=registry, seed=self.train.get("seed", 0))
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

        from seqstudio.core.train.runs import run_end_epoch

        state = self.run_weights_of(run["id"]) if with_weights else None
        self.source = run.get("source", self.source)
        self.data_options = copy.deepcopy(run.get("data_options") or {})
        self.model = copy.deepcopy(run.get("model") or {"layers": []})
        self.train = copy.deepcopy(run.get("train") or {})
        if state is not None:
            self.weights = _cpu_copy(state)
            self.optimizer_state = None  # a run's optimizer state is not kept
            self.results = {"splits": copy.deepcopy(run.get("metrics") or {}),
                            "epochs_total": run_end_epoch(run)}
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
            "data_files": self.data_files,
            "weights": {"sha256": weights_sha256} if weights_sha256 else None,
            "sweep": self.sweep,
        }

    def save(self, path: str | Path) -> Path:
        """Write the project to ``path`` (JSON) and its weights beside it, atomically.

        One commit point: the weights go to a new file named by their checksum
        (``NAME.<sha256[:16]>.safetensors``), then the JSON that names that file
        replaces the old JSON in one :func:`os.replace`. A crash at any instant
        leaves either the old project or the new one complete; weights files
        the new JSON no longer names, and temporary files of an earlier crashed
        save, are removed afterwards. The folder must exist (see
        :func:`check_save_path`); a full disk or a read-only folder raises
        :class:`ProjectError` with the old project untouched.
        """
        path = check_save_path(path)
        try:
            return self._save(path)
        except OSError as exc:
            raise _save_error(exc, path) from exc

    def _save(self, path: Path) -> Path:
        folder = path.parent
        # Data paths written so far were relative to the old location; make them real first.
        if self.path is not None and self.path.parent.resolve() != folder.resolve():
            for key in PATH_OPTIONS:
                v = self.data_options.get(key)
                if isinstance(v, str) and v and not v.startswith(EMBEDDED):
                    self.data_options[key] = resolve_data_path(v, self.path.parent)
        stray, _ = _own_files(folder, path.stem)
        _remove_quietly(stray)
        _step("cleaned-stray")
        sha = None
        wname = None
        tensors = self._tensors_to_save()
        if tensors:
            from safetensors.torch import save as st_save

            blob = st_save(tensors, metadata={"format": FORMAT})
            sha = hashlib.sha256(blob).hexdigest()
            wname = _weights_name(path.stem, sha)
            _atomic_write_bytes(folder / wname, blob, "weights")
        doc = self.to_json_dict(base=folder.resolve(), weights_sha256=sha)
        if sha:
            doc["weights"] = {"file": wname, "sha256": sha, "model": bool(self.weights),
                              "runs": sorted(self.run_weights),
                              "optimizer": bool(self.weights and self.optimizer_state)}
        text = json.dumps(_finite(doc), indent=2, allow_nan=False, default=_json_default)
        _atomic_write_bytes(path, (text + "\n").encode("utf-8"), "json")   # the commit point
        self.path = path
        _, weights = _own_files(folder, path.stem)
        _remove_quietly(w for w in weights if w.name != wname)
        _step("cleaned-old")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Project:
        """Read and validate a project; never unpickles anything.

        The whole file is checked against :data:`PROJECT_SCHEMA` (types, ranges,
        sizes, finite numbers) before anything in it is used; every problem is a
        :class:`ProjectError` saying what, where (the JSON path) and how to fix it.
        """
        from seqstudio.core.projectfile import read_project_document

        path = Path(path)
        doc = read_project_document(path)
        project = cls(
            name=doc["name"], source=doc["source"], data_options=doc["data_options"],
            model=doc["model"], train=doc["train"], fitted=doc.get("fitted") or {},
            results=doc.get("results") or {}, runs=doc.get("runs") or [],
            plugins=doc.get("plugins") or {}, data_files=doc.get("data_files") or {}, path=path,
            sweep=doc.get("sweep"),
        )
        weights = doc.get("weights")
        if weights:
            name = weights.get("file") or path.with_suffix(".safetensors").name
            tensors = _load_weights(path.parent / name, weights.get("sha256"))
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
            if run_id is not None and run_id in run_ids:
                self.run_weights.setdefault(run_id, {})[key[len(RUN_WEIGHTS_PREFIX) + len(run_id) + 1:]] = value
            else:
                model[key] = value
        # files written before run weights existed hold only the model's weights
        self.weights = model or None
        self.optimizer_state = optimizer if model and optimizer else None
        for run in self.runs:
            if isinstance(run, dict) and "has_weights" in run:
                run["has_weights"] = run.get("id") in self.run_weights


def _check_data_path(value, key: str) -> None:
    """A data path must name a regular file or a folder, never a device or a pipe (``/dev/zero``)."""
    import stat

    from seqstudio.core.errors import DataError

    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, str) or not item:
            continue
        try:
            mode = os.stat(item).st_mode
        except OSError:
            continue  # a missing file gets the source's own message
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise DataError(f"the data path {item!r} is not a regular file (a device or a pipe)",
                            where=f"data option {key!r}", fix="choose a CSV or text file")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cpu_copy(state) -> dict[str, Any]:
    """A detached, contiguous CPU copy (safetensors refuses shared or strided storage)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


#: A weights file larger than this is refused before it is read (a damaged or foreign file).
MAX_WEIGHTS_BYTES = 8 * 1024 ** 3


def _load_weights(wpath: Path, sha: str | None) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    if not wpath.is_file():
        raise ProjectError(f"the weights file {wpath.name!r} is missing", where=str(wpath),
                           fix="keep the .safetensors file next to the project's .json, or retrain")
    if wpath.stat().st_size > MAX_WEIGHTS_BYTES:
        raise ProjectError(f"the weights file is larger than {MAX_WEIGHTS_BYTES // 1024 ** 3} GiB",
                           where=str(wpath), fix="open the .safetensors file that seqstudio saved")
    blob = wpath.read_bytes()
    if sha and hashlib.sha256(blob).hexdigest() != sha:
        raise ProjectError("the weights file does not belong to this project (its checksum differs)",
                           where=str(wpath), fix="restore the matching .safetensors file, or retrain")
    try:
        tensors = st_load(blob)
    except (SafetensorError, Exception) as exc:  # noqa: B014 - safetensors raises several kinds
        if isinstance(exc, SeqStudioError):
            raise
        raise ProjectError(f"the weights file is damaged: {exc}", where=str(wpath),
                           fix="restore it from a backup, or retrain") from None
    import torch

    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ProjectError(
            f"the weights hold NaN or infinite values ({', '.join(bad[:3])}"
            f"{f' and {len(bad) - 3} more' if len(bad) > 3 else ''})", where=str(wpath),
            fix="retrain (a run that diverged is not usable: lower the learning rate or clean the data)")
    return tensors


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
