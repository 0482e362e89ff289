"""Writes that commute: every projection writes rows only through these upserts.

A read-model row is built from events of several streams (a complaint's intake stream, its
dispatch case, its notifications) that the bus interleaves arbitrarily, and a replay or a
redelivery may bring an old event again. So no write may depend on what came before it:

- `key` columns find the row; any event may create it (every other column is nullable);
- `once` columns belong to one event (a work order's `signed_at`): the first non-null wins;
- `least` / `greatest` keep the extreme (the first dispatch, the highest redo count);
- `registers` are last-writer-wins by stream position (`Envelope.sequence`): a group of
  columns (a case's status and when it changed) is taken only from a later event than the
  one that set it, so an old event arriving late changes nothing.

Each policy is commutative and idempotent, so any arrival order gives the same row; this is
also what lets a replay run a batch's writes grouped by statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

# A stream position no event has: what an event without one (from an older relay) counts as.
NO_SEQUENCE = -1
JSON_TYPES = frozenset({"json", "jsonb"})


# What an upsert without columns of a policy has for them (shared: nothing changes it).
NOTHING: Mapping[str, Any] = MappingProxyType({})


class Upsert:
    """One row's write: `key` finds the row, each policy's columns are written as it says.

    A plain class with slots rather than a frozen dataclass, whose __init__ sets each field
    through object.__setattr__ (twice the cost) and fills every absent policy with a new dict:
    a rebuild makes two of these an event. Nothing hashes them (their fields are dicts) and
    nothing changes them once made."""

    __slots__ = ("greatest", "key", "least", "once", "registers", "table")

    def __init__(
        self,
        table: str,
        key: Mapping[str, Any],
        once: Mapping[str, Any] = NOTHING,
        least: Mapping[str, Any] = NOTHING,
        greatest: Mapping[str, Any] = NOTHING,
        # seq column → (the event's position, the columns it sets)
        registers: Mapping[str, tuple[int, Mapping[str, Any]]] = NOTHING,
    ) -> None:
        self.table = table
        self.key = key
        self.once = once
        self.least = least
        self.greatest = greatest
        self.registers = registers

    def __repr__(self) -> str:
        policies = ("once", "least", "greatest", "registers")
        given = "".join(f", {p}={dict(getattr(self, p))!r}" for p in policies if getattr(self, p))
        return f"Upsert({self.table!r}, {dict(self.key)!r}{given})"

    @property
    def sql(self) -> str:
        return statement(self.shape).sql

    def sql_for_rows(self, types: Mapping[str, str]) -> str:
        """The statement for many rows of this shape, given the table's column types."""
        return statement(self.shape).sql_for_rows(types)

    @property
    def shape(self) -> Shape:
        """What makes two upserts the same statement."""
        return self.row()[0]

    @property
    def columns(self) -> tuple[str, ...]:
        """The statement's columns, in the order of `args`."""
        return statement(self.shape).columns

    @property
    def args(self) -> list[Any]:
        """The row's values, in the order of `columns`."""
        return self.row()[1]

    def row(self) -> tuple[Shape, list[Any]]:
        """The shape and the values, in one pass over the columns."""
        values = [*self.key.values(), *self.once.values(), *self.least.values()]
        values += self.greatest.values()
        registers: tuple[tuple[str, tuple[str, ...]], ...] = ()
        if self.registers:
            names = []
            for seq, (position, columns) in self.registers.items():
                names.append((seq, tuple(columns)))
                values += columns.values()
                values.append(position)
            registers = tuple(names)
        shape = (
            self.table,
            tuple(self.key),
            tuple(self.once),
            tuple(self.least),
            tuple(self.greatest),
            registers,
        )
        return shape, values


# table, key, once, least, greatest columns, and each register's seq column with its columns
Shape = tuple[
    str,
    tuple[str, ...],
    tuple[str, ...],
    tuple[str, ...],
    tuple[str, ...],
    tuple[tuple[str, tuple[str, ...]], ...],
]


@dataclass(frozen=True, slots=True)
class Statement:
    """What upserts of one shape share: the columns, where each policy's values sit in a row
    (`Upsert.args`), and the SQL."""

    shape: Shape
    columns: tuple[str, ...]
    once: range
    least: range
    greatest: range
    registers: tuple[tuple[int, int], ...]  # (first column, seq column) of each register

    @property
    def table(self) -> str:
        return self.shape[0]

    @property
    def once_only(self) -> bool:
        """Whether every column but the key's is written `once` (what a new row of it holds
        is then what an insert gives)."""
        return not (self.least or self.greatest or self.registers)

    @property
    def sql(self) -> str:
        return _statement(*self.shape)

    def sql_for_rows(self, types: Mapping[str, str]) -> str:
        return _statement(*self.shape, tuple(types[c] for c in self.columns))

    def merge(self, row: list[Any], then: Sequence[Any]) -> None:
        """`row` (values of this shape) becomes what writing it and then `then` to the same
        row does, as each policy would: so a batch writes each row once, in one multi-row
        statement (which may not touch a row twice)."""
        for i in self.once:
            if row[i] is None:
                row[i] = then[i]
        for i in self.least:  # SQL's least and greatest leave NULLs out
            if (value := then[i]) is not None and (row[i] is None or value < row[i]):
                row[i] = value
        for i in self.greatest:
            if (value := then[i]) is not None and (row[i] is None or value > row[i]):
                row[i] = value
        for first, seq in self.registers:  # strictly later positions only
            if then[seq] > row[seq]:
                row[first : seq + 1] = then[first : seq + 1]


_STATEMENTS: dict[Shape, Statement] = {}


def statement(shape: Shape) -> Statement:
    """The statement of upserts of `shape` (made once per shape)."""
    known = _STATEMENTS.get(shape)
    if known is None:
        _, key, once, least, greatest, registers = shape
        columns = [*key, *once, *least, *greatest]
        spans = []
        for seq, names in registers:
            spans.append((len(columns), len(columns) + len(names)))
            columns += [*names, seq]
        start = len(key)
        known = _STATEMENTS[shape] = Statement(
            shape,
            tuple(columns),
            range(start, start + len(once)),
            range(start + len(once), start + len(once) + len(least)),
            range(start + len(once) + len(least), start + len(once) + len(least) + len(greatest)),
            tuple(spans),
        )
    return known


def merged(first: Upsert, then: Upsert) -> list[Any]:
    """The row of one upsert doing what `first` and then `then` do to the same row (same
    table, key and columns)."""
    row = first.args
    statement(first.shape).merge(row, then.args)
    return row


@lru_cache(maxsize=512)
def _statement(
    table: str,
    key: tuple[str, ...],
    once: tuple[str, ...],
    least: tuple[str, ...],
    greatest: tuple[str, ...],
    registers: tuple[tuple[str, tuple[str, ...]], ...],
    types: tuple[str, ...] | None = None,
) -> str:
    """The upsert's statement: for one row (`VALUES`), or, given its columns' types, for any
    number (one array parameter per column)."""
    columns = [*key, *once, *least, *greatest]
    for seq, names in registers:
        columns += [*names, seq]
    updates = [f"{c} = coalesce({table}.{c}, EXCLUDED.{c})" for c in once]
    updates += [f"{c} = least({table}.{c}, EXCLUDED.{c})" for c in least]
    updates += [f"{c} = greatest({table}.{c}, EXCLUDED.{c})" for c in greatest]
    for seq, names in registers:
        newer = f"({table}.{seq} IS NULL OR EXCLUDED.{seq} > {table}.{seq})"
        updates += [
            f"{c} = CASE WHEN {newer} THEN EXCLUDED.{c} ELSE {table}.{c} END" for c in names
        ]
        updates.append(f"{seq} = greatest({table}.{seq}, EXCLUDED.{seq})")
    if types is None:
        rows = "VALUES (" + ", ".join(f"${i}" for i in range(1, len(columns) + 1)) + ")"
    else:  # any number of rows: each column an array of its type, unnested; JSON columns
        # travel as text (an array of JSON lists would be taken for a nested array)
        arrays = ", ".join(
            f"${i}::{'text' if t in JSON_TYPES else t}[]" for i, t in enumerate(types, 1)
        )
        values = ", ".join(
            f"c{i}::{t}" if t in JSON_TYPES else f"c{i}" for i, t in enumerate(types, 1)
        )
        aliases = ", ".join(f"c{i}" for i in range(1, len(types) + 1))
        rows = f"SELECT {values} FROM unnest({arrays}) AS r({aliases})"
    conflict = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) {rows} "
        f"ON CONFLICT ({', '.join(key)}) {conflict}"
    )
