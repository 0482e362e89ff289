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
        return _statement(
            self.table,
            tuple(self.key),
            tuple(self.once),
            tuple(self.least),
            tuple(self.greatest),
            tuple((seq, tuple(columns)) for seq, (_, columns) in self.registers.items()),
        )

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
) -> str:
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
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    conflict = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({', '.join(key)}) {conflict}"
    )
