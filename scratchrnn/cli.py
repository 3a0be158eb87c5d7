"""The ``scratchrnn`` command.

    scratchrnn generate CHECKPOINT [--length N] [--prime TEXT] [--temperature T] [--top-k K]
                                   [--seed S] [--greedy]
        print the prime followed by N characters sampled from a saved character model
    scratchrnn info CHECKPOINT
        the architecture (one line per layer), parameter counts, vocabulary, epoch, step, last loss
    scratchrnn gradcheck {rnn,lstm,gru} [--no-reset-after] [--units U] [--steps T] [--batch B]
                                        [--features D] [--seed S]
        check a float64 layer's hand-written backward against finite differences; exit 1 when the
        largest relative error exceeds 1e-6

Exit codes: 0 success, 1 a failed gradient check, 2 an error (a missing or unreadable checkpoint, a bad
argument), reported as one line on stderr.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

TOLERANCE = 1e-6


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchrnn", description="scratchrnn: RNNs written from scratch.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = commands.add_parser("generate", help="sample text from a saved character model")
    gen.add_argument("checkpoint", metavar="CHECKPOINT", help="a file written by model.save")
    gen.add_argument("--length", type=int, default=200, help="characters to generate (default 200)")
    gen.add_argument("--prime", default="", help="the prompt to continue (default: a random letter)")
    gen.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    gen.add_argument("--top-k", type=_positive_int, default=None, help="sample among the K most likely")
    gen.add_argument("--seed", type=int, default=None, help="seed of the sampling, for reproducible text")
    gen.add_argument("--greedy", action="store_true", help="always take the most likely character")

    info = commands.add_parser("info", help="describe a checkpoint")
    info.add_argument("checkpoint", metavar="CHECKPOINT", help="a file written by model.save")

    check = commands.add_parser("gradcheck", help="finite-difference check of a layer's gradients")
    check.add_argument("cell", choices=("rnn", "lstm", "gru"))
    check.add_argument("--no-reset-after", dest="reset_after", action="store_false",
                       help="GRU with reset_after=False (the original formulation)")
    check.add_argument("--units", type=_positive_int, default=3, help="hidden units H (default 3)")
    check.add_argument("--steps", type=_positive_int, default=4, help="time steps T (default 4)")
    check.add_argument("--batch", type=_positive_int, default=2, help="batch size B (default 2)")
    check.add_argument("--features", type=_positive_int, default=3, help="input features D (default 3)")
    check.add_argument("--seed", type=int, default=0, help="seed of the random weights, inputs, states")
    return parser


def _generate(args) -> int:
    from .generate import generate
    from .models import load_model

    model = load_model(args.checkpoint, restore_rng=False)
    text = generate(model, args.length, prime=args.prime, temperature=args.temperature, top_k=args.top_k,
                    greedy=args.greedy, seed=args.seed)
    print(args.prime + text)
    return 0


def _describe(layer) -> str:
    """``LSTM(128, return_sequences=True)``-like text for one layer."""
    inner = getattr(layer, "layer", None)
    if inner is not None:
        return f"{type(layer).__name__}({_describe(inner)})"
    config = layer.get_config()
    if type(layer).__name__ == "Activation":
        return f"Activation({config['activation']!r})"
    parts = []
    if "units" in config:
        parts.append(str(config["units"]))
    if "input_dim" in config:
        parts += [str(config["input_dim"]), str(config["output_dim"])]
    if config.get("activation") not in (None, "tanh" if "return_sequences" in config else "linear"):
        parts.append(f"activation={config['activation']!r}")
    for key in ("return_sequences", "return_state", "stateful", "go_backwards"):
        if config.get(key):
            parts.append(f"{key}=True")
    if config.get("reset_after") is False:
        parts.append("reset_after=False")
    return f"{type(layer).__name__}({', '.join(parts)})"


def _info(args) -> int:
    from .models import load_model

    model = load_model(args.checkpoint, restore_rng=False)
    print(f"checkpoint: {args.checkpoint}")
    print(f"model: {model.name}, dtype {model.dtype}, input shape {tuple(model.build_input_shape)}")
    rows = [(layer.name, _describe(layer), f"{layer.count_params():,}") for layer in model.layers]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for i, (name, description, params) in enumerate(rows, start=1):
        print(f"  {i}. {name:<{widths[0]}}  {description:<{widths[1]}}  {params:>{widths[2]}} parameters")
    print(f"parameters: {model.count_params():,}")
    if model.vocabulary is None:
        print("vocabulary: none stored")
    else:
        print(f"vocabulary ({len(model.vocabulary)} characters): {''.join(model.vocabulary)!r}")
    if model.optimizer is not None:
        config = model.optimizer.get_config()
        rate = config.get("learning_rate")
        print(f"optimizer: {type(model.optimizer).__name__}" + (f", learning rate {rate:g}"
                                                                 if isinstance(rate, float) else ""))
    print(f"epoch: {model.epoch} (completed), step: {model.step} (optimizer steps)")
    if model.last_logs:
        loss = model.last_logs.get("loss")
        bits = ""
        if loss is not None and model.vocabulary:
            bits = f" ({loss / math.log(2):.3f} bits per character)"
        print("last epoch: " + ", ".join(f"{k} {v:.4f}" for k, v in model.last_logs.items()) + bits)
    else:
        print("last epoch: no training logs stored")
    return 0


def _gradcheck(args) -> int:
    from . import gradcheck, layers

    rng = np.random.default_rng(args.seed)
    kinds = {"rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
    options = {"reset_after": args.reset_after} if args.cell == "gru" else {}
    layer = kinds[args.cell](args.units, dtype="float64", return_sequences=True, return_state=True, **options)
    layer.build((args.batch, args.steps, args.features))
    layer.set_weights([rng.uniform(-0.8, 0.8, w.shape) for w in layer.weights])  # non-zero biases too
    x = rng.standard_normal((args.batch, args.steps, args.features))
    states = [rng.uniform(-0.8, 0.8, (args.batch, args.units)) for _ in range(layer.state_count)]
    report = gradcheck.check_layer(layer, x, initial_state=states, seed=args.seed)
    extra = "" if args.cell != "gru" else f", reset_after={args.reset_after}"
    print(f"{type(layer).__name__}(units={args.units}{extra}) float64, x (B={args.batch}, T={args.steps}, "
          f"D={args.features}), random weights, inputs and initial states (seed {args.seed})")
    print(report)
    passed = report.passed(TOLERANCE)
    print(f"max relative error {report.max_error:.3e}: {'passed' if passed else 'FAILED'} "
          f"(tolerance {TOLERANCE:g})")
    return 0 if passed else 1


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); returns the exit code."""
    from .saving import CheckpointError

    args = _parser().parse_args(argv)
    handlers = {"generate": _generate, "info": _info, "gradcheck": _gradcheck}
    try:
        return handlers[args.command](args)
    except (OSError, CheckpointError, ValueError) as error:
        message = str(error) if isinstance(error, (CheckpointError, ValueError)) or not error.filename \
            else f"{error.strerror}: {error.filename!r}"
        print(f"scratchrnn {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
