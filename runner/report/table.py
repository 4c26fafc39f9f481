"""A small table of rows for the report's aggregates.

The report's tables are a few hundred rows at most, so plain Python serves them: importing
pandas (and altair on top of it) cost about a second at the end of every run, longer than
the rest of the report together.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb


@dataclass
class Table:
    """Named columns over rows of values: what the page lists and the charts draw."""

    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    @classmethod
    def of(cls, result: duckdb.DuckDBPyConnection) -> Table:
        """The rows of a query just run on ``result``."""
        columns = [str(d[0]) for d in result.description or []]
        return cls(columns, [tuple(row) for row in result.fetchall()])

    @classmethod
    def from_records(
        cls, records: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None
    ) -> Table:
        """Rows from dicts; the columns are ``columns``, or every key in order of appearance."""
        records = list(records)
        names = list(columns) if columns is not None else []
        if columns is None:
            for record in records:
                names.extend(k for k in record if k not in names)
        return cls(names, [tuple(r.get(c) for c in names) for r in records])

    @property
    def empty(self) -> bool:
        return not self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, column: str) -> list[Any]:
        at = self.columns.index(column)
        return [row[at] for row in self.rows]

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts (a chart's data values)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def where(self, column: str, value: Any) -> Table:
        """The rows whose ``column`` equals ``value``."""
        at = self.columns.index(column)
        return Table(self.columns, [row for row in self.rows if row[at] == value])

    def itertuples(self, index: bool = False) -> Iterator[tuple[Any, ...]]:
        """Each row as a named tuple (``row.model``), as the page's template reads them."""
        del index  # the rows have no index; the name matches what the template calls
        row_type = namedtuple("Row", self.columns, rename=True)  # type: ignore[misc]
        for row in self.rows:
            yield row_type(*row)
