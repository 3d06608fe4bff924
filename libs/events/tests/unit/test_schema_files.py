"""The committed schema files: up to date, deterministic, and never broken once published.

The first two tests guard the real files in libs/events/schemas. The others run the exporter on
a copy in a temporary directory to show how it reacts to each situation a developer meets:
a forgotten regeneration, an incompatible edit, a version bump with or without an upcaster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import AwareDatetime

from billing_events import schema_export
from billing_events.contract.commands import command_registry
from billing_events.contract.common import Identifier
from billing_events.contract.events import CancellationReason
from billing_events.envelope import EventData, EventRegistry, registry
from billing_events.schema_export import (
    ASYNCAPI_FILE,
    DEFAULT_SCHEMA_DIR,
    Kind,
    SchemaExportError,
    SchemaName,
    check,
    generate,
    main,
    publication_problems,
    read_published,
    read_published_at,
    render_json,
    write,
)

CANCELED_V1 = "events/SubscriptionCanceled.v1.json"
CANCELED_V2 = "events/SubscriptionCanceled.v2.json"


# --- the real committed files ---------------------------------------------------------------


def test_committed_schemas_are_what_the_models_generate() -> None:
    report = check(DEFAULT_SCHEMA_DIR)
    assert not report.drift, (
        "A model changed without regenerating its published schema: run `make schemas` "
        "and commit libs/events/schemas.\n\n" + report.summary(DEFAULT_SCHEMA_DIR)
    )


def test_committed_schemas_are_compatible_with_the_models() -> None:
    report = check(DEFAULT_SCHEMA_DIR)
    assert not report.problems, report.summary(DEFAULT_SCHEMA_DIR)


def test_schemas_published_at_the_git_baseline_are_still_honoured() -> None:
    """What is committed at the baseline (HEAD, or $SCHEMA_BASELINE in CI: the target branch)
    was published; regenerating an incompatible change in the same commit must not hide it."""
    baseline = os.environ.get("SCHEMA_BASELINE", "HEAD")
    try:
        published = read_published_at(baseline, DEFAULT_SCHEMA_DIR)
    except SchemaExportError as exc:
        if "not a git repository" in str(exc):
            pytest.skip("not a git checkout: nothing was published from here")
        raise
    assert publication_problems(published) == []


def test_every_model_has_its_committed_file() -> None:
    published = read_published(DEFAULT_SCHEMA_DIR)
    for kind, kind_registry in {Kind.EVENTS: registry, Kind.COMMANDS: command_registry}.items():
        for model in kind_registry.models():
            name = SchemaName(kind, model.event_type, model.schema_version)
            assert name in published.schemas, f"{name.path} is not committed"
    assert (DEFAULT_SCHEMA_DIR / ASYNCAPI_FILE).is_file()


def test_generation_is_deterministic_with_sorted_keys_and_a_trailing_newline() -> None:
    first, second = generate({}), generate({})
    assert first == second
    for path, text in first.items():
        assert text.endswith("\n"), path
        assert not text.endswith("\n\n"), path
        if path.endswith(".json"):
            assert render_json(json.loads(text)) == text, f"{path} is not in canonical form"


def test_each_schema_file_names_and_describes_its_message() -> None:
    schema = json.loads((DEFAULT_SCHEMA_DIR / CANCELED_V1).read_text())
    assert schema["$id"] == "urn:billing-events:events:SubscriptionCanceled:v1"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "SubscriptionCanceled v1"
    assert "event store" in schema["description"]
    assert schema["properties"]["event_type"]["const"] == "SubscriptionCanceled"
    assert schema["properties"]["schema_version"]["const"] == 1
    assert schema["properties"]["data"] == {"$ref": "#/$defs/SubscriptionCanceled"}
    # A reader refuses a message without these, so the schema requires them too.
    assert {"event_id", "occurred_at", "data"} <= set(schema["required"])
    assert "causation_id" not in schema["required"]
    command = json.loads((DEFAULT_SCHEMA_DIR / "commands/CancelSubscription.v1.json").read_text())
    assert "command id" in command["description"]


# --- the exporter on a copy -----------------------------------------------------------------


@pytest.fixture
def schema_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "schemas"
    shutil.copytree(DEFAULT_SCHEMA_DIR, copy)
    return copy


def edit(schema_dir: Path, path: str, change: dict[str, object]) -> None:
    """Apply ``change`` to the data model's $defs entry in a committed file."""
    file = schema_dir / path
    schema = json.loads(file.read_text())
    data_def = schema["properties"]["data"]["$ref"].rsplit("/", 1)[1]
    schema["$defs"][data_def]["properties"].update(change)
    file.write_text(render_json(schema))


def test_check_passes_on_an_up_to_date_copy(
    schema_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check", "--schema-dir", str(schema_dir)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_shows_a_diff_and_how_to_regenerate_when_a_file_is_stale(
    schema_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A compatible difference (an edited description): only regeneration is needed.
    file = schema_dir / CANCELED_V1
    file.write_text(file.read_text().replace("names the payload model", "hand edited"))

    assert main(["--check", "--schema-dir", str(schema_dir)]) == 1
    err = capsys.readouterr().err
    assert f"changed    {CANCELED_V1}" in err
    assert f"--- committed/{CANCELED_V1}" in err
    diff = [line.strip() for line in err.splitlines()]
    assert any(d.startswith("-") and '"description": "hand edited"' in d for d in diff)
    assert any(d.startswith("+") and '"description": "names the payload model"' in d for d in diff)
    assert "make schemas" in err

    assert main(["--schema-dir", str(schema_dir)]) == 0
    assert f"wrote {schema_dir / CANCELED_V1}" in capsys.readouterr().out
    assert check(schema_dir).ok


def test_check_lists_missing_and_unexpected_files(schema_dir: Path) -> None:
    (schema_dir / CANCELED_V1).unlink()
    (schema_dir / ASYNCAPI_FILE).unlink()
    (schema_dir / "events" / "notes.txt").write_text("scratch")
    report = check(schema_dir)
    assert {(d.status, d.path) for d in report.drift} == {
        ("missing", CANCELED_V1),
        ("missing", ASYNCAPI_FILE),
        ("unexpected", "events/notes.txt"),
    }
    assert "notes.txt" in report.summary(schema_dir)


def test_write_creates_everything_in_an_empty_directory(tmp_path: Path) -> None:
    written, problems = write(tmp_path)
    assert problems == []
    assert CANCELED_V1 in written
    assert ASYNCAPI_FILE in written
    assert check(tmp_path).ok
    assert write(tmp_path) == ([], []), "a second run changes nothing"


def test_writer_refuses_an_incompatible_change_to_a_published_file(schema_dir: Path) -> None:
    # The published v1 had a field that the model no longer has: regenerating would remove it.
    edit(schema_dir, CANCELED_V1, {"refund_id": {"type": "string"}})
    stale_other = schema_dir / "events/CancellationRevoked.v1.json"
    stale_other.write_text(stale_other.read_text().replace("names the payload", "hand edited"))

    with pytest.raises(SchemaExportError) as refused:
        write(schema_dir)
    message = str(refused.value)
    assert f"{CANCELED_V1}: data.refund_id: field removed" in message
    assert "schema_version" in message
    assert "upcaster" in message
    assert "hand edited" in stale_other.read_text(), "nothing is written when refusing"

    report = check(schema_dir)
    assert f"{CANCELED_V1}: data.refund_id: field removed" in report.problems
    assert "Published schemas would change incompatibly" in report.summary(schema_dir)


def test_cli_reports_a_refusal_as_an_error(
    schema_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(schema_dir, CANCELED_V1, {"reason": {"type": "string"}})  # the model has an enum
    assert main(["--schema-dir", str(schema_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to overwrite published schemas incompatibly")
    assert "data.reason: now restricted to" in err


def test_baseline_needs_check() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--baseline", "HEAD"])
    assert exited.value.code == 2


# --- a version bump ---------------------------------------------------------------------------


class SubscriptionCanceledV2(EventData):
    """Version 2: several reasons instead of one (an incompatible change)."""

    event_type: ClassVar[str] = "SubscriptionCanceled"
    schema_version: ClassVar[int] = 2
    subscription_id: Identifier
    customer_id: Identifier
    canceled_at: AwareDatetime
    reasons: tuple[CancellationReason, ...] = ()
    comment: str | None = None
    at_period_end: bool = False


def events_with(*replacements: type[EventData]) -> EventRegistry:
    """The real event registry with some models replaced (or removed, see ``without``)."""
    replaced = {model.event_type: model for model in replacements}
    bumped = EventRegistry()
    for model in registry.models():
        bumped.register(replaced.get(model.event_type, model))
    return bumped


@pytest.fixture
def bumped(monkeypatch: pytest.MonkeyPatch) -> EventRegistry:
    events = events_with(SubscriptionCanceledV2)
    monkeypatch.setattr(
        schema_export, "registries", lambda: {Kind.EVENTS: events, Kind.COMMANDS: command_registry}
    )
    return events


def test_a_version_bump_adds_a_file_and_keeps_the_old_one(
    schema_dir: Path, bumped: EventRegistry
) -> None:
    published_v1 = (schema_dir / CANCELED_V1).read_text()
    written, problems = write(schema_dir)
    assert set(written) == {CANCELED_V2, ASYNCAPI_FILE}
    assert (schema_dir / CANCELED_V1).read_text() == published_v1, "v1 stays as published"
    assert (
        f"{CANCELED_V1}: no upcaster registered for SubscriptionCanceled from version 1, "
        "so its published messages cannot be read" in problems
    )
    assert "SubscriptionCanceled: no upcaster from version 1 to 2" in problems

    @bumped.upcaster("SubscriptionCanceled", 1)
    def reason_to_reasons(data: dict[str, object]) -> dict[str, object]:
        reason = data.pop("reason", None)
        return {**data, "reasons": [reason] if reason else []}

    assert check(schema_dir).ok
    spec = (schema_dir / ASYNCAPI_FILE).read_text()
    assert "$ref: ./events/SubscriptionCanceled.v1.json" in spec
    assert "$ref: ./events/SubscriptionCanceled.v2.json" in spec
    assert "Superseded by version 2; still published, upcast on read." in spec


def test_the_file_of_a_superseded_version_must_stay(
    schema_dir: Path, bumped: EventRegistry
) -> None:
    bumped.upcaster("SubscriptionCanceled", 1)(lambda data: data)
    write(schema_dir)
    (schema_dir / CANCELED_V1).unlink()
    assert (
        f"{CANCELED_V1}: missing; the file of a superseded version stays as it was "
        "published (restore it from git)" in check(schema_dir).problems
    )


def test_a_published_version_cannot_be_withdrawn(
    schema_dir: Path, bumped: EventRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    bumped.upcaster("SubscriptionCanceled", 1)(lambda data: data)
    write(schema_dir)
    monkeypatch.undo()  # back to the real registry, where the model is at v1
    assert any(
        p.startswith(f"{CANCELED_V2}: version 2 is published but the model is at version 1")
        for p in check(schema_dir).problems
    )


def test_a_published_type_cannot_disappear(
    schema_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without = EventRegistry()
    for model in registry.models():
        if model.event_type != "SubscriptionCanceled":
            without.register(model)
    monkeypatch.setattr(
        schema_export,
        "registries",
        lambda: {Kind.EVENTS: without, Kind.COMMANDS: command_registry},
    )
    assert (
        f"{CANCELED_V1}: SubscriptionCanceled is published but no model defines it any more; "
        "keep it registered so that its messages stay readable"
    ) in check(schema_dir).problems


# --- the git baseline -------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_baseline_catches_an_incompatible_change_regenerated_before_commit(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    schema_dir = repo / "libs" / "events" / "schemas"
    shutil.copytree(DEFAULT_SCHEMA_DIR, schema_dir)
    # Published (committed) with a field that the current model no longer has...
    edit(schema_dir, CANCELED_V1, {"refund_id": {"type": "string"}})
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "published")
    # ...then the file was regenerated from the model in the working tree.
    shutil.copy(DEFAULT_SCHEMA_DIR / CANCELED_V1, schema_dir / CANCELED_V1)

    assert read_published(schema_dir).schemas  # the working tree alone looks fine:
    report = check(schema_dir)
    assert report.ok
    with_baseline = check(schema_dir, baseline="HEAD")
    assert with_baseline.problems == [f"[HEAD] {CANCELED_V1}: data.refund_id: field removed"]


def test_an_unknown_baseline_is_a_clear_error(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "schemas").mkdir()
    with pytest.raises(SchemaExportError, match="no-such-ref"):
        read_published_at("no-such-ref", tmp_path / "schemas")
