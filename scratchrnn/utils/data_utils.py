"""``get_file``: a file downloaded once into scratchrnn's cache folder, where Keras 2 tutorials import it
from (``from keras.utils.data_utils import get_file``).

The cache folder is ``$SCRATCHRNN_CACHE``, else ``$XDG_CACHE_HOME/scratchrnn``, else
``~/.cache/scratchrnn``. A download is written under a temporary name and renamed when whole, so the cache
never holds half a file.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def default_cache_dir() -> Path:
    if os.environ.get("SCRATCHRNN_CACHE"):
        return Path(os.environ["SCRATCHRNN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scratchrnn"


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False, archive_format="auto",
             cache_dir=None, force_download=False):
    """The path of ``fname`` (default: the last part of ``origin``'s path) in the cache, downloaded from
    ``origin`` the first time (or again with ``force_download``). ``file_hash`` (sha256, or md5 when
    ``hash_algorithm="md5"``; ``md5_hash`` for Keras 2's spelling) is checked after the download.

    Errors: ValueError naming the argument for a missing origin, archives (``untar``/``extract``: not
    unpacked here) or a hash that does not match; OSError when the download fails, saying where to put
    the file by hand to run offline."""
    from ..saving import atomic_write

    if not isinstance(origin, str) or not origin:
        raise ValueError(f"origin: expected the URL to download from, got {origin!r}")
    if untar or extract:
        raise ValueError("untar, extract: scratchrnn's get_file does not unpack archives; download the "
                         "archive (untar=False, extract=False) and unpack it with tarfile or zipfile")
    name = fname or Path(urllib.parse.urlparse(origin).path).name
    if not name:
        raise ValueError(f"fname: expected a file name, or an origin whose path ends in one, got {origin!r}")
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = folder / cache_subdir / name
    expected = file_hash or md5_hash
    algorithm = "md5" if md5_hash and not file_hash or hash_algorithm == "md5" else "sha256"
    if target.is_file() and not force_download:
        print(f"Using the cached copy {target}")
        return str(target)
    print(f"Downloading {origin} ...")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(origin, timeout=30) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise OSError(f"could not download {origin} ({reason}); to run offline, put the file at {target}") \
            from error
    if expected and hashlib.new(algorithm, data).hexdigest() != expected:
        raise ValueError(f"file_hash: expected {algorithm} {expected} for {origin}, got "
                         f"{hashlib.new(algorithm, data).hexdigest()}; nothing was saved")
    with atomic_write(target) as temporary:
        Path(temporary).write_bytes(data)
    print(f"Saved {len(data):,} bytes to {target}")
    return str(target)
