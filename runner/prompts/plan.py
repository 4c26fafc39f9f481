"""Pass one over an experiment: check every record and plan the groups, keeping little.

Records are read as a stream, checked, pointed at the chosen model, and spooled to a
temporary file; each group keeps only the byte offsets of its records in that file (8
bytes a prompt). Pass two (:meth:`Plan.records`) reads them back lazily while sending, so
memory grows with the requests in flight, not with the size of the experiment.
"""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from runner.limits.from_settings import token_limits_of
from runner.limits.quota import Accounting
from runner.prompts.grouping import Group, GroupAssigner, TokenAmounts, apply_model_to, swap_key
from runner.prompts.notes import Notes
from runner.prompts.reader import iter_records
from runner.prompts.records import PromptRecord
from runner.shards import shard_of
from runner.wire_json import spool_line, spool_value

# Problems listed one by one; the rest are only counted (a broken file can have millions).
MAX_PROBLEMS_KEPT = 100

# Checks a record and returns its problems (already prefixed with file:line).
RecordCheck = Callable[[PromptRecord], list[str]]


@dataclass
class GroupPlan:
    """A group's limits and where its records are in the spool."""

    name: str
    rate_per_minute: float
    # Token limits per minute by what they count (see runner.limits.quota).
    token_limits: TokenAmounts
    # Offsets per swap key, in first-seen order (see grouping.swap_key).
    offsets: dict[str, array[int]] = field(default_factory=dict)
    credentials: set[str] = field(default_factory=set)
    apis: set[str] = field(default_factory=set)
    count: int = 0


@dataclass
class Plan:
    """A checked experiment, ready to stream into the engine."""

    input_file: Path
    groups: dict[str, GroupPlan]
    total: int
    skipped: int
    problems: list[str]
    problem_count: int
    model_counts: dict[tuple[str, str], int]
    model_changed: int
    spool: IO[bytes]
    # What the check reports without refusing: duplicate ids, renamed input keys.
    warnings: list[str] = field(default_factory=list)
    # on_invalid=skip: the records the check refused, with its messages (not sent).
    invalid: list[tuple[PromptRecord, list[str]]] = field(default_factory=list)
    # A template experiment's prompts by (api/model, prompt variant).
    variant_counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def records(self, group: str) -> Iterator[PromptRecord]:
        """The records of ``group``, read lazily from the spool."""
        source = str(self.input_file)
        for offsets in self.groups[group].offsets.values():
            for offset in offsets:
                self.spool.seek(offset)
                line, data, key = spool_value(self.spool.readline())
                yield PromptRecord(data, source, line, key)

    def engine_groups(
        self,
        identity: Callable[[GroupPlan], str],
        api_concurrency: Callable[[str], int | None] = lambda _api: None,
        accounting: Callable[[set[str]], Accounting] = lambda _apis: Accounting.RESERVED,
    ) -> dict[str, Group]:
        """The groups as the engine takes them, each streaming its records.

        Args:
            identity: a group's identity between processes (for shared limits).
            api_concurrency: the most requests in flight an api can take, if it has a cap.
            accounting: how the providers of a group's apis charge its token limits.
        """

        def cap(g: GroupPlan) -> int | None:
            caps = [c for c in map(api_concurrency, g.apis) if c is not None]
            return min(caps) if caps else None

        return {
            name: Group(
                name,
                g.rate_per_minute,
                self.records(name),
                total=g.count,
                token_limits=token_limits_of(g.token_limits, accounting(g.apis)),
                identity=identity(g),
                max_concurrency=cap(g),
            )
            for name, g in self.groups.items()
        }

    def close(self) -> None:
        self.spool.close()


def plan_experiment(
    input_file: Path,
    assigner: GroupAssigner,
    check: RecordCheck,
    credential: Callable[[PromptRecord], str],
    *,
    model: tuple[str, str, dict[str, object]] | None = None,
    skip_line: Callable[[int], bool] = lambda _line: False,
    keep_invalid: bool = False,
    source: Iterable[PromptRecord] | None = None,
    select: Callable[[Iterator[PromptRecord]], Iterator[PromptRecord]] | None = None,
    shard: tuple[int, int] | None = None,
) -> Plan:
    """Read, check and group every record of ``input_file``; nothing is sent.

    Args:
        input_file: the experiment file.
        assigner: decides groups and limits.
        check: returns a record's problems.
        credential: a fingerprint of the credentials a record is sent with.
        model: (api, model_name, parameters) of a chosen model, applied to every record.
        skip_line: records on these input lines are already done (resume).
        keep_invalid: keep refused records in ``Plan.invalid`` instead of as problems.
        source: the records, when they are not read from ``input_file`` (a template
            experiment's expansion, runner.prompts.expand).
        select: keeps some of the records (``limit=N``, ``sample=N``: runner.prompts.select).
        shard: (K, N): only the records whose key falls in shard K of N (runner.shards).

    Raises:
        BadInputError: the file is missing or of another kind (unreadable lines are
            problems of the plan, like invalid records).
    """
    tally = _Tally()
    try:
        for record in _stream(input_file, source, select, tally.note):
            tally.notes.see(record)
            # After see(): a duplicate id's key names its line, the same in every shard.
            if shard is not None and shard_of(record.key, shard[1]) != shard[0]:
                continue
            if model is not None:
                tally.changed += apply_model_to(record, model[0], model[1], dict(model[2]))
            found = check(record)
            if found and keep_invalid:
                tally.invalid.append((record, found))
                continue
            if found:
                tally.note(found)
                continue
            tally.total += 1
            if skip_line(record.line):
                tally.skipped += 1
                continue
            tally.spooled += _spool_into(
                tally.groups, record, assigner, (tally.spool, tally.spooled), credential
            )
            _count(record, tally.models, tally.variants)
    finally:
        tally.notes.close()  # its keys on disk past a size (runner.prompts.seen)
    return tally.plan(input_file)


class _Tally:
    """What pass one keeps: the spool, each group's offsets, the counts and the problems."""

    def __init__(self) -> None:
        # Owned by the returned Plan, which closes it (Plan.close) once the run is over.
        self.spool = tempfile.TemporaryFile(prefix="runner-spool-")  # noqa: SIM115
        self.spooled = 0  # the spool's size: the next record's offset
        self.groups: dict[str, GroupPlan] = {}
        self.problems: list[str] = []
        self.problem_count = self.total = self.skipped = self.changed = 0
        self.models: dict[tuple[str, str], int] = {}
        self.notes = Notes(MAX_PROBLEMS_KEPT)
        self.invalid: list[tuple[PromptRecord, list[str]]] = []
        self.variants: dict[tuple[str, str], int] = {}

    def note(self, found: list[str]) -> None:
        """Count problems, keeping the first MAX_PROBLEMS_KEPT."""
        self.problem_count += len(found)
        self.problems.extend(found[: max(0, MAX_PROBLEMS_KEPT - len(self.problems))])

    def plan(self, input_file: Path) -> Plan:
        """The plan of what was read."""
        self.spool.flush()
        return Plan(
            input_file,
            self.groups,
            self.total,
            self.skipped,
            self.problems,
            self.problem_count,
            self.models,
            self.changed,
            self.spool,
            self.notes.warnings(),
            self.invalid,
            self.variants,
        )


def _stream(
    input_file: Path,
    source: Iterable[PromptRecord] | None,
    select: Callable[[Iterator[PromptRecord]], Iterator[PromptRecord]] | None,
    note: Callable[[list[str]], None],
) -> Iterator[PromptRecord]:
    """The records to plan: the file's (or ``source``'s), through ``select`` when given."""
    if source is not None:
        stream = iter(source)
    else:
        stream = iter_records(input_file, lambda problem: note([problem]))
    return stream if select is None else select(stream)


def _spool_into(
    groups: dict[str, GroupPlan],
    record: PromptRecord,
    assigner: GroupAssigner,
    spool: tuple[IO[bytes], int],
    credential: Callable[[PromptRecord], str],
) -> int:
    """Write ``record`` at the end of the spool (file, its size); note the offset; the bytes.

    The caller keeps the spool's size: ``tell()`` costs a system call a prompt.
    """
    name, rate, tokens = assigner.assign(record)
    plan = groups.get(name)
    if plan is None:
        plan = groups[name] = GroupPlan(name, rate, tokens)
    elif rate < plan.rate_per_minute:  # one queue for APIs with and without a quota
        plan.rate_per_minute = rate
    file, offset = spool
    written = file.write(spool_line([record.line, record.data, record.key]))
    swap = swap_key(record)
    offsets = plan.offsets.get(swap)
    if offsets is None:  # not setdefault: that would make an array for every record
        offsets = plan.offsets[swap] = array("q")
    offsets.append(offset)
    plan.count += 1
    plan.credentials.add(credential(record))
    plan.apis.add(record.api)
    return written


def _count(
    record: PromptRecord,
    models: dict[tuple[str, str], int],
    variants: dict[tuple[str, str], int],
) -> None:
    """Count ``record`` for its model, and for its prompt variant (a template's)."""
    model_key = (record.api, record.model_name or "")
    models[model_key] = models.get(model_key, 0) + 1
    variant = record.data.get("prompt_variant")
    if variant is not None:
        pair = (f"{record.api}/{record.model_name or '-'}", str(variant))
        variants[pair] = variants.get(pair, 0) + 1
