"""The compatibility gate: committed JSON-Schema snapshots of every versioned contract, checked.

    python -m shared.events.snapshots --check   # `make lint`: non-zero on any problem
    python -m shared.events.snapshots --write   # `make schemas`: refuses breaking changes

A family is a set of versioned contracts with one snapshot folder (`<Name>.v<N>.json`): the
event contracts here; any other family (webhook payloads) passes the same gate through
`check` and `write`. The policy it enforces is docs/contracts.md, "Compatibility policy".
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import BaseModel

from shared.events import REGISTRY, Event
from shared.events.base import RETIRED
from shared.events.compatibility import Schema, breaking_changes
from shared.events.public import PUBLIC_PAYLOADS

SNAPSHOTS = Path(__file__).with_name("schemas")
PUBLIC_SNAPSHOTS = Path(__file__).with_name("public_schemas")
_SNAPSHOT_NAME = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.json$")


@dataclass(frozen=True)
class Contract:
    """One versioned contract as the gate sees it: its wire name, version and JSON Schema, the
    versions it has an upcaster from (each to the next), and the names it had before a rename."""

    name: str
    version: int
    schema: Schema
    upcasters: Collection[int] = ()
    formerly: Sequence[str] = ()

    @classmethod
    def of(
        cls,
        model: type[BaseModel],
        name: str,
        version: int,
        upcasters: Collection[int] = (),
        formerly: Sequence[str] = (),
    ) -> Contract:
        """The contract a pydantic model puts on the wire (its serialization schema)."""
        schema = model.model_json_schema(mode="serialization")
        return cls(name, version, schema, frozenset(upcasters), tuple(formerly))

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass(frozen=True)
class Family:
    """Contracts whose snapshots share a folder, and the names retired from it (with why)."""

    title: str
    folder: Path
    contracts: Sequence[Contract]
    retired: Mapping[str, str] = field(default_factory=dict)

    def snapshot_path(self, name: str, version: int) -> Path:
        return self.folder / f"{name}.v{version}.json"

    def snapshots(self) -> dict[str, dict[int, Path]]:
        """Every committed snapshot, by wire name and version."""
        found: dict[str, dict[int, Path]] = {}
        for path in sorted(self.folder.glob("*.json")):
            if match := _SNAPSHOT_NAME.match(path.name):
                found.setdefault(match["name"], {})[int(match["version"])] = path
        return found


@dataclass(frozen=True)
class Problem:
    """What is wrong with one contract, and what to do about it. `refresh` problems are the
    ones `make schemas` fixes (a new contract, version or optional property)."""

    family: str
    contract: str
    what: str
    remedy: str
    refresh: bool = False

    def __str__(self) -> str:
        return f"{self.family} {self.contract}: {self.what}. {self.remedy}"


def current_schema(event_class: type[Event]) -> Schema:
    return event_class.model_json_schema(mode="serialization")


def snapshot_path(event_class: type[Event]) -> Path:
    return SNAPSHOTS / f"{event_class.event_type}.v{event_class.version}.json"


def event_contract(event_class: type[Event]) -> Contract:
    return Contract.of(
        event_class,
        event_class.event_type,
        event_class.version,
        event_class.upcasters,
        event_class.formerly,
    )


def event_family(classes: Iterable[type[Event]] | None = None) -> Family:
    """The event contracts (by default every registered one) and their snapshots."""
    chosen = REGISTRY.values() if classes is None else classes
    return Family("event", SNAPSHOTS, tuple(event_contract(c) for c in chosen), RETIRED)


def check(family: Family) -> list[Problem]:
    """Every reason the family's contracts are not compatible with its committed snapshots."""
    snapshots = family.snapshots()
    problems = []
    for contract in family.contracts:
        problems += _check_contract(family, contract, snapshots)
    by_former_name = {old: c for c in family.contracts for old in c.formerly}
    current = {c.name for c in family.contracts}
    for name, versions in sorted(snapshots.items()):
        if name in current or name in by_former_name or name in family.retired:
            continue
        problems.append(
            Problem(
                family.title,
                f"{name} v{max(versions)}",
                "the wire type no longer exists (removed or renamed): its history and older "
                "producers' messages would become unreadable",
                f"Keep the contract; for a rename, name {name!r} in the new contract's "
                f"`formerly`, with a version above v{max(versions)} and an upcaster from "
                f"v{max(versions)}; or retire it with a reason.",
            )
        )
    return problems


def _check_contract(
    family: Family, contract: Contract, snapshots: Mapping[str, Mapping[int, Path]]
) -> list[Problem]:
    def problem(what: str, remedy: str, refresh: bool = False) -> Problem:
        return Problem(family.title, contract.label, what, remedy, refresh)

    own = snapshots.get(contract.name, {})
    history = dict(own)
    problems = []
    for old_name in contract.formerly:
        former = snapshots.get(old_name, {})
        history.update(former)
        if former and max(former) >= contract.version:
            problems.append(
                problem(
                    f"renamed from {old_name}, which is committed at v{max(former)}: a rename "
                    "is not backward compatible",
                    f"Set the version to v{max(former) + 1} and add an upcaster from "
                    f"v{max(former)}.",
                )
            )
    if newer := sorted(v for v in own if v > contract.version):
        problems.append(
            problem(
                f"v{newer[-1]} is already committed, the code is back at v{contract.version}",
                f"Set the version to v{newer[-1] + 1} (versions only grow) with an upcaster "
                f"from v{newer[-1]}.",
            )
        )
    path = own.get(contract.version)
    if path is None:
        problems.append(
            problem(
                "no committed snapshot of this version",
                "Run `make schemas` and commit the new snapshot.",
                refresh=True,
            )
        )
    else:
        committed = json.loads(path.read_text())
        if broken := breaking_changes(committed, contract.schema):
            problems += [
                problem(
                    f"breaking change: {what}",
                    f"Bump the version to v{contract.version + 1} and add an upcaster from "
                    f"v{contract.version}.",
                )
                for what in broken
            ]
        elif committed != contract.schema:
            problems.append(
                problem(
                    "the committed snapshot is stale (a compatible change)",
                    "Run `make schemas` and commit the refreshed snapshot.",
                    refresh=True,
                )
            )
    older = [v for v in history if v < contract.version]
    for version in range(min(older, default=contract.version), contract.version):
        if version in contract.upcasters:
            continue
        problems.append(
            problem(
                f"no upcaster from v{version} (v{min(older)} is committed: data of every "
                f"version since may be in history)",
                f"Add an upcaster from v{version} to v{version + 1}.",
            )
        )
    return problems


class IncompatibleContracts(SystemExit):
    """`write` refused: some contracts changed in a way no snapshot refresh makes compatible."""


def write(family: Family) -> list[Path]:
    """Record every contract's current schema at its version; older versions stay as history.
    Refuses, writing nothing, while any change is breaking."""
    problems = [p for p in check(family) if not p.refresh]
    if problems:
        raise IncompatibleContracts("\n".join(map(str, problems)))
    family.folder.mkdir(parents=True, exist_ok=True)
    written = []
    for contract in family.contracts:
        path = family.snapshot_path(contract.name, contract.version)
        text = json.dumps(contract.schema, indent=2, ensure_ascii=False) + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def with_contract(family: Family, contract: Contract, instead_of: str | None = None) -> Family:
    """`family` with `contract` in place of the one named `instead_of` (default: its own name)."""
    gone = instead_of or contract.name
    return replace(family, contracts=(*(c for c in family.contracts if c.name != gone), contract))


def public_family() -> Family:
    """The webhook payloads (shared/events/public): what subscribers receive of each event."""
    contracts = (Contract.of(p, p.event_type, p.version) for p in PUBLIC_PAYLOADS.values())
    return Family("webhook payload", PUBLIC_SNAPSHOTS, tuple(contracts))


def families() -> list[Family]:
    """Every family the gate checks."""
    return [event_family(), public_family()]


def main(argv: Sequence[str] | None = None, chosen: Callable[[], list[Family]] = families) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="fail on any incompatible change")
    action.add_argument("--write", action="store_true", help="record the current schemas")
    args = parser.parse_args(argv)
    if args.write:
        every = chosen()
        refused = [p for family in every for p in check(family) if not p.refresh]
        if refused:  # checked for every family first, so that none is written half
            print("契约快照未写入 / snapshots not written:", *refused, sep="\n", file=sys.stderr)
            return 1
        written = [path for family in every for path in write(family)]
        for path in written:
            print(path)
        print(f"{len(written)} snapshot(s) written, the others up to date")
        return 0
    checked = chosen()
    problems = [problem for family in checked for problem in check(family)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"契约兼容检查未通过 / contract compatibility gate failed: {len(problems)} "
            "problem(s); see docs/contracts.md, Compatibility policy",
            file=sys.stderr,
        )
        return 1
    count = sum(len(family.contracts) for family in checked)
    print(f"{count} contracts match their committed snapshots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
