"""demos/chargen.py end to end, in a tiny configuration: training, samples, checkpoints, resuming, the
loss plot, and the download of the book (from a local HTTP server) with its offline failure."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from httpserve import serving

from scratchrnn.models import load_model
from scratchrnn.text import Vocab, clean_tutorial, read_text, strip_gutenberg

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demos" / "chargen.py"
ALICE = ROOT.parent / "shared" / "data" / "alice.txt"


def tiny(epochs=2):
    """A configuration that trains in well under a second per epoch."""
    return ["--layers", "1", "--hidden", "16", "--seq-length", "25", "--batch-size", "32", "--epochs", epochs,
            "--sample-length", "20", "--save-every", "1", "--seed", "0"]


def run_demo(*args, cache=None, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    if cache is not None:
        env["SCRATCHRNN_CACHE"] = str(cache)
    return subprocess.run([sys.executable, str(DEMO), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture
def alice():
    if not ALICE.is_file():
        pytest.skip(f"{ALICE} is absent (the shared data folder holds Gutenberg eBook #11)")
    return ALICE


def test_trains_samples_saves_plots_and_resumes(alice, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    result = run_demo("--text", alice, "--max-chars", "3000", "--checkpoint-dir", checkpoints, *tiny())
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("bits per character") == 2 and result.stdout.count("--- sample ---") == 2
    assert {p.name for p in checkpoints.iterdir()} == {"chargen-epoch-001.npz", "chargen-epoch-002.npz",
                                                       "loss.png"}
    model = load_model(checkpoints / "chargen-epoch-002.npz", restore_rng=False)
    text = clean_tutorial(strip_gutenberg(read_text(alice)))[:3000]
    assert model.epoch == 2 and model.vocabulary == Vocab.from_text(text).chars

    resumed = run_demo("--text", alice, "--max-chars", "3000", "--checkpoint-dir", checkpoints,
                       "--resume", checkpoints / "chargen-epoch-002.npz", *tiny(epochs=3))
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming" in resumed.stdout and resumed.stdout.count("bits per character") == 1
    assert load_model(checkpoints / "chargen-epoch-003.npz", restore_rng=False).epoch == 3

    other = clean_tutorial(strip_gutenberg(read_text(alice)))[:150]
    assert Vocab.from_text(other).chars != model.vocabulary  # the premise of the next check
    mismatch = run_demo("--text", alice, "--max-chars", "150", "--seq-length", "25", "--epochs", "4",
                        "--checkpoint-dir", checkpoints, "--resume", checkpoints / "chargen-epoch-002.npz")
    assert mismatch.returncode == 2 and "vocabulary" in mismatch.stderr and "Traceback" not in mismatch.stderr


BOOK = "Alice was beginning to get very tired of sitting by her sister on the bank. " * 12
GUTENBERG_LIKE = ("\ufeffThe Project Gutenberg eBook of a test\r\nHEADER with Zebra 777\r\n"
                  "*** START OF THE PROJECT GUTENBERG EBOOK TEST ***\r\n\r\n" + BOOK.replace(". ", ".\r\n")
                  + "\r\n*** END OF THE PROJECT GUTENBERG EBOOK TEST ***\r\nLICENCE: quixotic jazz 999\r\n")


@pytest.fixture
def book_server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving pg11.txt; yields (url, list of requested paths)."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "pg11.txt").write_bytes(GUTENBERG_LIKE.encode("utf-8"))
    with serving(folder) as (base, requests):
        yield f"{base}/pg11.txt", requests


def test_downloads_the_book_once_into_the_cache_and_strips_the_licence(book_server, tmp_path):
    url, requests = book_server
    cache = tmp_path / "cache"
    args = ["--url", url, "--checkpoint-dir", tmp_path / "ck", *tiny(epochs=1)]
    first = run_demo(*args, cache=cache)
    assert first.returncode == 0, first.stderr
    assert "Downloading" in first.stdout and requests == ["/pg11.txt"]
    cached = list(cache.iterdir())
    assert len(cached) == 1 and cached[0].name.endswith("pg11.txt")  # no temporary file left behind
    assert cached[0].read_bytes() == GUTENBERG_LIKE.encode("utf-8")
    vocabulary = load_model(tmp_path / "ck" / "chargen-epoch-001.npz", restore_rng=False).vocabulary
    assert vocabulary == sorted(set(clean_tutorial(BOOK)))  # no header or licence characters (z, q, 7, 9)

    second = run_demo(*args, cache=cache)
    assert second.returncode == 0, second.stderr
    assert "cached copy" in second.stdout and requests == ["/pg11.txt"]


def test_offline_download_fails_with_a_message_about_text(tmp_path):
    result = run_demo("--url", "http://127.0.0.1:1/pg11.txt", "--checkpoint-dir", tmp_path / "ck",
                      cache=tmp_path / "cache", timeout=30)
    assert result.returncode == 1
    assert "--text" in result.stderr and "127.0.0.1:1" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "ck").exists() and not any((tmp_path / "cache").glob("*"))
