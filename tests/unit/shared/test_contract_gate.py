"""The compatibility gate on real contracts: each kind of break, made to a real event contract
and checked against a copy of the real committed snapshots, fails the gate (the function and
the command `make lint` runs), and passes once it comes with a version bump and an upcaster."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, create_model

from shared.events import (
    REGISTRY,
    Channel,
    ComplaintFiled,
    NotificationOutcome,
    NotificationsRecorded,
    ResponderRole,
    WorkOrderSigned,
)
from shared.events.snapshots import (
    SNAPSHOTS,
    Contract,
    Family,
    IncompatibleContracts,
    check,
    event_family,
    main,
    with_contract,
    write,
)

REPO = Path(__file__).resolve().parents[3]
# The contracts of the build: tests elsewhere register sample events of their own.
REAL = [c for c in REGISTRY.values() if c.__module__.startswith("shared.events.")]


def variant(model: type[BaseModel], drop: tuple[str, ...] = (), **changed: Any) -> type[BaseModel]:
    """`model` as a developer might edit it: fields dropped, retyped (in place) or added."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in drop:
            fields[name] = changed.pop(name, (info.annotation, info))
    return create_model(model.__name__, __doc__=model.__doc__, **fields, **changed)


ChannelWithoutOpen311 = StrEnum(  # type: ignore[misc]
    "Channel", {c.name: c.value for c in Channel if c is not Channel.OPEN311}
)
RoleWithObserver = StrEnum(  # type: ignore[misc]
    "ResponderRole", {**{r.name: r.value for r in ResponderRole}, "OBSERVER": "observer"}
)
OutcomeWithoutTemplate = variant(NotificationOutcome, drop=("template",))

# (the real contract, the edited model, what the gate says): every kind of break.
BREAKS = {
    "field removed": (
        ComplaintFiled,
        variant(ComplaintFiled, drop=("text",)),
        "property 'text' was removed",
    ),
    "field retyped str to int": (
        ComplaintFiled,
        variant(ComplaintFiled, case_number=(int, ...)),
        "property 'case_number' changed type from string to integer",
    ),
    "format changed": (
        WorkOrderSigned,
        variant(WorkOrderSigned, signed_at=(date, ...)),
        "property 'signed_at' changed format from date-time to date",
    ),
    "enum value removed": (
        ComplaintFiled,
        variant(ComplaintFiled, channel=(ChannelWithoutOpen311, ...)),
        "property 'channel' lost enum values ['open311']",
    ),
    "enum value added": (
        WorkOrderSigned,
        variant(WorkOrderSigned, role=(RoleWithObserver, ...)),
        "property 'role' gained enum values ['observer'] (older readers reject them)",
    ),
    "nullable to non-nullable": (
        WorkOrderSigned,
        variant(WorkOrderSigned, note=(str, "")),
        "property 'note' no longer accepts null",
    ),
    "non-nullable to nullable": (
        WorkOrderSigned,
        variant(WorkOrderSigned, responder_name=(str | None, ...)),
        "property 'responder_name' may now be null (older readers require a value)",
    ),
    "new required field": (
        WorkOrderSigned,
        variant(WorkOrderSigned, signer_phone=(str, ...)),
        "property 'signer_phone' became required",
    ),
    "optional field made required": (
        ComplaintFiled,
        variant(ComplaintFiled, category=(str | None, ...)),
        "property 'category' became required",
    ),
    "field of a nested model removed": (
        NotificationsRecorded,
        variant(NotificationsRecorded, outcomes=(list[OutcomeWithoutTemplate], ...)),  # type: ignore[valid-type]
        "property 'outcomes[].template' was removed",
    ),
}


@pytest.fixture(scope="module")
def real_family() -> Family:
    return event_family(REAL)


@pytest.fixture
def family(real_family: Family, tmp_path: Path) -> Family:
    """The real event contracts over a copy of the real committed snapshots."""
    folder = tmp_path / "schemas"
    shutil.copytree(SNAPSHOTS, folder)
    return replace(real_family, folder=folder)


def edited(family: Family, real: type[Any], model: type[BaseModel], **how: Any) -> Family:
    contract = Contract.of(model, real.event_type, how.pop("version", real.version), **how)
    return with_contract(family, contract)


def gate(family: Family) -> list[str]:
    return [str(problem) for problem in check(family)]


def command(family: Family, *argv: str) -> int:
    return main(argv or ["--check"], chosen=lambda: [family])


def files(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(folder.iterdir())}


def test_the_committed_snapshots_pass_the_gate_and_an_unedited_model_changes_nothing(family):
    assert gate(family) == []
    assert gate(edited(family, ComplaintFiled, variant(ComplaintFiled))) == []
    assert write(family) == []


def test_make_lint_runs_the_gate_and_it_passes_on_the_repository():
    assert "python -m shared.events.snapshots --check" in (REPO / "Makefile").read_text()
    done = subprocess.run(
        [sys.executable, "-m", "shared.events.snapshots", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "contracts match their committed snapshots" in done.stdout


@pytest.mark.parametrize("kind", BREAKS)
def test_a_break_at_the_same_version_fails_the_gate_with_what_to_do(kind, family, capsys):
    real, model, what = BREAKS[kind]
    broken = edited(family, real, model)
    before = files(family.folder)

    assert gate(broken) == [
        f"event {real.event_type} v{real.version}: breaking change: {what}. Bump the version "
        f"to v{real.version + 1} and add an upcaster from v{real.version}."
    ]
    assert command(broken) == 1
    assert what in capsys.readouterr().err
    with pytest.raises(IncompatibleContracts, match="Bump the version"):
        write(broken)
    assert command(broken, "--write") == 1
    assert files(family.folder) == before


@pytest.mark.parametrize("kind", BREAKS)
def test_the_same_break_passes_with_a_version_bump_an_upcaster_and_the_new_snapshot(kind, family):
    real, model, _ = BREAKS[kind]
    bumped = real.version + 1
    old_snapshot = (family.folder / f"{real.event_type}.v{real.version}.json").read_text()

    no_upcaster = edited(family, real, model, version=bumped)
    assert f"event {real.event_type} v{bumped}: no upcaster from v{real.version}" in "\n".join(
        gate(no_upcaster)
    )
    with pytest.raises(IncompatibleContracts, match=f"Add an upcaster from v{real.version}"):
        write(no_upcaster)

    upcast = edited(family, real, model, version=bumped, upcasters={real.version})
    assert gate(upcast) == [
        f"event {real.event_type} v{bumped}: no committed snapshot of this version. "
        "Run `make schemas` and commit the new snapshot."
    ]
    assert command(upcast) == 1
    assert [p.name for p in write(upcast)] == [f"{real.event_type}.v{bumped}.json"]
    assert gate(upcast) == []
    assert command(upcast) == 0
    # The old version's snapshot stays, so what history holds is still checked.
    assert (family.folder / f"{real.event_type}.v{real.version}.json").read_text() == old_snapshot


def test_a_new_optional_field_passes_once_the_snapshot_is_refreshed(family):
    grown = edited(
        family, ComplaintFiled, variant(ComplaintFiled, hotline_ticket=(str | None, None))
    )
    assert gate(grown) == [
        "event ComplaintFiled v1: the committed snapshot is stale (a compatible change). "
        "Run `make schemas` and commit the refreshed snapshot."
    ]
    assert command(grown) == 1
    assert [p.name for p in write(grown)] == ["ComplaintFiled.v1.json"]
    assert (
        "hotline_ticket"
        in json.loads((family.folder / "ComplaintFiled.v1.json").read_text())["properties"]
    )
    assert gate(grown) == []


def test_a_nested_model_may_gain_an_optional_field_too(family):
    outcome = variant(NotificationOutcome, channel_message_id=(str | None, None))
    grown = edited(
        family,
        NotificationsRecorded,
        variant(NotificationsRecorded, outcomes=(list[outcome], ...)),  # type: ignore[valid-type]
    )
    assert [p.refresh for p in check(grown)] == [True]


def test_a_renamed_type_fails_unless_it_names_its_former_type_with_a_bump_and_an_upcaster(family):
    renamed_model = variant(WorkOrderSigned)
    renamed = with_contract(
        family, Contract.of(renamed_model, "WorkOrderAccepted", 1), instead_of="WorkOrderSigned"
    )
    problems = gate(renamed)
    assert (
        "event WorkOrderSigned v1: the wire type no longer exists (removed or renamed): its "
        "history and older producers' messages would become unreadable. Keep the contract; for "
        "a rename, name 'WorkOrderSigned' in the new contract's `formerly`, with a version above "
        "v1 and an upcaster from v1; or retire it with a reason." in problems
    )
    assert command(renamed) == 1

    same_version = with_contract(
        family,
        Contract.of(renamed_model, "WorkOrderAccepted", 1, formerly=["WorkOrderSigned"]),
        instead_of="WorkOrderSigned",
    )
    assert (
        "event WorkOrderAccepted v1: renamed from WorkOrderSigned, which is committed at v1: a "
        "rename is not backward compatible. Set the version to v2 and add an upcaster from v1."
        in gate(same_version)
    )

    bumped = with_contract(
        family,
        Contract.of(renamed_model, "WorkOrderAccepted", 2, {1}, formerly=["WorkOrderSigned"]),
        instead_of="WorkOrderSigned",
    )
    assert [p.name for p in write(bumped)] == ["WorkOrderAccepted.v2.json"]
    assert gate(bumped) == []
    assert (family.folder / "WorkOrderSigned.v1.json").exists()


def test_a_removed_type_passes_only_when_retired_with_a_reason(family):
    removed = replace(
        family, contracts=[c for c in family.contracts if c.name != "IntakeCatalogueLoaded"]
    )
    assert [p.contract for p in check(removed)] == ["IntakeCatalogueLoaded v1"]
    retired = replace(
        removed, retired={"IntakeCatalogueLoaded": "没有记录了 / no recorded loads remain"}
    )
    assert gate(retired) == []


def test_a_version_that_goes_back_fails(family):
    shutil.copy(family.folder / "ComplaintFiled.v1.json", family.folder / "ComplaintFiled.v2.json")
    assert (
        "event ComplaintFiled v1: v2 is already committed, the code is back at v1. Set the "
        "version to v3 (versions only grow) with an upcaster from v2." in gate(family)
    )


def test_an_upcaster_is_needed_from_every_committed_version_not_only_the_last(family):
    notification = next(c for c in family.contracts if c.name == "NotificationDelivered")
    assert notification.version == 2 and 1 in notification.upcasters
    to_v3 = replace(notification, version=3, upcasters={2})
    with pytest.raises(
        IncompatibleContracts, match="NotificationDelivered v3: no upcaster from v1"
    ):
        write(with_contract(family, to_v3))

    chained = with_contract(family, replace(to_v3, upcasters={1, 2}))
    assert [p.name for p in write(chained)] == ["NotificationDelivered.v3.json"]
    assert gate(chained) == []
    assert {p.name for p in family.folder.glob("NotificationDelivered.*")} == {
        "NotificationDelivered.v1.json",
        "NotificationDelivered.v2.json",
        "NotificationDelivered.v3.json",
    }


def test_a_new_contract_needs_its_snapshot_committed(family):
    class HotlineTicketLinked(BaseModel):
        complaint_id: str
        ticket: str

    grown = replace(
        family,
        contracts=[*family.contracts, Contract.of(HotlineTicketLinked, "HotlineTicketLinked", 1)],
    )
    assert [p.refresh for p in check(grown)] == [True]
    assert command(grown, "--write") == 0
    assert gate(grown) == []
