"""Publish the event contract as JSON Schema and AsyncAPI, and keep what is published compatible.

    uv run python -m billing_events.schema_export            # write libs/events/schemas
    uv run python -m billing_events.schema_export --check    # exit 1 if they differ or broke
    uv run python -m billing_events.schema_export --check --baseline origin/main

Every event and command model is published as the JSON Schema of its whole envelope, one file
per type and schema version (``events/<Type>.v<N>.json``, ``commands/<Type>.v<N>.json``), plus
``asyncapi.yaml`` describing the topics. Output is deterministic (sorted keys, two-space indent,
trailing newline) so that the committed files can be compared with what the models generate.

A published file is a promise to every consumer: it may only change compatibly (a new optional
field, a wider type, more enum values, looser bounds). Anything else needs a new
``schema_version`` of the model, an upcaster from the old version, and the old file kept as it
was published. :func:`incompatible_changes` decides what is compatible; the writer refuses to
overwrite a published file incompatibly, and ``--check`` (run by the tests and CI) compares the
committed files, and optionally those of a git baseline, with the current models.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import functools
import inspect
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import create_model

from billing_events import asyncapi
from billing_events.contract.commands import command_registry
from billing_events.envelope import (
    REQUIRED_ENVELOPE_FIELDS,
    ContractError,
    Envelope,
    EventData,
    EventRegistry,
    registry,
)

JsonObject = dict[str, Any]

DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
ASYNCAPI_FILE = "asyncapi.yaml"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
REGENERATE = "run `make schemas` (uv run python -m billing_events.schema_export) and commit"
VERSION_BUMP_HINT = (
    "A published schema may only change compatibly (new optional fields, wider types or enums, "
    "looser bounds). For any other change raise the model's schema_version, register an "
    "upcaster from the old version (EventRegistry.upcaster) and keep the old version's file "
    "as it was published."
)
_MAX_DIFF_LINES = 40


class Kind(StrEnum):
    EVENTS = "events"
    COMMANDS = "commands"


def registries() -> dict[Kind, EventRegistry]:
    return {Kind.EVENTS: registry, Kind.COMMANDS: command_registry}


_FILE_NAME = re.compile(r"^(?P<type>[A-Za-z][A-Za-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.json$")


@dataclass(frozen=True, order=True)
class SchemaName:
    """Identifies one published schema file: ``<kind>/<Type>.v<version>.json``."""

    kind: Kind
    event_type: str
    version: int

    @property
    def path(self) -> str:
        return f"{self.kind.value}/{self.event_type}.v{self.version}.json"

    @classmethod
    def parse(cls, relative_path: str) -> SchemaName | None:
        kind, _, file_name = relative_path.partition("/")
        match = _FILE_NAME.match(file_name)
        if match is None or kind not in {k.value for k in Kind}:
            return None
        return cls(Kind(kind), match["type"], int(match["version"]))


class SchemaExportError(Exception):
    """The schemas cannot be generated or compared (a broken file, an unknown git ref...)."""


# --- generation -------------------------------------------------------------------------


def envelope_schema(model: type[EventData], kind: Kind) -> JsonObject:
    """JSON Schema (2020-12) of a whole message: the envelope with ``data`` being ``model``.

    Validation mode: it describes what readers accept, so a field with a default is optional
    in ``data``. The envelope fields a reader requires are required even where the Python
    class has a default for building new envelopes.
    """
    return copy.deepcopy(_envelope_schema(model, kind))


@functools.cache
def _envelope_schema(model: type[EventData], kind: Kind) -> JsonObject:
    # Cached: a check generates every schema twice (the files, then the comparison), and
    # building and validating ~30 of them is most of its time. Callers get a deep copy.
    name = SchemaName(kind, model.event_type, model.schema_version)
    wire = create_model(f"{model.event_type}Envelope", __base__=Envelope, data=(model, ...))
    schema: JsonObject = wire.model_json_schema(mode="validation")
    properties = schema["properties"]
    properties["event_type"] = {
        "const": model.event_type,
        "description": "names the payload model",
        "title": "Event Type",
        "type": "string",
    }
    properties["schema_version"] = {
        "const": model.schema_version,
        "description": "version of the payload model; older versions are upcast on read",
        "title": "Schema Version",
        "type": "integer",
    }
    schema["required"] = [f for f in Envelope.model_fields if f in REQUIRED_ENVELOPE_FIELDS]
    role = (
        "A billing event in its envelope, as stored in the event store and published on "
        "the topic of its stream's category, keyed by stream_id."
        if kind is Kind.EVENTS
        else "A command in the event envelope: event_id is the command id, stream_id the "
        "target stream, stream_version 0. Sent to the owning service's command topic, "
        "keyed by stream_id."
    )
    summary = inspect.cleandoc(model.__doc__ or "")
    schema.update(
        {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": f"urn:billing-events:{kind.value}:{model.event_type}:v{model.schema_version}",
            "$comment": f"Generated from the billing_events models by `make schemas`: "
            f"do not edit. Published as {name.path}; only ever changed compatibly.",
            "title": f"{model.event_type} v{model.schema_version}",
            "description": f"{summary}\n\n{role}" if summary else role,
        }
    )
    Draft202012Validator.check_schema(schema)
    return schema


def render_json(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def contract_version() -> str:
    try:
        return metadata.version("billing-events")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def generate(older_versions: Mapping[Kind, Mapping[str, Sequence[int]]]) -> dict[str, str]:
    """Every file the models generate, by path relative to the schema directory.

    ``older_versions`` lists the still-published older schema versions per type (their files
    are not generated: they are kept as published), so that AsyncAPI lists them too.
    """
    files: dict[str, str] = {}
    specs: dict[Kind, list[asyncapi.MessageSpec]] = {}
    for kind, kind_registry in registries().items():
        models = list(kind_registry.models())
        for model in models:
            name = SchemaName(kind, model.event_type, model.schema_version)
            files[name.path] = render_json(envelope_schema(model, kind))
        specs[kind] = asyncapi.message_specs(
            models,
            kind.value,
            lambda k, t, v: f"./{SchemaName(Kind(k), t, v).path}",
            older_versions.get(kind, {}),
        )
    document = asyncapi.build(specs[Kind.EVENTS], specs[Kind.COMMANDS], contract_version())
    files[ASYNCAPI_FILE] = asyncapi.render(document)
    return files


# --- compatibility ----------------------------------------------------------------------


@dataclass(frozen=True)
class Incompatibility:
    """One way a new schema breaks a message or a consumer the old schema allowed."""

    path: str  # where in the message: "data.reason", "data.lines[].amount"; "" for the root
    problem: str

    def __str__(self) -> str:
        return f"{self.path or '<message>'}: {self.problem}"


def incompatible_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Incompatibility]:
    """The incompatible differences from the published schema ``old`` to ``new``.

    Incompatible: a field removed; a required field added or a field made required; a type
    narrowed (number to integer, ``X | null`` to ``X``); an enum or const value no longer
    accepted; a lower bound raised or an upper bound lowered; a pattern or format added or
    changed. Compatible: a new optional field, a wider type or enum, looser bounds, and any
    change of title, description, default or ``$defs`` naming. ``$ref`` is followed within
    each document.
    """
    return _Comparison(old, new).compare(old, new, "")


class _Comparison:
    def __init__(self, old_root: Mapping[str, Any], new_root: Mapping[str, Any]) -> None:
        self._old_root = old_root
        self._new_root = new_root
        # $ref pairs under comparison: a recursive schema compares each pair once.
        self._active: set[tuple[str, str]] = set()

    def compare(
        self, old: Mapping[str, Any], new: Mapping[str, Any], path: str
    ) -> list[Incompatibility]:
        refs = (str(old.get("$ref", "")), str(new.get("$ref", "")))
        if refs == ("", ""):
            return self._compare_unions(old, new, path)
        if refs in self._active:
            return []
        self._active.add(refs)
        try:
            return self._compare_unions(
                _resolve(old, self._old_root), _resolve(new, self._new_root), path
            )
        finally:
            self._active.discard(refs)

    def _compare_unions(
        self, old: Mapping[str, Any], new: Mapping[str, Any], path: str
    ) -> list[Incompatibility]:
        new_branches = list(_branches(new, self._new_root))
        problems: list[Incompatibility] = []
        # Every alternative the old schema allowed must still be allowed by some new one.
        for old_branch in _branches(old, self._old_root):
            candidates = [b for b in new_branches if _types_accepted(_types(old_branch), _types(b))]
            if not candidates:
                wanted = _describe_types(_types(old_branch))
                offered = " | ".join(_describe_types(_types(b)) for b in new_branches)
                problems.append(
                    Incompatibility(
                        path, f"type narrowed: {wanted} no longer accepted (now {offered})"
                    )
                )
                continue
            outcomes = [self._compare_branch(old_branch, b, path) for b in candidates]
            if not any(not outcome for outcome in outcomes):
                problems.extend(outcomes[0])
        return problems

    def _compare_branch(
        self, old: Mapping[str, Any], new: Mapping[str, Any], path: str
    ) -> list[Incompatibility]:
        problems = [Incompatibility(path, p) for p in _value_problems(old, new)]
        problems += self._object_problems(old, new, path)
        if "items" in old or "items" in new:
            problems += self.compare(old.get("items", {}), new.get("items", {}), f"{path}[]")
        return problems

    def _object_problems(
        self, old: Mapping[str, Any], new: Mapping[str, Any], path: str
    ) -> list[Incompatibility]:
        old_props: Mapping[str, Any] = old.get("properties", {})
        new_props: Mapping[str, Any] = new.get("properties", {})
        problems: list[Incompatibility] = []
        for name, old_prop in old_props.items():
            where = f"{path}.{name}" if path else name
            if name not in new_props:
                problems.append(Incompatibility(where, "field removed"))
            else:
                problems += self.compare(old_prop, new_props[name], where)
        old_required = set(old.get("required", ()))
        for name in [n for n in new.get("required", ()) if n not in old_required]:
            where = f"{path}.{name}" if path else name
            change = "field became required" if name in old_props else "required field added"
            problems.append(Incompatibility(where, change))
        # Undeclared fields: False rejects them, True or {} accepts any, a schema constrains.
        old_extra = old.get("additionalProperties", True)
        new_extra = new.get("additionalProperties", True)
        if old_extra is not False:
            if new_extra is False:
                problems.append(Incompatibility(path, "additional fields no longer accepted"))
            elif isinstance(new_extra, Mapping):
                old_any = {} if old_extra is True else old_extra
                problems += self.compare(old_any, new_extra, f"{path}.*" if path else "*")
        return problems


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    seen: set[str] = set()
    while "$ref" in schema:
        ref = str(schema["$ref"])
        if not ref.startswith("#/") or ref in seen:
            raise SchemaExportError(f"cannot follow $ref {ref!r} (only local, non-cyclic refs)")
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise SchemaExportError(f"dangling $ref {ref!r}")
            target = target[part]
        # Keywords beside a $ref (2020-12 allows them) apply too.
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _branches(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The alternatives a schema allows: anyOf/oneOf members and the members of a type list."""
    schema = _resolve(schema, root)
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            rest = {k: v for k, v in schema.items() if k != keyword}
            for member in schema[keyword]:
                yield from _branches({**rest, **_resolve(member, root)}, root)
            return
    if "allOf" in schema:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for member in schema["allOf"]:
            merged.update(_resolve(member, root))
        yield from _branches(merged, root)
        return
    kinds = schema.get("type")
    if isinstance(kinds, list):
        for kind in kinds:
            yield {**schema, "type": kind}
        return
    yield schema


_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),  # before int: bool is an int in Python
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (type(None), "null"),
    (list, "array"),
    (dict, "object"),
)


def _json_type(value: Any) -> str:
    return next(name for kind, name in _JSON_TYPES if isinstance(value, kind))


def _types(schema: Mapping[str, Any]) -> frozenset[str] | None:
    """JSON types a schema branch allows; None when it allows any."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    values = _values(schema)
    if values is not None:
        return frozenset(_json_type(v) for v in values)
    if "properties" in schema:
        return frozenset({"object"})
    if "items" in schema:
        return frozenset({"array"})
    return None


def _types_accepted(old: frozenset[str] | None, new: frozenset[str] | None) -> bool:
    if new is None:
        return True
    if old is None:
        return False
    return all(t in new or (t == "integer" and "number" in new) for t in old)


def _describe_types(types: frozenset[str] | None) -> str:
    return "any value" if types is None else "/".join(sorted(types))


def _values(schema: Mapping[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _value_problems(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    old_values, new_values = _values(old), _values(new)
    if new_values is not None:
        if old_values is None:
            problems.append(f"now restricted to {_show(new_values)}")
        else:
            gone = [v for v in old_values if v not in new_values]
            if gone:
                problems.append(f"value(s) no longer accepted: {_show(gone)}")
    for keyword in ("pattern", "format"):
        if keyword in new and new[keyword] != old.get(keyword):
            change = "changed" if keyword in old else "added"
            problems.append(f"{keyword} {change}: {_show([new[keyword]])}")
    for keyword in ("minLength", "minItems", "minProperties"):
        if new.get(keyword, 0) > old.get(keyword, 0):
            problems.append(f"{keyword} raised to {new[keyword]}")
    for keyword in ("maxLength", "maxItems", "maxProperties"):
        if keyword in new and new[keyword] < old.get(keyword, float("inf")):
            problems.append(f"{keyword} lowered to {new[keyword]}")
    old_low, new_low = (
        _bound(old, "minimum", "exclusiveMinimum"),
        _bound(new, "minimum", "exclusiveMinimum"),
    )
    if new_low is not None and (old_low is None or _stricter(new_low, old_low, lower=True)):
        problems.append(f"lower bound raised to {_show_bound(new_low, '>')}")
    old_high, new_high = (
        _bound(old, "maximum", "exclusiveMaximum"),
        _bound(new, "maximum", "exclusiveMaximum"),
    )
    if new_high is not None and (old_high is None or _stricter(new_high, old_high, lower=False)):
        problems.append(f"upper bound lowered to {_show_bound(new_high, '<')}")
    if "multipleOf" in new and (
        "multipleOf" not in old or old["multipleOf"] % new["multipleOf"] != 0
    ):
        problems.append(f"multipleOf {new['multipleOf']} added or changed")
    return problems


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str) -> tuple[float, bool] | None:
    """The tightest of an inclusive and an exclusive bound: (value, is_exclusive)."""
    bounds = []
    if inclusive in schema:
        bounds.append((float(schema[inclusive]), False))
    if exclusive in schema:
        bounds.append((float(schema[exclusive]), True))
    if not bounds:
        return None
    if inclusive.startswith("min"):
        return max(bounds)  # a higher minimum, and exclusive at equal values, is tighter
    return min(bounds, key=lambda b: (b[0], not b[1]))


def _stricter(new: tuple[float, bool], old: tuple[float, bool], *, lower: bool) -> bool:
    if new[0] != old[0]:
        return new[0] > old[0] if lower else new[0] < old[0]
    return new[1] and not old[1]


def _show_bound(bound: tuple[float, bool], sign: str) -> str:
    value = int(bound[0]) if bound[0].is_integer() else bound[0]
    return f"{sign} {value}" if bound[1] else f"{sign}= {value}"


def _show(values: Sequence[Any]) -> str:
    return ", ".join(json.dumps(v, ensure_ascii=False) for v in values)


# --- published files --------------------------------------------------------------------


@dataclass
class Published:
    """The schema files found in a schema directory or a git tree."""

    schemas: dict[SchemaName, JsonObject] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)  # not named <Type>.v<N>.json
    unreadable: list[str] = field(default_factory=list)  # not a JSON object

    def add(self, relative_path: str, text: str) -> None:
        name = SchemaName.parse(relative_path)
        if name is None:
            self.unexpected.append(relative_path)
            return
        try:
            schema = json.loads(text)
        except json.JSONDecodeError as exc:
            self.unreadable.append(f"{relative_path}: not JSON ({exc})")
            return
        if not isinstance(schema, dict):
            self.unreadable.append(f"{relative_path}: not a JSON object")
            return
        self.schemas[name] = schema

    def older_versions(self) -> dict[Kind, dict[str, list[int]]]:
        """Published versions below each registered model's current one, kept as history."""
        found: dict[Kind, dict[str, list[int]]] = {kind: {} for kind in Kind}
        for name in sorted(self.schemas):
            try:
                model = registries()[name.kind].model_for(name.event_type)
            except ContractError:
                continue
            if name.version < model.schema_version:
                found[name.kind].setdefault(name.event_type, []).append(name.version)
        return found


def read_published(schema_dir: Path) -> Published:
    published = Published()
    for kind in Kind:
        directory = schema_dir / kind.value
        if directory.is_dir():
            for file in sorted(p for p in directory.iterdir() if p.is_file()):
                published.add(f"{kind.value}/{file.name}", file.read_text(encoding="utf-8"))
    return published


def read_published_at(ref: str, schema_dir: Path) -> Published:
    """The schema files as committed at git ``ref`` (what was published before this change)."""
    anchor = next(p for p in (schema_dir, *schema_dir.parents) if p.is_dir())
    top = Path(_git(anchor, "rev-parse", "--show-toplevel").strip())
    prefix = schema_dir.resolve().relative_to(top.resolve()).as_posix()
    try:
        _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except SchemaExportError as exc:
        raise SchemaExportError(f"unknown git ref {ref!r} in {top}") from exc
    published = Published()
    listing = _git(top, "ls-tree", "-r", "--name-only", ref, "--", prefix)
    for path in sorted(line for line in listing.splitlines() if line):
        relative = path.removeprefix(prefix + "/")
        if relative.split("/", 1)[0] in {k.value for k in Kind}:
            published.add(relative, _git(top, "show", f"{ref}:{path}"))
    return published


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed git arguments, no shell
            ["git", *args],  # noqa: S607 - git from PATH, like any developer tool
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    except FileNotFoundError as exc:
        raise SchemaExportError("git is not installed") from exc
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.strip() or f"exit status {exc.returncode}"
        raise SchemaExportError(f"git {' '.join(args)}: {detail}") from exc
    return done.stdout


def publication_problems(published: Published) -> list[str]:
    """Ways the current models break the published schemas; empty when all is compatible."""
    problems = list(published.unreadable)
    for name, old in sorted(published.schemas.items()):
        kind_registry = registries()[name.kind]
        try:
            model = kind_registry.model_for(name.event_type)
        except ContractError:
            problems.append(
                f"{name.path}: {name.event_type} is published but no model defines it any "
                "more; keep it registered so that its messages stay readable"
            )
            continue
        if name.version > model.schema_version:
            problems.append(
                f"{name.path}: version {name.version} is published but the model is at "
                f"version {model.schema_version}; a published version cannot be withdrawn"
            )
        elif name.version == model.schema_version:
            current = envelope_schema(model, name.kind)
            problems += [f"{name.path}: {c}" for c in incompatible_changes(old, current)]
        elif name.version in kind_registry.missing_upcasters(name.event_type):
            problems.append(
                f"{name.path}: no upcaster registered for {name.event_type} from version "
                f"{name.version}, so its published messages cannot be read"
            )
    return problems


def history_problems(published: Published) -> list[str]:
    """Every older version of every model must stay published and be readable (upcast)."""
    problems: list[str] = []
    for kind, kind_registry in registries().items():
        for model in kind_registry.models():
            missing = set(kind_registry.missing_upcasters(model.event_type))
            for version in range(1, model.schema_version):
                name = SchemaName(kind, model.event_type, version)
                if name not in published.schemas:
                    problems.append(
                        f"{name.path}: missing; the file of a superseded version stays as "
                        "it was published (restore it from git)"
                    )
                if version in missing:
                    problems.append(
                        f"{model.event_type}: no upcaster from version {version} to {version + 1}"
                    )
    return problems


# --- drift between the committed files and the models -----------------------------------


@dataclass(frozen=True)
class Drift:
    path: str
    status: str  # "changed", "missing" or "unexpected"
    diff: str = ""

    def __str__(self) -> str:
        text = f"  {self.status:<10} {self.path}"
        return f"{text}\n{self.diff}" if self.diff else text


def drift(schema_dir: Path, expected: Mapping[str, str], published: Published) -> list[Drift]:
    found: list[Drift] = []
    for path, content in sorted(expected.items()):
        file = schema_dir / path
        if not file.is_file():
            found.append(Drift(path, "missing"))
            continue
        committed = file.read_text(encoding="utf-8")
        if committed != content:
            found.append(Drift(path, "changed", _short_diff(path, committed, content)))
    found += [Drift(path, "unexpected") for path in published.unexpected]
    return found


def _short_diff(path: str, committed: str, generated: str) -> str:
    lines = list(
        difflib.unified_diff(
            committed.splitlines(),
            generated.splitlines(),
            f"committed/{path}",
            f"generated/{path}",
            lineterm="",
            n=2,
        )
    )
    shown = lines[:_MAX_DIFF_LINES]
    if len(lines) > len(shown):
        shown.append(f"... {len(lines) - len(shown)} more diff lines")
    return "\n".join(f"      {line}" for line in shown)


@dataclass(frozen=True)
class CheckReport:
    drift: list[Drift]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.drift and not self.problems

    def summary(self, schema_dir: Path) -> str:
        parts: list[str] = []
        if self.drift:
            parts.append(
                f"The committed schemas in {schema_dir} differ from what the models generate "
                f"({len(self.drift)} file(s)):\n"
                + "\n".join(str(d) for d in self.drift)
                + f"\nTo update them, {REGENERATE} the result."
            )
        if self.problems:
            parts.append(
                "Published schemas would change incompatibly:\n"
                + "\n".join(f"  {p}" for p in self.problems)
                + f"\n{VERSION_BUMP_HINT}"
            )
        return "\n\n".join(parts) if parts else f"schemas in {schema_dir} are up to date"


def check(schema_dir: Path = DEFAULT_SCHEMA_DIR, baseline: str | None = None) -> CheckReport:
    """Compare the committed schema files (and those at git ``baseline``) with the models."""
    published = read_published(schema_dir)
    expected = generate(published.older_versions())
    problems = publication_problems(published) + history_problems(published)
    if baseline is not None:
        previous = read_published_at(baseline, schema_dir)
        problems += [f"[{baseline}] {p}" for p in publication_problems(previous)]
    return CheckReport(drift(schema_dir, expected, published), problems)


def write(schema_dir: Path = DEFAULT_SCHEMA_DIR) -> tuple[list[str], list[str]]:
    """Write the generated files; return (written paths, problems left to fix).

    Refuses, writing nothing, when a published file would change incompatibly.
    """
    published = read_published(schema_dir)
    expected = generate(published.older_versions())
    refusals: list[str] = []
    for path, content in expected.items():
        name = SchemaName.parse(path)
        if name is not None and name in published.schemas:
            changes = incompatible_changes(published.schemas[name], json.loads(content))
            refusals += [f"{path}: {c}" for c in changes]
    if refusals:
        raise SchemaExportError(
            "refusing to overwrite published schemas incompatibly:\n"
            + "\n".join(f"  {r}" for r in refusals)
            + f"\n{VERSION_BUMP_HINT}\nIf that version was never published (not on the main "
            "branch), delete its file and run again."
        )
    written: list[str] = []
    for path, content in sorted(expected.items()):
        file = schema_dir / path
        if not file.is_file() or file.read_text(encoding="utf-8") != content:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(content, encoding="utf-8")
            written.append(path)
    after = read_published(schema_dir)
    problems = publication_problems(after) + history_problems(after)
    problems += [f"{path}: unexpected file (not <Type>.v<N>.json)" for path in after.unexpected]
    return written, problems


# --- command line -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m billing_events.schema_export",
        description="Write (or --check) the published JSON Schemas and AsyncAPI document.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the files differ from the models or broke compatibility",
    )
    parser.add_argument(
        "--baseline",
        metavar="GIT_REF",
        help="with --check: also require compatibility with the schemas published at GIT_REF",
    )
    parser.add_argument("--schema-dir", type=Path, default=DEFAULT_SCHEMA_DIR)
    args = parser.parse_args(argv)
    if args.baseline and not args.check:
        parser.error("--baseline needs --check")
    try:
        if args.check:
            report = check(args.schema_dir, args.baseline)
            print(report.summary(args.schema_dir), file=sys.stdout if report.ok else sys.stderr)
            return 0 if report.ok else 1
        written, problems = write(args.schema_dir)
    except (SchemaExportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {args.schema_dir / path}")
    if not written:
        print(f"schemas in {args.schema_dir} are up to date")
    if problems:
        print("\n".join(["problems:", *(f"  {p}" for p in problems)]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
