"""Character-level text generation on Alice's Adventures in Wonderland, with stacked LSTMs.

This is the classic Keras tutorial ("Creating a text generator using a recurrent neural network":
windows of 100 characters, stacked LSTM(700, return_sequences=True), TimeDistributed(Dense(V)),
softmax, a sample after every epoch, weights saved every 10 epochs) with its imports swapped from
keras to scratchrnn, plus what a demo needs: the book downloaded once, presets, resuming, a loss plot.

    pip install -e .[demos]
    python demos/chargen.py --preset quick              # a few minutes on 2 cores
    python demos/chargen.py                             # the tutorial's numbers: hours
    python demos/chargen.py --text alice.txt            # offline, with a local copy of eBook #11
    python demos/chargen.py --resume checkpoints/chargen-epoch-010.npz --epochs 20
    scratchrnn generate checkpoints/chargen-epoch-020.npz --prime "alice " --temperature 0.7

Without --text the book (Project Gutenberg eBook #11) is downloaded once into a cache folder:
$SCRATCHRNN_CACHE, else $XDG_CACHE_HOME/scratchrnn, else ~/.cache/scratchrnn. Flags given on the command
line override the preset's values. --epochs counts all epochs, as Keras's fit(epochs=..., initial_epoch=...)
does: resuming a checkpoint of epoch 10 with --epochs 20 trains ten more.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
import urllib.error
import urllib.parse
from pathlib import Path

import numpy as np

from scratchrnn.generate import generate
from scratchrnn.layers import LSTM, Activation, Dense, TimeDistributed
from scratchrnn.models import Sequential, load_model
from scratchrnn.optimizers import Adam
from scratchrnn.saving import CheckpointError, check_vocabulary
from scratchrnn.text import Vocab, clean_tutorial, read_text, strip_gutenberg, windows
from scratchrnn.utils import set_random_seed, to_categorical
from scratchrnn.utils.data_utils import get_file

GUTENBERG_URL = "https://www.gutenberg.org/cache/epub/11/pg11.txt"

PRESETS = {
    # the tutorial's numbers (with Adam, as asked of this demo)
    "tutorial": {"layers": 3, "hidden": 700, "seq_length": 100, "batch_size": 12, "lr": 1e-3, "epochs": 50,
                 "max_chars": None, "sample_length": 300, "save_every": 10},
    # a few minutes on 2 CPU cores: a visible fall in loss and real words (the whole book,
    # 1 x LSTM(256), 20 epochs; a measured run is quoted in the README)
    "quick": {"layers": 1, "hidden": 256, "seq_length": 50, "batch_size": 32, "lr": 4e-3, "epochs": 20,
              "max_chars": None, "sample_length": 200, "save_every": 10},
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tutorial",
                        help="a set of the numbers below (default: tutorial)")
    parser.add_argument("--text", type=Path, help="a local UTF-8 copy of the book (no download)")
    parser.add_argument("--url", default=GUTENBERG_URL, help="where to download the book from")
    parser.add_argument("--max-chars", type=int, help="train on the first N characters only")
    parser.add_argument("--seq-length", type=int, help="characters per training window")
    parser.add_argument("--layers", type=int, help="stacked LSTM layers")
    parser.add_argument("--hidden", type=int, help="units per LSTM layer")
    parser.add_argument("--batch-size", type=int, help="windows per optimizer step")
    parser.add_argument("--lr", type=float, help="Adam's learning rate")
    parser.add_argument("--epochs", type=int, help="epochs in all (a resumed run counts the earlier ones)")
    parser.add_argument("--sample-length", type=int, help="characters generated after each epoch")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default 0.8)")
    parser.add_argument("--save-every", type=int, help="save a checkpoint every N epochs (and at the end)")
    parser.add_argument("--checkpoint-dir", type=Path, default=Path("checkpoints"),
                        help="where checkpoints go (default ./checkpoints)")
    parser.add_argument("--resume", type=Path, help="a checkpoint to continue training from")
    parser.add_argument("--plot", type=Path, help="the loss-curve PNG (default CHECKPOINT_DIR/loss.png)")
    parser.add_argument("--seed", type=int, help="seed for weights, shuffling and samples")
    args = parser.parse_args(argv)
    for key, value in PRESETS[args.preset].items():  # flags given explicitly win over the preset
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


# -- the data ----------------------------------------------------------------------------------------

def download_once(url: str) -> Path:
    """The cached copy of ``url``, downloaded (atomically) the first time."""
    name = Path(urllib.parse.urlparse(url).path).name or "download.txt"
    cached_name = f"{hashlib.sha256(url.encode()).hexdigest()[:8]}-{name}"  # one file per URL
    return Path(get_file(cached_name, origin=url, cache_subdir=""))


def load_corpus(args) -> str:
    path = args.text if args.text is not None else download_once(args.url)
    text = clean_tutorial(strip_gutenberg(read_text(path)))  # the book only; lower case, a few symbols
    return text[:args.max_chars] if args.max_chars else text


# -- the model ---------------------------------------------------------------------------------------

def build_model(vocab_size, args):
    model = Sequential()
    model.add(LSTM(args.hidden, input_shape=(None, vocab_size), return_sequences=True))
    for _ in range(args.layers - 1):
        model.add(LSTM(args.hidden, return_sequences=True))
    model.add(TimeDistributed(Dense(vocab_size)))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=Adam(learning_rate=args.lr))
    return model


def checkpoint_name(epoch: int) -> str:
    return f"chargen-epoch-{epoch:03d}"


def save(model, folder: Path) -> Path:
    path = folder / f"{checkpoint_name(model.epoch)}.npz"
    model.save(path)  # architecture, weights, Adam's state, epoch, vocabulary
    print(f"Saved checkpoint {path}")
    return path


def plot_losses(losses, path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no loss plot (pip install matplotlib)")
        return
    epochs, values = zip(*losses)
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(epochs, values, marker="o")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (nats per character)")
    axes.set_title("chargen: training loss")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"Loss curve: {path}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.seed is not None:
        set_random_seed(args.seed)

    try:
        text = load_corpus(args)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        print(f"chargen: could not download the book from {args.url} ({reason}).\n"
              "To run offline, pass a local copy of Project Gutenberg eBook #11 (Alice's Adventures in "
              "Wonderland): python demos/chargen.py --text PATH/TO/pg11.txt", file=sys.stderr)
        return 1
    vocab = Vocab.from_text(text)
    VOCAB_SIZE = len(vocab)
    print(f"Corpus: {len(text):,} characters, vocabulary of {VOCAB_SIZE}: {''.join(vocab.chars)!r}")

    # Non-overlapping windows; the target of each character is the next one.
    x_ids, y_ids = windows(vocab.encode(text), args.seq_length)
    X = to_categorical(x_ids, VOCAB_SIZE)  # (N, SEQ_LENGTH, VOCAB_SIZE)
    y = to_categorical(y_ids, VOCAB_SIZE)
    print(f"{len(X)} windows of {args.seq_length} characters")

    if args.resume is not None:
        try:
            model = load_model(args.resume)
            check_vocabulary(model.vocabulary, vocab.chars, what=str(args.resume))
        except (OSError, CheckpointError) as error:
            print(f"chargen: cannot resume: {error}", file=sys.stderr)
            return 2
        print(f"Resuming {args.resume} after epoch {model.epoch} (its own architecture and optimizer)")
    else:
        model = build_model(VOCAB_SIZE, args)
        model.build((None, None, VOCAB_SIZE))
    model.vocabulary = vocab.to_list()  # stored in every checkpoint, checked on resume
    model.summary()

    args.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    sampling = np.random.default_rng(args.seed)  # the samples' own generator
    losses, saved, began = [], None, time.perf_counter()
    try:
        import tqdm  # noqa: F401  (fit draws its progress bar with tqdm)
        verbose = 1
    except ImportError:
        verbose = 2
    for epoch in range(model.epoch, args.epochs):
        history = model.fit(X, y, batch_size=args.batch_size, epochs=epoch + 1, initial_epoch=epoch,
                            verbose=verbose)
        if model.epoch == epoch:  # a non-finite loss stopped the epoch; fit has said why
            print(f"chargen: {model.stop_reason}", file=sys.stderr)
            break
        loss = history.history["loss"][-1]
        losses.append((model.epoch, loss))
        print(f"epoch {model.epoch}: loss {loss:.4f}, {loss / math.log(2):.3f} bits per character, "
              f"{time.perf_counter() - began:.0f}s so far")
        sample = generate(model, args.sample_length, temperature=args.temperature, seed=sampling)
        print(f"--- sample ---\n{sample}\n--------------")
        if model.epoch % args.save_every == 0:
            saved = save(model, args.checkpoint_dir)

    if not losses:
        print(f"Nothing trained: the model has done {model.epoch} epochs of --epochs {args.epochs}")
    elif saved is None or saved.stem != checkpoint_name(model.epoch):
        save(model, args.checkpoint_dir)  # and always at the end
    if losses:
        plot_losses(losses, args.plot or args.checkpoint_dir / "loss.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
