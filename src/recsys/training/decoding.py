"""A download's Content-Encoding undone here, a bounded piece at a time.

httpx decodes each received piece in one call, so a few KB of nested gzip can become
gigabytes in memory before any size check sees them. Decoding with zlib's max_length
keeps every piece at most CHUNK bytes, and the caller's count stops the stream at the cap.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from recsys.training.snapshot import CHUNK, DatasetError

# zlib window bits per Content-Encoding: gzip framing, or the zlib framing of "deflate".
_CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_MAX_CODINGS = 3  # a legitimate reply has one; each layer costs a decoder


def decoded(chunks: Iterator[bytes], content_encoding: str) -> Iterator[bytes]:
    """The body `chunks` carry, with the codings `content_encoding` lists undone.

    An unsupported or excessive list is refused before any of the body is read.
    """
    names = [name.strip().lower() for name in content_encoding.split(",")]
    names = [name for name in names if name and name != "identity"]
    if len(names) > _MAX_CODINGS:
        raise DatasetError(f"dataset reply has too many content codings ({len(names)})")
    for name in names:
        if name not in _CODINGS:
            shown = "".join(char for char in name[:40] if char.isprintable())
            raise DatasetError(f"dataset reply has an unsupported Content-Encoding '{shown}'")
    for name in reversed(names):  # the last coding listed was applied last
        chunks = _inflate(chunks, name)
    return chunks


def _inflate(chunks: Iterator[bytes], coding: str) -> Iterator[bytes]:
    """Undo one gzip or deflate coding, yielding at most CHUNK bytes at a time."""
    wbits = _CODINGS[coding]
    decoder = zlib.decompressobj(wbits)
    try:
        for chunk in chunks:
            pending = chunk
            while True:
                piece = decoder.decompress(pending, CHUNK)
                if piece:
                    yield piece
                if decoder.eof and decoder.unused_data:  # gzip allows members back to back
                    pending, decoder = decoder.unused_data, zlib.decompressobj(wbits)
                    continue
                pending = decoder.unconsumed_tail
                if not pending and len(piece) < CHUNK:
                    break
    except zlib.error:
        raise DatasetError(f"dataset reply is not valid {coding} data") from None
    if not decoder.eof:
        raise DatasetError(f"dataset reply ends early: its {coding} data is incomplete")
