"""Keras-readable HDF5 weight files, both layouts, written and read with h5py (never pickle).

``layout="legacy"`` is the Keras 2 / tf.keras layout, the one Keras 3 still reads for names ending in
``.h5`` / ``.hdf5`` (``keras.src.legacy.saving.legacy_h5_format``), which matches layers BY ORDER:

    /                     attrs: layer_names (every layer, in model order), backend, keras_version
    /<layer name>         attrs: weight_names, e.g. [b"lstm/lstm_cell/kernel:0", ...]
    /<layer name>/<weight name>      one dataset per weight, in Keras order (an empty list for layers
                                     without weights, which the reader skips)

``layout="v3"`` is Keras 3's ``.weights.h5`` layout (``keras.src.saving.saving_lib``, ``H5IOStore``),
which Keras addresses by the position of each layer among the model's layers OF ITS CLASS: the layer
key is the class name in snake case, made unique with _1, _2, ... ("lstm", "lstm_1", "dense"):

    /vars                                    attrs: name (the model's), no datasets
    /layers/<key>/vars                       attrs: name; Dense and Embedding weights "0", "1", ...
    /layers/<key>/cell/vars/0, 1, 2          SimpleRNN/LSTM/GRU: kernel, recurrent_kernel, bias
    /layers/time_distributed/layer/vars/0,1  the wrapped layer's weights

Layer names never decide anything: a fresh Keras session names its layers differently from
scratchrnn, so both readers match by order (v3: order within each class, like Keras itself).
Full-model files from ``keras_model.save("x.h5")`` (weights under /model_weights) read too.
"""

from __future__ import annotations

import re

import numpy as np

from .. import __version__
from .. import layers as layers_module
from ..saving import CheckpointError

LAYOUTS = ("legacy", "v3")
KERAS_2_VERSION = "2.15.0"  # the layout written by layout="legacy" (Keras reads only "1" specially)
_RECURRENT = (layers_module.SimpleRNN, layers_module.LSTM, layers_module.GRU)


def _h5py():
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - h5py is in the "parity" extra
        raise ImportError("Keras HDF5 weight files need h5py: pip install h5py "
                          "(or scratchrnn[parity])") from error
    return h5py


def _snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: SimpleRNN -> simple_rnn, LSTM -> lstm, TimeDistributed ->
    time_distributed."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def v3_keys(model_layers) -> list:
    """The group name of each layer under /layers in a .weights.h5 file (Keras's _get_unique_name)."""
    used: dict = {}
    keys = []
    for layer in model_layers:
        base = _snake_case(type(layer).__name__)
        if base in used:
            used[base] += 1
            keys.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            keys.append(base)
    return keys


def _v3_subpath(layer) -> str:
    """Where a layer's own weights sit below /layers/<key>."""
    if isinstance(layer, _RECURRENT):
        return "cell/vars"
    if isinstance(layer, layers_module.TimeDistributed):
        return "layer/vars"
    return "vars"


def _legacy_group_names(model_layers) -> list:
    """Layer names usable as HDF5 group names, unique within the file."""
    names, seen = [], set()
    for layer in model_layers:
        base = str(layer.name).replace("/", "_").strip(".") or "layer"
        name, i = base, 1
        while name in seen:
            name, i = f"{base}_{i}", i + 1
        seen.add(name)
        names.append(name)
    return names


def _legacy_weight_names(layer, group_name: str) -> list:
    """tf.keras 2 variable names: lstm/lstm_cell/kernel:0, dense/kernel:0, embedding/embeddings:0."""
    prefix = group_name
    if isinstance(layer, _RECURRENT):
        prefix = f"{group_name}/{_snake_case(type(layer).__name__)}_cell"
    return [f"{prefix}/{weight_name}:0" for weight_name in layer.weight_names]


def save_weights(model, path, layout: str) -> None:
    """Write ``model``'s weights to the HDF5 file ``path`` in ``layout`` ("legacy" or "v3")."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {list(LAYOUTS)}, got {layout!r}")
    if not model.built:
        raise ValueError("model: expected a built model to save; train it or call build() first")
    h5py = _h5py()
    with h5py.File(path, "w") as f:
        if layout == "legacy":
            _write_legacy(f, model)
        else:
            _write_v3(f, model)


def _write_legacy(f, model) -> None:
    group_names = _legacy_group_names(model.layers)
    f.attrs["layer_names"] = np.array([name.encode("utf8") for name in group_names])
    f.attrs["backend"] = b"tensorflow"
    f.attrs["keras_version"] = KERAS_2_VERSION.encode("utf8")
    f.attrs["written_by"] = f"scratchrnn {__version__}".encode()
    for layer, group_name in zip(model.layers, group_names):
        group = f.create_group(group_name)
        weight_names = _legacy_weight_names(layer, group_name)
        group.attrs["weight_names"] = np.array([n.encode("utf8") for n in weight_names], dtype="S")
        for weight_name, weight in zip(weight_names, layer.weights):
            group.create_dataset(weight_name, data=weight)


def _write_v3(f, model) -> None:
    f.create_group("vars").attrs["name"] = model.name
    root = f.create_group("layers")
    for layer, key in zip(model.layers, v3_keys(model.layers)):
        group = root.create_group(key)
        group.create_group("vars").attrs["name"] = layer.name
        subpath = _v3_subpath(layer)
        if subpath != "vars":
            holder = group.create_group(subpath)
            if isinstance(layer, layers_module.TimeDistributed):
                holder.attrs["name"] = layer.layer.name
            else:
                holder.attrs["name"] = f"{_snake_case(type(layer).__name__)}_cell"
        for i, weight in enumerate(layer.weights):
            group[subpath].create_dataset(str(i), data=weight)


# -- reading -----------------------------------------------------------------------------------------

def _walk(h5py, group, path, where):
    """The object at ``path`` below ``group`` (None when absent), refusing soft and external links."""
    node = group
    for part in str(path).split("/"):
        if not part:
            continue
        if not isinstance(node, h5py.Group) or part not in node:
            return None
        link = node.get(part, getclass=True, getlink=True)
        if link in (h5py.ExternalLink, h5py.SoftLink):
            raise CheckpointError(f"{where}: {path!r} goes through a {link.__name__}, which is not read")
        node = node[part]
    return node


def _read_dataset(h5py, group, name, where) -> np.ndarray:
    dataset = _walk(h5py, group, name, where)
    if dataset is None:
        raise CheckpointError(f"{where}: dataset {name!r} is missing")
    if not isinstance(dataset, h5py.Dataset):
        raise CheckpointError(f"{where}: {name!r} is not a dataset")
    if dataset.external or dataset.is_virtual:
        raise CheckpointError(f"{where}: {name!r} is an external or virtual dataset, which is not read")
    if dataset.dtype.kind not in "fiu":
        raise CheckpointError(f"{where}: {name!r} has dtype {dataset.dtype}, expected numbers")
    return np.asarray(dataset[()])


def _attribute_list(group, name) -> list:
    """A list-of-strings attribute, also when Keras split it into name0, name1, ... chunks."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values.extend(group.attrs[f"{name}{chunk}"])
            chunk += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _read_legacy(h5py, root, path) -> list:
    """[(layer name in the file, [arrays])] for the file's layers that have weights, in order."""
    found = []
    for name in _attribute_list(root, "layer_names"):
        group = _walk(h5py, root, name, repr(path))
        if not isinstance(group, h5py.Group):
            raise CheckpointError(f"{path!r}: layer group {name!r} (listed in layer_names) is missing")
        weight_names = _attribute_list(group, "weight_names")
        if weight_names:
            found.append((name, [_read_dataset(h5py, group, w, f"{path!r}, layer {name!r}")
                                 for w in weight_names]))
    return found


def _v3_group(h5py, f, path_in_file, where):
    node = _walk(h5py, f, path_in_file, where)
    return node if isinstance(node, h5py.Group) else None


def _v3_arrays(h5py, group, where) -> list:
    if group is None:
        return []
    names = sorted((n for n in group.keys() if n.isdigit()), key=int)
    if names != [str(i) for i in range(len(names))]:
        raise CheckpointError(f"{where}: expected datasets 0..{len(names) - 1}, got {names}")
    return [_read_dataset(h5py, group, n, where) for n in names]


def _read_v3(h5py, f, model, path) -> list:
    """[(key, [arrays])] for each of the model's layers, from a .weights.h5 layout."""
    prefix = "layers" if "layers" in f else "_layer_checkpoint_dependencies"  # Keras 2.13 wrote the latter
    keys = v3_keys(model.layers)
    found = []
    for layer, key in zip(model.layers, keys):
        where = f"{path!r}, {prefix}/{key}"
        arrays = _v3_arrays(h5py, _v3_group(h5py, f, f"{prefix}/{key}/{_v3_subpath(layer)}", where), where)
        if not arrays and _v3_subpath(layer) != "vars":  # weights kept by the layer itself
            arrays = _v3_arrays(h5py, _v3_group(h5py, f, f"{prefix}/{key}/vars", where), where)
        found.append((key, arrays))
    extra = []
    for key in f[prefix].keys():
        if key not in keys:
            group = f[prefix][key]
            if isinstance(group, h5py.Group) and _has_datasets(h5py, group):
                extra.append(key)
    if extra:
        raise CheckpointError(f"{path!r} holds weights for layers {sorted(extra)} that this model does not "
                              f"have (its layers are {keys}): it was saved from another architecture")
    return found


def _has_datasets(h5py, group) -> bool:
    hits = []
    group.visititems(lambda name, obj: hits.append(name) if isinstance(obj, h5py.Dataset) else None)
    return bool(hits)


def _build_from(model, arrays_of_first, path) -> None:
    """Build an unbuilt model: from its first layer's input shape, or from the first weight's shape."""
    if model.layers and model.layers[0].batch_input_shape is not None:
        model.build()
        return
    first = model.layers[0] if model.layers else None
    if first is None or not arrays_of_first:
        raise CheckpointError(f"{path!r}: the model is not built and its input shape cannot be told from "
                              "the file; call model.build(input_shape) first")
    if isinstance(first, layers_module.Embedding):
        model.build((None, None))
    elif isinstance(first, layers_module.Dense):
        model.build((None, arrays_of_first[0].shape[0]))
    else:
        model.build((None, None, arrays_of_first[0].shape[0]))


def _has_weights(layer) -> bool:
    if layer.built:
        return bool(layer.weights)
    inner = layer.layer if isinstance(layer, layers_module.TimeDistributed) else layer
    return not isinstance(inner, layers_module.Activation)


def _describe(layer) -> str:
    return f"{layer.name!r} ({type(layer).__name__})"


def load_weights(model, path) -> None:
    """Set ``model``'s weights from a Keras HDF5 weight file of either layout (detected from its
    contents, not its name), written by scratchrnn or by Keras. Raises CheckpointError, with the
    model's weights untouched, when the file is not one or holds another architecture's weights."""
    h5py = _h5py()
    path = str(path)
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise FileNotFoundError(f"filepath: no weight file at {path!r}") from None
    except OSError as error:
        raise CheckpointError(f"{path!r} is not a readable HDF5 file ({error})") from None
    with f:
        if "layer_names" in f.attrs:
            layout, found = "legacy", _read_legacy(h5py, f, path)
        elif "model_weights" in f and "layer_names" in f["model_weights"].attrs:
            layout, found = "legacy", _read_legacy(h5py, f["model_weights"], path)
        elif "layers" in f or "_layer_checkpoint_dependencies" in f:
            layout, found = "v3", _read_v3(h5py, f, model, path)
        else:
            raise CheckpointError(f"{path!r} is HDF5 but not a Keras weight file: it has neither the "
                                  "legacy layer_names attribute nor the .weights.h5 'layers' group")
    if layout == "legacy":
        weighted = [layer for layer in model.layers if _has_weights(layer)]
        if len(found) != len(weighted):
            raise CheckpointError(
                f"{path!r} holds weights for {len(found)} layer(s) {[name for name, _ in found]}, this model "
                f"has {len(weighted)} layer(s) with weights {[layer.name for layer in weighted]}: it was "
                "saved from another architecture")
        pairs = list(zip(weighted, found))
    else:
        pairs = list(zip(model.layers, found))
    if not model.built:
        first = next((arrays for layer, (_, arrays) in pairs if layer is model.layers[0]), None)
        _build_from(model, first, path)
    for layer, (stored_name, arrays) in pairs:
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if expected != got:
            names = list(layer.weight_names)
            raise CheckpointError(
                f"{path!r}: layer #{model.layers.index(layer)} {_describe(layer)} expects "
                f"{len(expected)} weight array(s) {names} of shapes {expected}; the file's layer "
                f"{stored_name!r} has {len(got)} of shapes {got} (saved from another architecture?)")
    for _, (stored_name, arrays) in pairs:
        if not all(np.all(np.isfinite(a)) for a in arrays):
            raise CheckpointError(f"{path!r}: the weights of the file's layer {stored_name!r} are not all "
                                  "finite")
    for layer, (_, arrays) in pairs:
        if arrays:
            layer.set_weights([np.asarray(a, dtype=layer.dtype) for a in arrays])
