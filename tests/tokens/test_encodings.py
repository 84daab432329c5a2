"""The shipped tokenizer files are tiktoken's official ones and load with no network."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap

import pytest
import tiktoken_ext.openai_public as openai_public

from batchcost.core.errors import EncodingError
from batchcost.data import load_data
from batchcost.tokens import encodings


def _tiktoken_expected(name: str) -> tuple[str, str]:
    """(url, expected_hash) as tiktoken's own constructor passes them, captured without loading anything."""
    seen = {}

    def capture(url, expected_hash=None):
        seen["url"], seen["hash"] = url, expected_hash
        raise LookupError  # stop before any file is read

    original = openai_public.load_tiktoken_bpe
    openai_public.load_tiktoken_bpe = capture
    try:
        with pytest.raises(LookupError):
            openai_public.ENCODING_CONSTRUCTORS[name]()
    finally:
        openai_public.load_tiktoken_bpe = original
    return seen["url"], seen["hash"]


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_data_file_agrees_with_tiktokens_expected_hash(name):
    entry = load_data("encodings.yaml")["encodings"][name]
    url, expected = _tiktoken_expected(name)
    assert entry["url"] == url
    assert entry["sha256"] == expected
    assert entry["cache_file"] == hashlib.sha1(url.encode()).hexdigest()  # tiktoken's cache naming


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_shipped_file_matches_expected_hash(name):
    entry = load_data("encodings.yaml")["encodings"][name]
    data = (encodings.SHIPPED_DIR / entry["cache_file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]


def test_loads_with_the_network_cut_off(tmp_path):
    """A fresh interpreter with sockets disabled and no tiktoken cache still counts with every encoding."""
    script = textwrap.dedent("""
        import socket
        def refuse(*a, **k):
            raise OSError("network disabled by test")
        socket.socket = refuse
        socket.create_connection = refuse
        from batchcost.tokens.encodings import get_encoding
        print(len(get_encoding("cl100k_base").encode("tiktoken is great!")),
              len(get_encoding("o200k_base").encode("tiktoken is great!")),
              get_encoding("o200k_harmony").n_vocab)
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    # cookbook: "tiktoken is great!" is 6 tokens in cl100k_base and in o200k_base; harmony has 201,088 tokens
    assert out.stdout.split() == ["6", "6", "201088"]


def test_known_token_ids():
    # tiktoken's README: cl100k_base encodes "hello world" as [15339, 1917]
    assert encodings.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]


def test_corrupted_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    entry = load_data("encodings.yaml")["encodings"]["cl100k_base"]
    broken = tmp_path / entry["cache_file"]
    data = bytearray((encodings.SHIPPED_DIR / entry["cache_file"]).read_bytes())
    data[100] ^= 1
    broken.write_bytes(bytes(data))
    with pytest.raises(EncodingError, match="sha256"):
        encodings.verified_cache_dir.__wrapped__("cl100k_base", tmp_path)


def test_missing_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    with pytest.raises(EncodingError, match="missing"):
        encodings.verified_cache_dir.__wrapped__("o200k_base", tmp_path)


def test_valid_user_cache_dir_is_honoured(tmp_path, monkeypatch):
    entry = load_data("encodings.yaml")["encodings"]["cl100k_base"]
    shutil.copy(encodings.SHIPPED_DIR / entry["cache_file"], tmp_path / entry["cache_file"])
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert encodings.verified_cache_dir.__wrapped__("cl100k_base") == tmp_path


def test_invalid_user_cache_dir_falls_back_to_shipped(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # empty: nothing valid there
    assert encodings.verified_cache_dir.__wrapped__("cl100k_base") == encodings.SHIPPED_DIR


def test_unknown_encoding():
    with pytest.raises(EncodingError, match="unknown encoding"):
        encodings.verified_cache_dir.__wrapped__("p99k_base")


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_fast_rank_loader_gives_tiktokens_own_ranks(name, monkeypatch):
    from tiktoken.load import load_tiktoken_bpe

    url, expected = _tiktoken_expected(name)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(encodings.SHIPPED_DIR))
    theirs = load_tiktoken_bpe(url, expected)  # tiktoken's own parser, reading the shipped (cached) file
    ours = encodings.rank_file_loader(encodings.SHIPPED_DIR)(url, expected)
    assert ours == theirs and len(ours) > 100_000
    assert list(ours.items())[:1000] == list(theirs.items())[:1000]  # same order too


def test_fast_rank_loader_refuses_a_corrupted_file(tmp_path):
    url, expected = _tiktoken_expected("cl100k_base")
    entry = load_data("encodings.yaml")["encodings"]["cl100k_base"]
    data = bytearray((encodings.SHIPPED_DIR / entry["cache_file"]).read_bytes())
    data[100] ^= 1
    (tmp_path / entry["cache_file"]).write_bytes(bytes(data))
    with pytest.raises(EncodingError, match="expected sha256"):
        encodings.rank_file_loader(tmp_path)(url, expected)
    with pytest.raises(EncodingError, match="unreadable"):
        encodings.rank_file_loader(tmp_path / "nowhere")(url, expected)


def test_loading_leaves_tiktoken_as_it_was():
    before = openai_public.load_tiktoken_bpe
    encodings.get_encoding.__wrapped__("cl100k_base")
    assert openai_public.load_tiktoken_bpe is before
