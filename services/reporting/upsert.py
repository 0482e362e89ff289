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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
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
        """The statement writing this upsert alone."""
        return _statement(*self.shape)

    def sql_for_rows(self, types: Mapping[str, str]) -> str:
        """The statement for many rows of this shape, given the table's column types."""
        return _statement(*self.shape, tuple(types[c] for c in self.columns))

    @property
    def shape(self) -> Shape:
        """What makes two upserts the same statement."""
        return self.row()[0]

    @property
    def columns(self) -> tuple[str, ...]:
        """The statement's columns, in the order of `args`."""
        _, key, once, least, greatest, registers = self.shape
        return (*key, *once, *least, *greatest, *(c for s, n in registers for c in (*n, s)))

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


class Layout:
    """A table's rows as a batch holds them: every column the table's upserts have written in
    this process, each under the one policy it has in them. All of a batch's upserts to a row
    merge into one row, whatever their shapes, and a table takes one statement a batch (a row
    written by upserts of three shapes used to be written three times, by a statement each,
    two of them updates). Columns are added as upserts bring them, so a row may be shorter than
    the layout: what it lacks is NULL, which no policy takes (`sparse` statements)."""

    def __init__(self, table: str, key: tuple[str, ...]) -> None:
        self.table = table
        self.key = key
        self.columns: list[str] = list(key)
        # each column's policy: once, least, greatest, or the seq column of its register (the
        # seq column's own is itself)
        self.policy: dict[str, str] = dict.fromkeys(key, "key")
        self._canonical: tuple[int, Shape, tuple[int, ...]] | None = None

    def place(self, shape: Shape) -> Place | None:
        """Where an upsert of `shape` puts its values in this layout's rows, the layout taking
        the columns it lacks; None if the shape writes one of them under another policy (its
        upserts then keep a layout of their own)."""
        table, key, once, least, greatest, registers = shape
        wanted = [(c, "once") for c in once]
        wanted += [(c, "least") for c in least] + [(c, "greatest") for c in greatest]
        for seq, names in registers:
            wanted += [(c, seq) for c in names]
            wanted.append((seq, seq))
        own: dict[str, str] = {}
        if (table, key) != (self.table, self.key) or any(
            own.setdefault(c, p) != p or self.policy.get(c, p) != p for c, p in wanted
        ):
            return None
        for column, policy in wanted:
            if column not in self.policy:
                self.policy[column] = policy
                self.columns.append(column)
        index = {column: i for i, column in enumerate(self.columns)}
        targets = [*range(len(key)), *(index[c] for c, _ in wanted)]
        pairs = list(enumerate(targets))
        ends = [len(key) + len(once)]
        ends += [ends[-1] + len(least), ends[-1] + len(least) + len(greatest)]
        spans = []  # each register: its seq's position in the values and in the row, and
        start = ends[-1]  # its columns' pairs
        for _, names in registers:
            at = start + len(names)
            spans.append((at, targets[at], tuple(pairs[start:at])))
            start = at + 1
        # a new row: each of its positions up to the last this shape writes takes the value
        # there, or the NULL appended after the values
        source = {target: i for i, target in enumerate(targets)}
        picks = [source.get(i, len(targets)) for i in range(max(targets) + 1)]
        return Place(
            self,
            None if picks == list(range(len(targets))) else itemgetter(*picks),
            tuple(pairs[len(key) : ends[0]]),
            tuple(pairs[ends[0] : ends[1]]),
            tuple(pairs[ends[1] : ends[2]]),
            tuple(spans),
        )

    @property
    def once_only(self) -> bool:
        """Whether every column but the key's is written `once` (a new row of it then holds
        what a plain insert gives)."""
        return all(policy in ("key", "once") for policy in self.policy.values())

    def canonical(self) -> tuple[Shape, tuple[int, ...]]:
        """The layout as the shape of one statement, and where each of its columns is in the
        rows."""
        if self._canonical is None or self._canonical[0] != len(self.columns):
            by: dict[str, list[str]] = {}
            for column in self.columns:
                by.setdefault(self.policy[column], []).append(column)
            seqs = [c for c in self.columns if self.policy[c] == c]
            registers = tuple((seq, tuple(c for c in by[seq] if c != seq)) for seq in seqs)
            shape: Shape = (
                self.table,
                self.key,
                tuple(by.get("once", ())),
                tuple(by.get("least", ())),
                tuple(by.get("greatest", ())),
                registers,
            )
            index = {column: i for i, column in enumerate(self.columns)}
            columns = [*self.key, *shape[2], *shape[3], *shape[4]]
            for seq, names in registers:
                columns += [*names, seq]
            self._canonical = (len(self.columns), shape, tuple(index[c] for c in columns))
        return self._canonical[1], self._canonical[2]

    def sql(self, types: Sequence[str] | None = None) -> str:
        """The statement for one row (its values in `canonical` order), or, given the types of
        the columns in that order, for any number of rows."""
        shape, _ = self.canonical()
        return _statement(*shape, None if types is None else tuple(types), sparse=True)

    def full(self, rows: Iterable[list[Any]]) -> list[list[Any]]:
        """The rows, each as wide as the layout (NULL for the columns added since it was made)."""
        width = len(self.columns)
        out = list(rows)
        for row in out:
            if len(row) < width:
                row.extend([None] * (width - len(row)))
        return out


@dataclass(frozen=True, slots=True)
class Place:
    """Where an upsert's values (`Upsert.args`) go in its layout's rows, by policy: pairs of
    (position in the values, position in the row)."""

    layout: Layout
    # the values in a row's order (None: the values are in it already)
    gather: Callable[[list[Any]], tuple[Any, ...]] | None
    once: tuple[tuple[int, int], ...]
    least: tuple[tuple[int, int], ...]
    greatest: tuple[tuple[int, int], ...]
    # (the seq's position in the values, in the row, and the register's columns' pairs)
    registers: tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...]

    def row(self, values: list[Any]) -> list[Any]:
        """A new row holding the values (the list itself, if they are in the row's order)."""
        if self.gather is None:
            return values
        values.append(None)
        return list(self.gather(values))

    def merge(self, row: list[Any], values: Sequence[Any]) -> None:
        """`row` becomes what writing it and then the upsert of `values` to the same row does,
        as each policy would: so a batch writes each row once, in one multi-row statement
        (which may not touch a row twice)."""
        if len(row) < len(self.layout.columns):
            row.extend([None] * (len(self.layout.columns) - len(row)))
        for source, target in self.once:
            if row[target] is None:
                row[target] = values[source]
        for source, target in self.least:  # SQL's least and greatest leave NULLs out
            if (value := values[source]) is not None and (
                row[target] is None or value < row[target]
            ):
                row[target] = value
        for source, target in self.greatest:
            if (value := values[source]) is not None and (
                row[target] is None or value > row[target]
            ):
                row[target] = value
        for seq, at, columns in self.registers:  # strictly later positions only
            if row[at] is None or values[seq] > row[at]:
                row[at] = values[seq]
                for source, target in columns:
                    row[target] = values[source]


_LAYOUTS: dict[str, Layout] = {}  # by table
_PLACES: dict[Shape, Place] = {}


def place(shape: Shape) -> Place:
    """Where upserts of `shape` go: in their table's layout, or, should they write a column
    under another policy than the table's other upserts, in a layout of their own."""
    known = _PLACES.get(shape)
    if known is None:
        table, key = shape[0], shape[1]
        layout = _LAYOUTS.setdefault(table, Layout(table, key))
        known = layout.place(shape) or Layout(table, key).place(shape)
        assert known is not None  # (a new layout takes any shape)
        _PLACES[shape] = known
    return known


@lru_cache(maxsize=512)
def _statement(
    table: str,
    key: tuple[str, ...],
    once: tuple[str, ...],
    least: tuple[str, ...],
    greatest: tuple[str, ...],
    registers: tuple[tuple[str, tuple[str, ...]], ...],
    types: tuple[str, ...] | None = None,
    *,
    sparse: bool = False,
) -> str:
    """The upsert's statement: for one row (`VALUES`), or, given its columns' types, for any
    number (one array parameter per column). `sparse`: a row may leave a register out (its
    seq NULL), which then changes nothing."""
    columns = [*key, *once, *least, *greatest]
    for seq, names in registers:
        columns += [*names, seq]
    updates = [f"{c} = coalesce({table}.{c}, EXCLUDED.{c})" for c in once]
    updates += [f"{c} = least({table}.{c}, EXCLUDED.{c})" for c in least]
    updates += [f"{c} = greatest({table}.{c}, EXCLUDED.{c})" for c in greatest]
    for seq, names in registers:
        newer = f"({table}.{seq} IS NULL OR EXCLUDED.{seq} > {table}.{seq})"
        if sparse:
            newer = f"(EXCLUDED.{seq} IS NOT NULL AND {newer})"
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
