"""Keras-readable HDF5 weight files, both layouts, written and read with h5py (never pickle), for
Sequential and functional models of every scratchrnn layer.

``layout="legacy"`` is the Keras 2 / tf.keras ``save_weights("x.h5")`` layout, the one Keras 3 still
reads for names ending in ``.h5`` / ``.hdf5`` (``keras.src.legacy.saving.legacy_h5_format``), which
matches the layers that have weights BY ORDER:

    /                     attrs: layer_names (every layer in model order, a functional model's
                          InputLayers too), backend, keras_version
    /<layer name>         attrs: weight_names, e.g. [b"lstm/lstm_cell/kernel:0", ...]; [] when none
    /<layer name>/<weight name>      one dataset per weight, in Keras order. Inner layers name the
                                     path: "bidirectional/forward_lstm/lstm_cell/kernel:0", then the
                                     backward layer's; TimeDistributed: "time_distributed/kernel:0"
    /top_level_model_weights         attrs: weight_names [] (a model has no weights of its own)

``layout="v3"`` is Keras 3's ``.weights.h5`` layout (``keras.src.saving.saving_lib``, ``H5IOStore``).
Keras walks the model's layers and, inside each, the layers it holds, and gives every object a group
with a ``vars`` subgroup (attr ``name``; datasets "0", "1", ... for its own weights, in Keras order).
A layer's key is its class name in snake case, made unique with _1, _2, ... in the order of the
model's layers ("lstm", "lstm_1", "input_layer", "conv1d"), so layers are matched by their position
among the layers of their class:

    /vars                                      attrs: name (the model's), no datasets
    /layers/<key>/vars                         every layer, weights or not (InputLayer, Dropout, ...);
                                               Dense, Embedding, Conv1D keep their weights here
    /layers/<key>/cell/vars/0, 1, 2            SimpleRNN/LSTM/GRU: kernel, recurrent_kernel, bias
    /layers/<key>/layer/...                    TimeDistributed: the wrapped layer, laid out as above
    /layers/<key>/forward_layer/..., backward_layer/...   Bidirectional: each direction as a
                                               recurrent layer (cell/vars/0, 1, 2)

Layer names never decide anything: a fresh Keras session names its layers differently from
scratchrnn, so both readers match by order (v3: order within each class, like Keras itself).
Full-model files from ``keras_model.save("x.h5")`` (weights under /model_weights) read too. A file of
another architecture raises CheckpointError naming the layer and what differs, the weights untouched.
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
_TOP_LEVEL = "top_level_model_weights"  # the legacy group of a model's own weights (none here)
_HDF5_OBJECT_HEADER_LIMIT = 64512  # bytes an HDF5 attribute may hold; Keras splits longer lists


def _h5py():
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - h5py is in the "parity" extra
        raise ImportError("Keras HDF5 weight files need h5py: pip install h5py "
                          "(or scratchrnn[parity])") from error
    return h5py


def _snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: SimpleRNN -> simple_rnn, LSTM -> lstm, TimeDistributed ->
    time_distributed, SpatialDropout1D -> spatial_dropout1d."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _cell_name(layer) -> str:
    """The name of a Keras recurrent layer's cell: lstm_cell, gru_cell, simple_rnn_cell."""
    kind = next(cls for cls in _RECURRENT if isinstance(layer, cls))
    return f"{_snake_case(kind.__name__)}_cell"


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


def _v3_entries(layer, path: str) -> list:
    """The objects Keras 3 saves for ``layer`` at ``path``, in the order saving_lib walks them (the
    layer, then the layers it holds by attribute name): [(group path, the name Keras records, the
    indices in ``layer.weights`` of the datasets "0", "1", ... of path/vars)]. Works unbuilt: the
    counts come from ``weight_names``."""
    count = len(layer.weight_names)
    if isinstance(layer, _RECURRENT):  # the weights belong to its cell
        return [(path, layer.name, []), (f"{path}/cell", _cell_name(layer), list(range(count)))]
    if isinstance(layer, layers_module.TimeDistributed):
        return [(path, layer.name, []), *_v3_entries(layer.layer, f"{path}/layer")]
    if isinstance(layer, layers_module.Bidirectional):
        # weights: forward's then backward's; Keras visits backward_layer first (sorted attributes)
        split = len(layer.forward_layer.weight_names)
        backward = [(p, name, [split + i for i in indices])
                    for p, name, indices in _v3_entries(layer.backward_layer, f"{path}/backward_layer")]
        return [(path, layer.name, []), *backward, *_v3_entries(layer.forward_layer, f"{path}/forward_layer")]
    return [(path, layer.name, list(range(count)))]


def _legacy_group_names(model_layers) -> list:
    """Layer names usable as HDF5 group names, unique within the file."""
    names, seen = [], {_TOP_LEVEL}
    for layer in model_layers:
        base = _path_part(layer.name) or "layer"
        name, i = base, 1
        while name in seen:
            name, i = f"{base}_{i}", i + 1
        seen.add(name)
        names.append(name)
    return names


def _path_part(name) -> str:
    return str(name).replace("/", "_").strip(".")


def _legacy_weight_names(layer, prefix: str) -> list:
    """tf.keras 2 variable names: lstm/lstm_cell/kernel:0, dense/kernel:0, embedding/embeddings:0,
    bidirectional/forward_lstm/lstm_cell/kernel:0 (then backward_lstm's), time_distributed/kernel:0."""
    if isinstance(layer, layers_module.TimeDistributed):
        return _legacy_weight_names(layer.layer, prefix)
    if isinstance(layer, layers_module.Bidirectional):
        forward, backward = layer.forward_layer, layer.backward_layer
        names = [_path_part(forward.name), _path_part(backward.name)]
        if names[0] == names[1]:  # a backward_layer given with the forward copy's name
            names = [f"forward_{names[0]}", f"backward_{names[1]}"]
        return [*_legacy_weight_names(forward, f"{prefix}/{names[0]}"),
                *_legacy_weight_names(backward, f"{prefix}/{names[1]}")]
    if isinstance(layer, _RECURRENT):
        prefix = f"{prefix}/{_cell_name(layer)}"
    return [f"{prefix}/{weight_name}:0" for weight_name in layer.weight_names]


def _save_attribute_list(group, name: str, values: list) -> None:
    """Keras's ``save_attributes_to_hdf5_group``: the list as one attribute, or split into name0,
    name1, ... when it is longer than an HDF5 attribute may be. Names are fixed-length byte strings,
    as tf.keras wrote them (h5py reads them back as bytes); an empty list is Keras's empty array."""
    data = np.array(values, dtype="S") if values else np.array([])
    chunks = 1
    while any(part.nbytes > _HDF5_OBJECT_HEADER_LIMIT for part in np.array_split(data, chunks)):
        chunks += 1
    if chunks == 1:
        group.attrs[name] = data
    else:
        for i, part in enumerate(np.array_split(data, chunks)):
            group.attrs[f"{name}{i}"] = part


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
    _save_attribute_list(f, "layer_names", [name.encode("utf8") for name in group_names])
    f.attrs["backend"] = b"tensorflow"
    f.attrs["keras_version"] = KERAS_2_VERSION.encode("utf8")
    f.attrs["written_by"] = f"scratchrnn {__version__}".encode()
    for layer, group_name in sorted(zip(model.layers, group_names), key=lambda pair: pair[1]):  # as Keras
        group = f.create_group(group_name)
        weight_names = _legacy_weight_names(layer, group_name)
        _save_attribute_list(group, "weight_names", [n.encode("utf8") for n in weight_names])
        for weight_name, weight in zip(weight_names, layer.weights, strict=True):
            group.create_dataset(weight_name, data=weight)
    _save_attribute_list(f.create_group(_TOP_LEVEL), "weight_names", [])


def _write_v3(f, model) -> None:
    f.create_group("vars").attrs["name"] = model.name
    for layer, key in zip(model.layers, v3_keys(model.layers)):
        weights = list(layer.weights)
        for path, name, indices in _v3_entries(layer, f"layers/{key}"):
            holder = f.require_group(path).create_group("vars")
            holder.attrs["name"] = name
            for i, index in enumerate(indices):
                holder.create_dataset(str(i), data=weights[index])


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
        values = list(np.atleast_1d(group.attrs[name]))
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values.extend(np.atleast_1d(group.attrs[f"{name}{chunk}"]))
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


def _v3_arrays(h5py, f, vars_path, where) -> tuple:
    """(the datasets "0", "1", ... of the group ``vars_path`` as arrays, their paths); none when the
    group is absent, as Keras reads it."""
    group = _walk(h5py, f, vars_path, where)
    if not isinstance(group, h5py.Group):
        return [], []
    names = sorted((n for n in group.keys() if n.isdigit()), key=int)
    if names != [str(i) for i in range(len(names))]:
        raise CheckpointError(f"{where}: expected datasets 0..{len(names) - 1} in {vars_path!r}, got {names}")
    return ([_read_dataset(h5py, group, n, f"{where}, {vars_path!r}") for n in names],
            [f"{group.name}/{n}" for n in names])


def _dataset_paths(h5py, group) -> list:
    """The absolute paths of every dataset below ``group``."""
    hits = []
    group.visititems(lambda name, obj: hits.append(obj.name) if isinstance(obj, h5py.Dataset) else None)
    return hits


def _read_v3(h5py, f, model, path) -> list:
    """[(key, [arrays in the order of layer.weights])] for each of the model's layers, from a
    .weights.h5 layout; CheckpointError when the file's layers or their weight counts differ."""
    prefix = "layers" if "layers" in f else "_layer_checkpoint_dependencies"  # Keras 2.13 wrote the latter
    root = _walk(h5py, f, prefix, repr(path))
    if not isinstance(root, h5py.Group):
        raise CheckpointError(f"{path!r}: {prefix!r} is not a group, so this is not a Keras weight file")
    keys = v3_keys(model.layers)
    groups = {key: root[key] for key in root.keys()  # links to elsewhere are never followed
              if root.get(key, getlink=True).__class__ is h5py.HardLink and isinstance(root[key], h5py.Group)}
    extra = [key for key, group in groups.items() if key not in keys and _dataset_paths(h5py, group)]
    if extra:
        raise CheckpointError(f"{path!r} holds weights for layers {sorted(extra)} that this model does not "
                              f"have (its layers are {keys}): it was saved from another architecture")
    found, read = [], set()
    for number, (layer, key) in enumerate(zip(model.layers, keys)):
        where = f"{path!r}, {prefix}/{key}"
        count = len(layer.weight_names)
        entries = [(entry_path, indices, *_v3_arrays(h5py, f, f"{entry_path}/vars", where))
                   for entry_path, _, indices in _v3_entries(layer, f"{prefix}/{key}")]
        if (len(entries) > 1 and count and len(entries[0][2]) == count
                and not any(arrays for _, _, arrays, _ in entries[1:])):
            # an older Keras kept a recurrent layer's or a wrapper's weights in the layer's own vars
            entries = [(entries[0][0], list(range(count)), *entries[0][2:])]
        arrays = [None] * count
        for entry_path, indices, stored, stored_paths in entries:
            if len(stored) != len(indices):
                raise CheckpointError(
                    f"{path!r}: layer #{number} {_describe(layer)} expects {len(indices)} weight array(s) in "
                    f"{entry_path}/vars; the file has {len(stored)} there (saved from another architecture?)")
            for index, array in zip(indices, stored):
                arrays[index] = array
            read.update(stored_paths)
        found.append((key, arrays))
    unread = sorted(p for key in keys if key in groups
                    for p in _dataset_paths(h5py, groups[key]) if p not in read)
    if unread:
        raise CheckpointError(f"{path!r} holds weights at {unread} where this model's layers have none: it "
                              "was saved from another architecture")
    return found


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
    elif isinstance(first, layers_module.Conv1D):  # kernel (k, C, F)
        model.build((None, None, arrays_of_first[0].shape[1]))
    else:  # recurrent, Bidirectional, TimeDistributed(Dense): kernel (D, ...)
        model.build((None, None, arrays_of_first[0].shape[0]))


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
    try:
        with f:
            layout, found = _read_any(h5py, f, model, path)
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError) as error:  # h5py on a damaged or unusual file
        raise CheckpointError(f"{path!r} could not be read as a Keras weight file "
                              f"({type(error).__name__}: {error})") from None
    if layout == "legacy":
        weighted = [layer for layer in model.layers if layer.weight_names]
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


def _read_any(h5py, f, model, path) -> tuple:
    """("legacy" or "v3", what the layout's reader found)."""

    def has_layer_names(group):  # Keras splits a long list into layer_names0, layer_names1, ...
        return isinstance(group, h5py.Group) and bool({"layer_names", "layer_names0"} & set(group.attrs))

    if has_layer_names(f):
        return "legacy", _read_legacy(h5py, f, path)
    weights = _walk(h5py, f, "model_weights", repr(path))  # a full-model file
    if has_layer_names(weights):
        return "legacy", _read_legacy(h5py, weights, path)
    if "layers" in f or "_layer_checkpoint_dependencies" in f:
        return "v3", _read_v3(h5py, f, model, path)
    raise CheckpointError(f"{path!r} is HDF5 but not a Keras weight file: it has neither the "
                          "legacy layer_names attribute nor the .weights.h5 'layers' group")
