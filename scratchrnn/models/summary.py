"""``model.summary()``: one row per layer with its output shape and parameter count, and for a model with
branches, the layers each one reads from."""

from __future__ import annotations


def _shape_text(tensors) -> str:
    shapes = [str(tuple(t.shape)) for t in tensors]
    return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


def print_summary(model, print_fn=print) -> None:
    headers = ["Layer (type)", "Output Shape", "Param #"]
    steps = {}
    for step in getattr(model, "_steps", []):
        steps.setdefault(step.layer, []).append(step.node)
    branched = any(len(step.node.inputs) > 1 or step.shared for step in getattr(model, "_steps", []))
    if branched:
        headers.append("Connected to")
    rows = []
    for layer in model.layers:
        nodes = steps.get(layer) or layer._inbound_nodes[:1]
        outputs = [t for node in nodes for t in node.outputs] if model.built else []
        row = [f"{layer.name} ({type(layer).__name__})", _shape_text(outputs) if outputs else "?",
               f"{layer.count_params():,}"]
        if branched:
            row.append(", ".join(sorted({t.node.layer.name for node in nodes for t in node.inputs})) or "-")
        rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(f"{h:<{w}}" for h, w in zip(headers, widths))
    print_fn(f'Model: "{model.name}"')
    print_fn("=" * len(line))
    print_fn(line)
    print_fn("=" * len(line))
    for row in rows:
        print_fn("  ".join(f"{c:<{w}}" for c, w in zip(row, widths)))
    print_fn("=" * len(line))
    print_fn(f"Total params: {model.count_params():,}")
