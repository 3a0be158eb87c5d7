"""The native checkpoint format, and the dispatch of weight files by name.

A checkpoint is one ``.npz`` file (a zip of ``.npy`` arrays, each with a CRC-32), read with
``allow_pickle=False`` so that loading never runs code. It holds:

    header            UTF-8 JSON as a uint8 array: format name and version, the architecture, the
                      dtype, the weight list (layer, name, shape), the compile settings, the epoch and
                      step counters, the random-number state, the vocabulary (optional)
    weight_<i>        model.get_weights()[i]
    optimizer_<key>   the optimizer's slots and iteration count (full checkpoints)
    state_<i>         the carried state of stateful layers, in layer order

Writes are atomic: the file is written under a temporary name in the same folder, flushed to disk
and renamed over the target, so a crash leaves either the old file or the new one, never half of one.
A process killed while writing (SIGKILL, power loss) may leave its temporary file behind, named
``.<target name>.<random>.tmp`` beside the target: loading never reads it and a later save does not
touch it (it cannot tell a dead writer's file from a live one's); delete such files when no training
is running. A model whose weights hold NaN or infinity is refused (ValueError) before anything is
written, so that a diverged run cannot replace the last good checkpoint with an unloadable one.

Reading never executes anything from the file (no pickle): every failure to read, parse or rebuild
raises ``CheckpointError`` (a ValueError), a missing file ``FileNotFoundError``.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import tokenize
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import __version__, rng

FORMAT = "scratchrnn-checkpoint"
VERSION = 1
H5_SUFFIXES = (".h5", ".hdf5")


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint for this purpose; the message says why."""


@contextmanager
def atomic_write(filepath):
    """Yield a temporary path beside ``filepath``; on success it replaces ``filepath`` at once."""
    target = Path(filepath)
    if not target.parent.exists():
        raise FileNotFoundError(f"filepath: expected an existing folder, got {str(target.parent)!r}")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)


def _weight_list(model) -> list:
    return [{"layer": layer.name, "name": name, "shape": list(weight.shape)}
            for layer in model.layers for name, weight in zip(layer.weight_names, layer.weights)]


def _check_finite(model, filepath) -> None:
    for spec, weight in zip(_weight_list(model), (w for layer in model.layers for w in layer.weights)):
        if not np.all(np.isfinite(weight)):
            raise ValueError(f"model: expected finite weights to save, got NaN or infinity in "
                             f"{spec['layer']}/{spec['name']}; {str(filepath)!r} is left as it was")


def save_checkpoint(model, filepath, include_optimizer: bool = True) -> None:
    """``model.save``: the native checkpoint, except under Keras's suffixes, whose formats a suffix
    promises: ``.h5``/``.hdf5`` get Keras's HDF5 weights (which Keras's ``load_weights`` and ours read;
    Keras's whole-model HDF5, with the architecture, is not written yet), ``.keras`` is refused."""
    name = str(filepath)
    if name.endswith(".keras"):
        raise ValueError(f"filepath: {name!r} names Keras's .keras whole-model format, which scratchrnn "
                         "does not write yet; save to a .npz (scratchrnn's checkpoint, read by load_model) "
                         "or a .weights.h5 (Keras's weights, read by load_weights in both libraries)")
    if name.endswith(H5_SUFFIXES):
        save_weights(model, filepath)
        return
    if not model.built:
        raise ValueError("model: expected a built model to save; train it or call build() first")
    _check_finite(model, filepath)
    header = {
        "format": FORMAT, "version": VERSION, "scratchrnn_version": __version__,
        "model": model.get_config(), "build_input_shape": list(model.inputs[0].shape),
        "dtype": str(model.dtype), "weights": _weight_list(model),
        "epoch": model.epoch, "step": model.step, "rng": rng.get_state(),
        "vocabulary": None if model.vocabulary is None else list(model.vocabulary),
        "compile": None, "optimizer_state": [], "partial_epoch": model.partial_epoch,
        "last_logs": model.last_logs,
    }
    arrays = {f"weight_{i}": w for i, w in enumerate(model.get_weights())}
    states = [s for layer in model.layers if getattr(layer, "stateful", False) and layer.states
              for s in layer.states]
    arrays.update({f"state_{i}": s for i, s in enumerate(states)})
    if include_optimizer and model.optimizer is not None:
        several = len(model.losses) > 1  # one loss and metrics list each, and the loss weights
        header["compile"] = {"loss": [loss.get_config() for loss in model.losses] if several else
                             model.loss.get_config(),
                             "metrics": model._output_metrics if several else model.metrics,
                             "loss_weights": model.loss_weights,
                             "optimizer": model.optimizer.get_config()}
        optimizer_state = model.optimizer.get_state()
        header["optimizer_state"] = sorted(optimizer_state)
        arrays.update({f"optimizer_{k}": np.asarray(v) for k, v in optimizer_state.items()})
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with atomic_write(filepath) as temporary:
        with open(temporary, "wb") as stream:
            np.savez(stream, **arrays)


_ZIP_MAGIC = b"PK\x03\x04"
# What NumPy's and zipfile's readers raise on damaged or hostile bytes: each means "not readable".
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError,
                IndexError, TypeError, UnicodeDecodeError, NotImplementedError, RuntimeError, OverflowError,
                MemoryError, SyntaxError, tokenize.TokenError, struct.error, zlib.error)
# What rebuilding a model from a header that passed _check_header may still raise: its values are
# checked by the layers and optimizers, whose errors name what was wrong.
_REBUILD_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError, MemoryError)


def read_checkpoint(filepath) -> tuple[dict, dict]:
    """(header, arrays) of a checkpoint file; CheckpointError for anything that is not one.

    Nothing in the file is executed: only a zip of ``.npy`` arrays is opened, with
    ``allow_pickle=False`` (object arrays are refused), and the header is JSON whose every field is
    checked for its type before it is used."""
    path = Path(filepath)
    if not path.is_file():
        raise FileNotFoundError(f"filepath: no checkpoint file at {str(path)!r}")
    where = repr(str(path))
    with open(path, "rb") as stream:
        head = stream.read(len(_ZIP_MAGIC))
    if not head:
        raise CheckpointError(f"{where} is not a readable scratchrnn checkpoint: expected an .npz archive, "
                              "got an empty file")
    if head != _ZIP_MAGIC:
        raise CheckpointError(f"{where} is not a readable scratchrnn checkpoint: expected an .npz "
                              f"archive (a zip file, starting with {_ZIP_MAGIC!r}), got a file starting with "
                              f"{head!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except _READ_ERRORS as error:
        raise CheckpointError(f"{where} is not a readable scratchrnn checkpoint "
                              f"({type(error).__name__}: {error})") from None
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):  # a zip member that is not an .npy array
            raise CheckpointError(f"{where} is not a scratchrnn checkpoint: its member {name!r} is not a "
                                  "NumPy array")
    header_bytes = arrays.pop("header", None)
    if header_bytes is None or header_bytes.dtype != np.uint8 or header_bytes.ndim != 1:
        raise CheckpointError(f"{where} is not a scratchrnn checkpoint: it has no header")
    try:
        header = json.loads(header_bytes.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CheckpointError(f"{where}: its header is not valid JSON ({error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{where} is not a scratchrnn checkpoint (format "
                              f"{header.get('format') if isinstance(header, dict) else None!r})")
    version = header.get("version")
    if not _is_int(version) or version > VERSION or version < 1:
        raise CheckpointError(f"{where} has format version {version!r}; this scratchrnn "
                              f"{__version__} reads versions 1..{VERSION}: upgrade scratchrnn to load it")
    for key in ("model", "weights", "build_input_shape", "dtype", "epoch", "step"):
        if key not in header:
            raise CheckpointError(f"{where}: its header lacks {key!r}")
    _check_header(header, where)
    return header, arrays


def _is_int(value, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _check_header(header: dict, where: str) -> None:
    """CheckpointError naming the first header field whose type or range is wrong."""

    def require(ok: bool, key: str, expected: str) -> None:
        if not ok:
            value = repr(header.get(key))
            raise CheckpointError(f"{where}: header field {key!r}: expected {expected}, got "
                                  f"{value[:80] + '...' if len(value) > 80 else value}")

    model = header["model"]
    require(isinstance(model, dict) and isinstance(model.get("layers"), list) and len(model["layers"]) > 0
            and all(isinstance(spec, dict) and isinstance(spec.get("class_name"), str)
                    and isinstance(spec.get("config"), dict) for spec in model["layers"])
            and isinstance(model.get("name"), (str, type(None))), "model",
            'a dict {"name": str, "layers": [{"class_name": str, "config": dict}, ...]}')
    shape = header["build_input_shape"]
    require(isinstance(shape, list) and len(shape) > 0
            and all(size is None or _is_int(size, 1) for size in shape), "build_input_shape",
            "a list of positive integers or null")
    require(header["dtype"] in ("float32", "float64"), "dtype", "'float32' or 'float64'")
    require(isinstance(header["weights"], list)
            and all(isinstance(w, dict) and isinstance(w.get("layer"), str) and isinstance(w.get("name"), str)
                    and isinstance(w.get("shape"), list) and all(_is_int(n) for n in w["shape"])
                    for w in header["weights"]), "weights",
            'a list of {"layer": str, "name": str, "shape": [int, ...]}')
    for key in ("epoch", "step"):
        require(_is_int(header[key]), key, "a non-negative integer")
    require(header.get("vocabulary") is None or _is_str_list(header["vocabulary"]), "vocabulary",
            "null or a list of strings")
    settings = header.get("compile")
    require(settings is None or (
        isinstance(settings, dict) and isinstance(settings.get("optimizer"), dict)
        and ((isinstance(settings.get("loss"), str) and _is_str_list(settings.get("metrics")))
             or (_is_str_list(settings.get("loss")) and isinstance(settings.get("metrics"), list)
                 and all(_is_str_list(m) for m in settings["metrics"])))
        and (settings.get("loss_weights") is None or (isinstance(settings["loss_weights"], list) and all(
            isinstance(w, (int, float)) and not isinstance(w, bool) for w in settings["loss_weights"])))),
        "compile", 'null or {"loss": str or [str, ...], "metrics": [str, ...] or [[str, ...], ...], '
        '"loss_weights": [number, ...], "optimizer": dict}')
    require(_is_str_list(header.get("optimizer_state", [])), "optimizer_state", "a list of array names")
    require(header.get("rng") is None or isinstance(header["rng"], dict), "rng", "null or a dict")
    last_logs = header.get("last_logs")
    require(last_logs is None or (isinstance(last_logs, dict) and all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
        for k, v in last_logs.items())), "last_logs", "null or a dict of names to numbers")
    partial = header.get("partial_epoch")
    require(partial is None or (isinstance(partial, dict) and _is_int(partial.get("epoch"))
                                and _is_int(partial.get("batches"), 1)
                                and isinstance(partial.get("rng"), dict)),
            "partial_epoch", 'null or {"epoch": int, "batches": int >= 1, "rng": dict}')


def _stored_weights(header, arrays, path) -> list:
    try:
        weights = [arrays[f"weight_{i}"] for i in range(len(header["weights"]))]
    except KeyError as error:
        raise CheckpointError(f"{str(path)!r}: weight array {error} is missing") from None
    for spec, weight in zip(header["weights"], weights):
        name = f"{spec['layer']}/{spec['name']}"
        if list(weight.shape) != list(spec["shape"]):
            raise CheckpointError(f"{str(path)!r}: weight {name} has shape "
                                  f"{weight.shape}, its header says {tuple(spec['shape'])}")
        if weight.dtype.kind != "f" or not np.all(np.isfinite(weight)):
            got = f"dtype {weight.dtype}" if weight.dtype.kind != "f" else "NaN or infinity"
            raise CheckpointError(f"{str(path)!r}: weight {name}: expected finite floating-point numbers, "
                                  f"got {got}")
    return weights


def _planned_weights(model, input_shape) -> list:
    """[(name, shape)] of the weights ``model`` would make for ``input_shape``, in get_weights order,
    worked out without allocating them (a damaged header must not ask for terabytes)."""
    planned, shape = [], tuple(input_shape)
    for layer in model.layers:
        layer.check_input_shape(shape)
        planned += list(zip(layer.weight_names, layer.weight_shapes(shape)))
        shape = layer.compute_output_shape(shape)
    return [(name, tuple(size)) for name, size in planned]


def _check_architecture(model, header, path, input_shape=None) -> None:
    if input_shape is None:
        expected = [(w["name"], tuple(w["shape"])) for w in _weight_list(model)]
    else:
        try:
            expected = _planned_weights(model, input_shape)
        except _REBUILD_ERRORS as error:
            raise CheckpointError(f"{str(path)!r}: its architecture cannot be rebuilt ({error})") from None
    stored = [(w["name"], tuple(w["shape"])) for w in header["weights"]]
    if expected != stored:
        raise CheckpointError(f"{str(path)!r} holds weights for another architecture: it has "
                              f"{stored}, this model expects {expected}")


def _restore_states(model, arrays) -> None:
    index = 0
    for layer in model.layers:
        if getattr(layer, "stateful", False) and f"state_{index}" in arrays:
            layer.reset_states([arrays[f"state_{index + i}"] for i in range(layer.state_count)])
            index += layer.state_count


def load_checkpoint(filepath, restore_rng: bool = True):
    """The model saved in ``filepath``; CheckpointError (or FileNotFoundError) for anything else.
    The library's random state is left as it was, unless the load succeeds with ``restore_rng``."""
    from . import losses, optimizers
    from .models import Model, Sequential

    header, arrays = read_checkpoint(filepath)
    where = repr(str(filepath))
    functional = header["model"].get("class_name") == "Functional"
    caller_rng = rng.get_state()
    try:
        # A functional model's layers are built as its graph is made again; a Sequential's weights are
        # planned from the header's input shape first, and built only when they match the file's.
        model = (Model if functional else Sequential).from_config(header["model"])
    except _REBUILD_ERRORS as error:
        raise CheckpointError(f"{where}: its architecture cannot be rebuilt ({error})") from None
    finally:  # building drew initial weights that the file's replace: not the caller's draws
        rng.set_state(caller_rng)
    if str(model.dtype) != header["dtype"]:
        raise CheckpointError(f"{where}: its header says dtype {header['dtype']}, its layers "
                              f"{model.dtype}")
    _check_architecture(model, header, filepath, input_shape=None if functional else
                        header["build_input_shape"])
    weights = _stored_weights(header, arrays, filepath)
    stage = "its architecture cannot be rebuilt"
    try:
        try:
            if not functional:
                model.build(tuple(header["build_input_shape"]))
        finally:
            rng.set_state(caller_rng)
        stage = "its weights or carried states cannot be restored"
        model.set_weights(weights)
        _restore_states(model, arrays)
        model.epoch, model.step = header["epoch"], header["step"]
        model.vocabulary = header.get("vocabulary")
        model.last_logs = header.get("last_logs")
        if header.get("compile"):
            stage = "its compile settings or optimizer state cannot be restored"
            settings = header["compile"]
            loss = settings["loss"]
            loss = [losses.get(item) for item in loss] if isinstance(loss, list) else losses.get(loss)
            model.compile(optimizer=optimizers.from_config(settings["optimizer"]), loss=loss,
                          metrics=settings["metrics"], loss_weights=settings.get("loss_weights"))
            state = {}
            for key in header.get("optimizer_state", []):
                value = arrays.get(f"optimizer_{key}")
                if value is None or (value.dtype.kind == "f" and not np.all(np.isfinite(value))):
                    raise ValueError(f"optimizer array {key!r} is "
                                     f"{'missing' if value is None else 'not finite'}")
                state[key] = value
            if state:
                model.optimizer.set_state(state)
        stage = "its random-number state cannot be restored"
        partial = header.get("partial_epoch")
        if partial is not None:
            np.random.PCG64().state = partial["rng"]  # checked now, used when fit resumes the epoch
            model.partial_epoch = partial
        if restore_rng and header.get("rng"):
            rng.set_state(header["rng"])
    except CheckpointError:
        raise
    except _REBUILD_ERRORS as error:
        raise CheckpointError(f"{where}: {stage} ({type(error).__name__}: {error})") from None
    return model


def save_weights(model, filepath) -> None:
    name = str(filepath)
    if name.endswith(H5_SUFFIXES):
        from .interop import keras_h5

        if model.built:
            _check_finite(model, filepath)
        with atomic_write(filepath) as temporary:
            keras_h5.save_weights(model, temporary, layout="v3" if name.endswith(".weights.h5") else "legacy")
    else:
        save_checkpoint(model, filepath, include_optimizer=False)


def load_weights(model, filepath) -> None:
    name = str(filepath)
    if name.endswith(H5_SUFFIXES):
        from .interop import keras_h5

        keras_h5.load_weights(model, filepath)
        return
    header, arrays = read_checkpoint(filepath)
    if not model.built:
        _check_architecture(model, header, filepath, input_shape=header["build_input_shape"])
        model.build(tuple(header["build_input_shape"]))
    _check_architecture(model, header, filepath)
    weights = _stored_weights(header, arrays, filepath)
    try:
        model.set_weights(weights)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{str(filepath)!r}: its weights cannot be restored ({error})") from None


def check_vocabulary(stored, expected, what: str = "checkpoint") -> None:
    """Raise when a checkpoint's vocabulary differs from the one the caller's text needs."""
    if stored is not None and list(stored) != list(expected):
        missing = sorted(set(expected) - set(stored))
        raise CheckpointError(f"{what}: its vocabulary of {len(stored)} characters differs from this "
                              f"text's {len(expected)} (characters not in the checkpoint: {missing[:20]!r})")
