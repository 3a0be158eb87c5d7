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
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
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


def save_checkpoint(model, filepath, include_optimizer: bool = True) -> None:
    if not model.built:
        raise ValueError("model: expected a built model to save; train it or call build() first")
    header = {
        "format": FORMAT, "version": VERSION, "scratchrnn_version": __version__,
        "model": model.get_config(), "build_input_shape": list(model.build_input_shape),
        "dtype": str(model.dtype), "weights": _weight_list(model),
        "epoch": model.epoch, "step": model.step, "rng": rng.get_state(),
        "vocabulary": None if model.vocabulary is None else list(model.vocabulary),
        "compile": None, "optimizer_state": [],
    }
    arrays = {f"weight_{i}": w for i, w in enumerate(model.get_weights())}
    states = [s for layer in model.layers if getattr(layer, "stateful", False) and layer.states
              for s in layer.states]
    arrays.update({f"state_{i}": s for i, s in enumerate(states)})
    if include_optimizer and model.optimizer is not None:
        header["compile"] = {"loss": model.loss.get_config(), "metrics": model.metrics,
                             "optimizer": model.optimizer.get_config()}
        optimizer_state = model.optimizer.get_state()
        header["optimizer_state"] = sorted(optimizer_state)
        arrays.update({f"optimizer_{k}": np.asarray(v) for k, v in optimizer_state.items()})
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with atomic_write(filepath) as temporary:
        with open(temporary, "wb") as stream:
            np.savez(stream, **arrays)


def read_checkpoint(filepath) -> tuple[dict, dict]:
    """(header, arrays) of a checkpoint file; CheckpointError for anything that is not one."""
    path = Path(filepath)
    if not path.is_file():
        raise FileNotFoundError(f"filepath: no checkpoint file at {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{str(path)!r} is not a readable scratchrnn checkpoint "
                              f"({type(error).__name__}: {error})") from None
    header_bytes = arrays.pop("header", None)
    if header_bytes is None or header_bytes.dtype != np.uint8 or header_bytes.ndim != 1:
        raise CheckpointError(f"{str(path)!r} is not a scratchrnn checkpoint: it has no header")
    try:
        header = json.loads(header_bytes.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{str(path)!r}: its header is not valid JSON ({error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a scratchrnn checkpoint (format "
                              f"{header.get('format') if isinstance(header, dict) else None!r})")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise CheckpointError(f"{str(path)!r} has format version {version!r}; this scratchrnn "
                              f"{__version__} reads versions 1..{VERSION}: upgrade scratchrnn to load it")
    for key in ("model", "weights", "build_input_shape", "dtype", "epoch", "step"):
        if key not in header:
            raise CheckpointError(f"{str(path)!r}: its header lacks {key!r}")
    return header, arrays


def _stored_weights(header, arrays, path) -> list:
    try:
        weights = [arrays[f"weight_{i}"] for i in range(len(header["weights"]))]
    except KeyError as error:
        raise CheckpointError(f"{str(path)!r}: weight array {error} is missing") from None
    for spec, weight in zip(header["weights"], weights):
        if list(weight.shape) != list(spec["shape"]):
            raise CheckpointError(f"{str(path)!r}: weight {spec['layer']}/{spec['name']} has shape "
                                  f"{weight.shape}, its header says {tuple(spec['shape'])}")
    return weights


def _check_architecture(model, header, path) -> None:
    expected = [(w["name"], tuple(w["shape"])) for w in _weight_list(model)]
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
    from . import layers, losses, optimizers
    from .models import Sequential

    header, arrays = read_checkpoint(filepath)
    try:
        model = Sequential([layers.from_config(spec["class_name"], spec["config"])
                            for spec in header["model"]["layers"]], name=header["model"].get("name"))
        model.build(tuple(header["build_input_shape"]))
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(f"{str(filepath)!r}: its architecture cannot be rebuilt ({error})") from None
    _check_architecture(model, header, filepath)
    model.set_weights(_stored_weights(header, arrays, filepath))
    _restore_states(model, arrays)
    model.epoch, model.step = int(header["epoch"]), int(header["step"])
    model.vocabulary = header.get("vocabulary")
    if header.get("compile"):
        settings = header["compile"]
        model.compile(optimizer=optimizers.from_config(settings["optimizer"]),
                      loss=losses.get(settings["loss"]), metrics=settings["metrics"])
        state = {key: arrays[f"optimizer_{key}"] for key in header["optimizer_state"]}
        if state:
            model.optimizer.set_state(state)
    if restore_rng and header.get("rng"):
        rng.set_state(header["rng"])
    return model


def save_weights(model, filepath) -> None:
    name = str(filepath)
    if name.endswith(H5_SUFFIXES):
        from .interop import keras_h5

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
        model.build(tuple(header["build_input_shape"]))
    _check_architecture(model, header, filepath)
    model.set_weights(_stored_weights(header, arrays, filepath))


def check_vocabulary(stored, expected, what: str = "checkpoint") -> None:
    """Raise when a checkpoint's vocabulary differs from the one the caller's text needs."""
    if stored is not None and list(stored) != list(expected):
        missing = sorted(set(expected) - set(stored))
        raise CheckpointError(f"{what}: its vocabulary of {len(stored)} characters differs from this "
                              f"text's {len(expected)} (characters not in the checkpoint: {missing[:20]!r})")
