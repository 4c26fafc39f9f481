"""One experiment split across workers: which prompts a shard takes, and its folder's name.

Shard ``K`` of ``N`` takes the prompts whose key (the record's ``id``, else a hash of its
content) hashes to ``K`` modulo ``N``: the same prompts on every machine, in every resume,
whatever the order of the input's lines. Its run folder is ``<run id>.shard<K>of<N>``, so the
shards of one run sit side by side and the index can tell them apart and bring them together.
"""

from __future__ import annotations

import hashlib
import re

_SUFFIX = re.compile(r"^(?P<run>.+)\.shard(?P<shard>\d+)of(?P<shards>\d+)$")


def shard_of(key: str, shards: int) -> int:
    """The shard (0..shards-1) that the prompt with ``key`` belongs to."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def shard_folder(run_id: str, shard: int, shards: int) -> str:
    """The run folder's name of shard ``shard`` of ``shards`` of run ``run_id``."""
    return f"{run_id}.shard{shard}of{shards}"


def split_shard_folder(name: str) -> tuple[str, int, int] | None:
    """(run id, shard, shards) of a shard's folder name; None for a run that is not sharded."""
    found = _SUFFIX.match(name)
    if found is None:
        return None
    return found["run"], int(found["shard"]), int(found["shards"])


def shard_run_name(run: str, shard: int | None, shards: int) -> str:
    """The folder of ``run`` (a run id, or a shard's folder) for shard ``shard`` of ``shards``.

    ``resume=R shard=1 shards=2`` and ``resume=R.shard0of2 shard=1 shards=2`` both name
    ``R.shard1of2``: every shard of a sweep resumes its own folder.
    """
    if shards <= 1 or shard is None:
        return run
    split = split_shard_folder(run)
    return shard_folder(split[0] if split else run, shard, shards)
