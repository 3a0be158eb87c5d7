"""utils.get_file (Keras 2's keras.utils.data_utils.get_file): one download into the cache, reused after;
the hash checked; a clear error offline, nothing half-written; archives refused."""

import hashlib

import pytest
from httpserve import serving

from scratchrnn.utils import data_utils, get_file


@pytest.fixture
def server(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "nietzsche.txt").write_text("supposing that truth is a woman\n")
    with serving(folder) as (base, requests):
        yield f"{base}/nietzsche.txt", requests


def test_downloads_once_into_the_cache_as_keras_2_tutorials_call_it(server, tmp_path, monkeypatch):
    url, requests = server
    monkeypatch.setenv("SCRATCHRNN_CACHE", str(tmp_path / "cache"))
    path = data_utils.get_file("nietzsche.txt", origin=url)
    assert path == str(tmp_path / "cache" / "datasets" / "nietzsche.txt")
    assert open(path).read().startswith("supposing")
    assert get_file("nietzsche.txt", origin=url) == path and requests == ["/nietzsche.txt"]
    get_file("nietzsche.txt", origin=url, force_download=True)
    assert len(requests) == 2


def test_hash_is_checked_and_a_mismatch_saves_nothing(server, tmp_path):
    url, _ = server
    digest = hashlib.sha256(b"supposing that truth is a woman\n").hexdigest()
    assert get_file(origin=url, file_hash=digest, cache_dir=tmp_path / "a").endswith("nietzsche.txt")
    with pytest.raises(ValueError, match="file_hash: expected sha256 0000"):
        get_file(origin=url, file_hash="0000", cache_dir=tmp_path / "b")
    assert not any((tmp_path / "b").rglob("*.txt"))


def test_offline_names_the_url_and_where_to_put_the_file(tmp_path):
    with pytest.raises(OSError, match=r"could not download http://127.0.0.1:1/x.txt .*put the file at"):
        get_file("x.txt", origin="http://127.0.0.1:1/x.txt", cache_dir=tmp_path)
    assert not any(tmp_path.rglob("*.txt")) and not any(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("kwargs, message", [
    ({"origin": None}, "origin: expected the URL"),
    ({"origin": "http://127.0.0.1:1/a.tgz", "untar": True}, "does not unpack archives"),
    ({"origin": "http://127.0.0.1:1/"}, "fname: expected a file name"),
])
def test_bad_arguments_are_named(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        get_file(cache_dir=tmp_path, **kwargs)
