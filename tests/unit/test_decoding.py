"""Content-Encoding undone in process, without a server: the pieces stay bounded, gzip
members and layers decode to the original, and a broken or excessive coding is one line
(tests/unit/test_fetch.py checks the same through a real download)."""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator

import pytest

from recsys.training.decoding import decoded
from recsys.training.snapshot import CHUNK, DatasetError


def pieces(data: bytes, size: int = 1000) -> Iterator[bytes]:
    return (data[start : start + size] for start in range(0, len(data), size))


def test_members_and_layers_decode_to_the_original() -> None:
    original = b"pid,track_name\n" + b"".join(b"%d,song %d\n" % (n, n) for n in range(5000))
    half = len(original) // 2
    members = gzip.compress(original[:half]) + gzip.compress(original[half:])
    body = zlib.compress(members)  # "deflate" applied after "gzip"
    assert b"".join(decoded(pieces(body), "gzip, deflate")) == original


def test_no_coding_passes_the_body_through() -> None:
    assert b"".join(decoded(pieces(b"a,b\n" * 10), " identity ")) == b"a,b\n" * 10


def test_every_piece_is_at_most_one_chunk() -> None:
    bomb = gzip.compress(bytes(8 * CHUNK))
    sizes = [len(piece) for piece in decoded(iter([bomb]), "gzip")]
    assert sum(sizes) == 8 * CHUNK
    assert max(sizes) <= CHUNK


def never_read() -> Iterator[bytes]:
    raise AssertionError("the body was read")
    yield b""  # pragma: no cover


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ("gzip, gzip, gzip, gzip", "too many content codings (4)"),
        ("br", "unsupported Content-Encoding 'br'"),
        ("x\x1b[31m", "unsupported Content-Encoding 'x[31m'"),
    ],
)
def test_a_coding_list_is_refused_before_the_body_is_read(encoding: str, message: str) -> None:
    with pytest.raises(DatasetError, match=re.escape(message)):
        decoded(never_read(), encoding)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not gzip at all", "not valid gzip data"),
        (gzip.compress(b"pid,track_name\n1,a\n")[:-12], "ends early"),
    ],
)
def test_broken_data_is_one_line(body: bytes, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        b"".join(decoded(iter([body]), "gzip"))
