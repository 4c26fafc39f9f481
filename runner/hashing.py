"""One way to fingerprint a file (input checks, provenance, pipeline mode, media uploads)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file as hex, read in 1 MiB chunks (any size, little memory).

    A file is read once per version: a resume checks its input and records its digest in the
    provenance, and both ask here. A version is the file's inode, size, mtime and ctime (any
    write changes ctime, which no tool can set back).
    """
    info = path.stat()
    return _digest(
        str(path.resolve()), info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns
    )


@functools.lru_cache(maxsize=64)
def _digest(path: str, _inode: int, _size: int, _mtime_ns: int, _ctime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
