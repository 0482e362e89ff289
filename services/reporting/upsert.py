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

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

# A stream position no event has: what an event without one (from an older relay) counts as.
NO_SEQUENCE = -1
JSON_TYPES = frozenset({"json", "jsonb"})


@dataclass(frozen=True, slots=True)
class Upsert:
    table: str
    key: Mapping[str, Any]
    once: Mapping[str, Any] = field(default_factory=dict)
    least: Mapping[str, Any] = field(default_factory=dict)
    greatest: Mapping[str, Any] = field(default_factory=dict)
    # seq column → (the event's position, the columns it sets)
    registers: Mapping[str, tuple[int, Mapping[str, Any]]] = field(default_factory=dict)

    @property
    def sql(self) -> str:
        return _statement(*self.shape)

    def sql_for_rows(self, types: Mapping[str, str]) -> str:
        """The statement for many rows of this shape, given the table's column types."""
        return _statement(*self.shape, tuple(types[c] for c in self.columns))

    @property
    def shape(self) -> tuple[Any, ...]:
        """What makes two upserts the same statement."""
        registers = self.registers
        return (
            self.table,
            tuple(self.key),
            tuple(self.once),
            tuple(self.least),
            tuple(self.greatest),
            tuple([(seq, tuple(registers[seq][1])) for seq in registers]) if registers else (),
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """The statement's columns, in the order of `args`."""
        columns = [*self.key, *self.once, *self.least, *self.greatest]
        for seq, (_, names) in self.registers.items():
            columns += [*names, seq]
        return tuple(columns)

    @property
    def args(self) -> tuple[Any, ...]:
        values: list[Any] = [*self.key.values(), *self.once.values()]
        values += [*self.least.values(), *self.greatest.values()]
        for position, columns in self.registers.values():
            values += [*columns.values(), position]
        return tuple(values)


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


def _extreme(pick: Any, a: Any, b: Any) -> Any:
    """SQL's least/greatest: NULLs are left out."""
    return a if b is None else b if a is None else pick(a, b)


def merged(first: Upsert, then: Upsert) -> Upsert:
    """One upsert doing what `first` and then `then` do to the same row (same table, key and
    columns), as each policy would: so a batch writes each row once, in one multi-row
    statement (which may not touch a row twice)."""
    registers = {
        seq: (then.registers[seq] if then.registers[seq][0] > position else (position, columns))
        for seq, (position, columns) in first.registers.items()
    }
    return Upsert(
        first.table,
        first.key,
        once={c: v if v is not None else then.once[c] for c, v in first.once.items()},
        least={c: _extreme(min, v, then.least[c]) for c, v in first.least.items()},
        greatest={c: _extreme(max, v, then.greatest[c]) for c, v in first.greatest.items()},
        registers=registers,
    )
