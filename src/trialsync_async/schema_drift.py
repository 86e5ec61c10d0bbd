"""Schema drift: the records a run loads, compared with the swagger's record model of its job.

Three kinds, kept on the run row as ``notes["schema_drift"]`` (omitted when nothing drifted):

* ``undeclared``: top-level fields the model does not declare, ``{field: {count, example_id}}``
  (``count``: records carrying it, exact);
* ``missing``: declared fields no record of the run had, ``[field, …]``;
* ``type_mismatch``: values whose JSON type is not the declared one,
  ``{field: {declared, seen, count, example_id}}`` (``count``: among the type-checked records).

JSON types are ``string``, ``number`` (integer too), ``boolean``, ``object`` and ``array``;
``null`` is never a mismatch, and date/date-time strings are strings. Field names match the
model's ignoring case, as the loader matches record keys (swagger.py).

Cheap enough for the write path (a micro-benchmark: bench/bench_schema_drift.py). Each
record's number of keys is compared with the last key set's; one record in ``every`` has its
key set compared in full and its values type-checked. A record whose key set differs is looked
up in a cache of key sets (a frozenset each); a key set met for the first time is analysed once
(undeclared and declared fields) and its record type-checked. So a field added or dropped is
counted exactly, from the first record that has it; a retype that leaves the key set alone,
or a rename that leaves its size alone, is met within ``every`` records and counted from there.

``notes["schema_checked"]`` says a check ran (``{model, records, type_checked}``): a run that
saw no record, or a job whose model the swagger does not declare, has none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any

from trialsync_async.db.schema_drift import CheckedRun
from trialsync_async.inventory import JobSpec
from trialsync_async.swagger import Swagger, load_swagger
from trialsync_async.validate import resolve_endpoint

TYPE_CHECK_EVERY = 128
"""One record in this many is type-checked (besides each record whose key set is new)."""
KINDS = ("undeclared", "missing", "type_mismatch")

_JSON_TYPE: dict[type, str] = {
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
}
_SWAGGER_TYPE = {"integer": "number", "number": "number", "string": "string",
                 "boolean": "boolean", "object": "object", "array": "array"}  # fmt: skip


def json_type(value: Any) -> str | None:
    """A value's JSON type (``None`` for null or anything else)."""
    return _JSON_TYPE.get(type(value))


@dataclass(frozen=True, slots=True)
class RecordModel:
    """The top-level fields of a job's record model: name → declared JSON type (None when the
    swagger says nothing checkable, e.g. a free-form value)."""

    name: str
    fields: Mapping[str, str | None]


def declared_type(swagger: Swagger, prop: Any) -> str | None:
    if not isinstance(prop, dict):
        return None
    resolved = swagger.resolve(prop)
    kind = resolved.get("type")
    if isinstance(kind, str):
        return _SWAGGER_TYPE.get(kind)
    if resolved.get("properties") or resolved.get("allOf"):
        return "object"
    return None


def model_of(job: JobSpec, swagger: Swagger) -> RecordModel | None:
    """The record model the swagger declares for the job's endpoint (validate.py's lookup);
    None when the endpoint is not in the swagger or its records have no declared fields."""
    where = resolve_endpoint(job, swagger)
    if where.swagger_path is None:
        return None
    records = swagger.records(where.swagger_path)
    if records.schema is None:
        return None
    props = swagger.properties(records.schema)
    if not props:
        return None
    fields = {k: declared_type(swagger, v) for k, v in props.items()}
    return RecordModel(records.model.removesuffix("[]"), fields)  # one record of an array


@cache
def packaged_swagger() -> Swagger:
    """The packaged swagger, read once per process (900 KB)."""
    return load_swagger()


def packaged_model(job: JobSpec) -> RecordModel | None:
    """``model_of`` against the packaged swagger; None too when it cannot be read."""
    try:
        swagger = packaged_swagger()
    except Exception:  # a broken package: no drift check rather than no run
        return None
    return model_of(job, swagger)


_PYTHON_TYPES: dict[str, frozenset[type]] = {
    kind: frozenset({t for t, k in _JSON_TYPE.items() if k == kind} | {type(None)})
    for kind in set(_JSON_TYPE.values())
}  # the Python types a declared JSON type accepts (null always)
_ACCEPTS = frozenset.__contains__


@dataclass(slots=True)
class _KeySet:
    """What one key set means for the model, worked out once."""

    undeclared: tuple[str, ...]
    present: tuple[str, ...]  # the model's spelling of the declared fields present
    typed: tuple[tuple[str, str, str], ...]  # (record key, model name, declared type)
    count: int = 0
    example_id: Any = None  # of the first record with this key set
    values: Callable[[Mapping[str, Any]], tuple[Any, ...]] = field(init=False)
    accepted: tuple[frozenset[type], ...] = field(init=False)  # per ``typed`` field

    def __post_init__(self) -> None:
        keys = [key for key, _, _ in self.typed]
        getter = itemgetter(*keys) if keys else None
        if getter is None:
            self.values = lambda record: ()
        elif len(keys) == 1:
            self.values = lambda record: (getter(record),)
        else:
            self.values = getter
        self.accepted = tuple(_PYTHON_TYPES[declared] for _, _, declared in self.typed)


@dataclass(slots=True)
class _Mismatch:
    declared: str
    seen: str
    count: int = 0
    example_id: Any = None


def _record_id(record: Mapping[str, Any]) -> Any:
    rid = record.get("id")
    if rid is None:
        rid = record.get("Id", record.get("ID"))
    return rid if isinstance(rid, int | str) and not isinstance(rid, bool) else None


@dataclass(slots=True)
class DriftSampler:
    """Watches a run's records (``observe`` each page) against ``model``; ``report()`` at
    the end."""

    model: RecordModel
    every: int = TYPE_CHECK_EVERY
    records: int = 0
    type_checked: int = 0
    _sets: dict[frozenset[str], _KeySet] = field(default_factory=dict)
    _last: frozenset[str] = frozenset()
    _last_set: _KeySet | None = None
    _run: int = 0  # records with ``_last``'s key set not yet counted into it
    _countdown: int = 0  # records until the next sampled type check
    _mismatches: dict[tuple[str, str], _Mismatch] = field(default_factory=dict)
    _folded: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._folded = {name.casefold(): name for name in self.model.fields}

    def observe(self, records: Iterable[Any]) -> None:
        """One page's records. Non-object records are ignored."""
        last, known, run = self._last, self._last_set, self._run
        size, countdown, every = len(last) if known is not None else -1, self._countdown, self.every
        n = 0
        for record in records:
            if type(record) is not dict:
                continue
            n += 1
            if len(record) == size:
                countdown -= 1
                if countdown > 0:  # as many keys as the last key set: taken to be it
                    run += 1
                    continue
                countdown = every
                if record.keys() == last:  # sampled: the key set compared, the types checked
                    run += 1
                    assert known is not None
                    self._check(record, known)
                    continue
            if known is not None:
                known.count += run
            last = frozenset(record)
            size = len(last)
            found = self._sets.get(last)
            if found is None:
                found = self._sets[last] = self._analyse(last, record)
                countdown = every
                self._check(record, found)
            known, run = found, 1
        self._last, self._last_set, self._run = last, known, run
        self._countdown = countdown
        self.records += n

    def _analyse(self, keys: frozenset[str], record: Mapping[str, Any]) -> _KeySet:
        fields, folded = self.model.fields, self._folded
        undeclared: list[str] = []
        present: list[str] = []
        typed: list[tuple[str, str, str]] = []
        for key in keys:
            name = key if key in fields else folded.get(key.casefold())
            if name is None:
                undeclared.append(key)
                continue
            present.append(name)
            declared = fields[name]
            if declared is not None:
                typed.append((key, name, declared))
        return _KeySet(tuple(sorted(undeclared)), tuple(present), tuple(typed),
                       example_id=_record_id(record))  # fmt: skip

    def _check(self, record: Mapping[str, Any], keyset: _KeySet) -> None:
        self.type_checked += 1
        if all(map(_ACCEPTS, keyset.accepted, map(type, keyset.values(record)))):
            return  # the usual case, decided without a Python loop
        for key, name, declared in keyset.typed:
            seen = _JSON_TYPE.get(type(record[key]))
            if seen is None or seen == declared:
                continue
            mismatch = self._mismatches.get((name, seen))
            if mismatch is None:
                mismatch = self._mismatches[(name, seen)] = _Mismatch(
                    declared, seen, example_id=_record_id(record)
                )
            mismatch.count += 1

    def checked(self) -> dict[str, Any] | None:
        """``notes["schema_checked"]``: None when no record was seen."""
        if not self.records:
            return None
        return {"model": self.model.name, "records": self.records,
                "type_checked": self.type_checked}  # fmt: skip

    def report(self) -> dict[str, Any] | None:
        """``notes["schema_drift"]``: None when nothing drifted (or no record was seen)."""
        if not self.records:
            return None
        if self._last_set is not None:  # the last run of key sets, counted once
            self._last_set.count += self._run
            self._run = 0
        undeclared: dict[str, dict[str, Any]] = {}
        present: set[str] = set()
        for keyset in self._sets.values():
            present.update(keyset.present)
            for name in keyset.undeclared:
                entry = undeclared.setdefault(name, {"count": 0, "example_id": keyset.example_id})
                entry["count"] += keyset.count
                if entry["example_id"] is None:
                    entry["example_id"] = keyset.example_id
        missing = sorted(name for name in self.model.fields if name not in present)
        mismatches: dict[str, dict[str, Any]] = {}
        for (name, _), m in sorted(self._mismatches.items(), key=lambda kv: -kv[1].count):
            mismatches.setdefault(name, {"declared": m.declared, "seen": m.seen,
                                         "count": m.count, "example_id": m.example_id})  # fmt: skip
        drift: dict[str, Any] = {}
        if undeclared:
            drift["undeclared"] = dict(sorted(undeclared.items()))
        if missing:
            drift["missing"] = missing
        if mismatches:
            drift["type_mismatch"] = dict(sorted(mismatches.items()))
        return drift or None


def sampler_for(job: JobSpec) -> DriftSampler | None:
    """A sampler for the job's records, or None: the swagger declares no record model."""
    model = packaged_model(job)
    return None if model is None else DriftSampler(model)


# --- comparing runs -------------------------------------------------------------------


def drift_items(drift: Mapping[str, Any] | None) -> set[tuple[str, str, str]]:
    """(kind, field, detail) of each drift of a ``notes["schema_drift"]``; a type mismatch's
    detail is the type seen, so a field retyped again is new drift."""
    if not drift:
        return set()
    found: set[tuple[str, str, str]] = set()
    for name in drift.get("undeclared") or {}:
        found.add(("undeclared", str(name), ""))
    for name in drift.get("missing") or []:
        found.add(("missing", str(name), ""))
    for name, m in (drift.get("type_mismatch") or {}).items():
        seen = m.get("seen", "") if isinstance(m, Mapping) else ""
        found.add(("type_mismatch", str(name), str(seen)))
    return found


def new_drift_warning(
    drift: Mapping[str, Any] | None, previous: Mapping[str, Any] | None, model: str
) -> str | None:
    """The warning for drift the previous checked run of the job (for the same API instance)
    did not have, or None."""
    order = {kind: i for i, kind in enumerate(KINDS)}
    new = sorted(drift_items(drift) - drift_items(previous), key=lambda d: (order[d[0]], d[1:]))
    if not new or drift is None:
        return None
    parts: list[str] = []
    for kind, name, _ in new:
        if kind == "undeclared":
            parts.append(f"{name} (undeclared)")
        elif kind == "missing":
            parts.append(f"{name} (missing)")
        else:
            m = drift["type_mismatch"][name]
            parts.append(f"{name} ({m['declared']} → {m['seen']})")
    return f"new schema drift against {model}: {', '.join(parts)}"


def summarize(drift: Mapping[str, Any] | None) -> dict[str, int]:
    """How many fields of each kind drifted (every kind, 0 included)."""
    drift = drift or {}
    return {kind: len(drift.get(kind) or ()) for kind in KINDS}


def kinds_text(drift: Mapping[str, Any] | None) -> Sequence[str]:
    counts = summarize(drift)
    return [f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items() if n]


# --- over recent runs (``schema``) ----------------------------------------------------


def unchecked_reason(job: JobSpec, swagger: Swagger) -> str | None:
    """Why the job's records are not checked for drift, or None: they are."""
    where = resolve_endpoint(job, swagger)
    if where.swagger_path is None:
        section = where.reference_section
        return "endpoint not in the swagger" + (f" (API reference: {section})" if section else "")
    records = swagger.records(where.swagger_path)
    if records.schema is None:
        return f"the swagger declares no record model ({records.model})"
    if not swagger.properties(records.schema):
        return f"{records.model} declares no fields"
    return None


@dataclass(slots=True)
class FieldDrift:
    """One field's drift over a job's recent checked runs (for one API instance). ``detail``:
    a type mismatch's ``declared → seen``; ``count`` and ``example_id``: of the last run it was
    seen in; ``current``: seen in the latest checked run."""

    job_id: int
    job_name: str | None
    kind: str
    field: str
    detail: str | None
    first_run: int
    first_at: datetime | None
    last_run: int
    last_at: datetime | None
    runs: int
    count: int | None
    example_id: Any
    current: bool
    instance_id: int = 1


@dataclass(slots=True)
class JobDrift:
    """A job's drift over its recent checked runs for one API instance."""

    job_id: int
    job_name: str | None
    model: str | None  # as the latest checked run named it
    checked_runs: int
    latest_run: int
    latest_at: datetime | None
    fields: list[FieldDrift]
    instance_id: int = 1


def _entries(drift: Mapping[str, Any] | None) -> list[tuple[str, str, str | None, Any, Any]]:
    """(kind, field, detail, count, example_id) of one run's drift."""
    if not drift:
        return []
    out: list[tuple[str, str, str | None, Any, Any]] = []
    for name, u in (drift.get("undeclared") or {}).items():
        u = u if isinstance(u, Mapping) else {}
        out.append(("undeclared", str(name), None, u.get("count"), u.get("example_id")))
    for name in drift.get("missing") or []:
        out.append(("missing", str(name), None, None, None))
    for name, m in (drift.get("type_mismatch") or {}).items():
        m = m if isinstance(m, Mapping) else {}
        detail = f"{m.get('declared')} → {m.get('seen')}"
        out.append(("type_mismatch", str(name), detail, m.get("count"), m.get("example_id")))
    return out


def history(runs: Sequence[CheckedRun]) -> list[JobDrift]:
    """Each (job, API instance)'s drifted fields over ``runs`` (db/schema_drift.checked_runs),
    by job id and instance, the fields by kind and name."""
    by_job: dict[tuple[int, int], list[CheckedRun]] = {}
    for run in runs:
        by_job.setdefault((run.job_id, run.instance_id), []).append(run)
    jobs: list[JobDrift] = []
    for job_id, instance_id in sorted(by_job):
        job_runs = sorted(by_job[(job_id, instance_id)], key=lambda r: r.run_id)  # oldest first
        latest = job_runs[-1]
        fields: dict[tuple[str, str, str | None], FieldDrift] = {}
        for run in job_runs:
            for kind, name, detail, count, example in _entries(run.drift):
                key = (kind, name, detail)
                found = fields.get(key)
                if found is None:
                    found = fields[key] = FieldDrift(
                        job_id, latest.job_name, kind, name, detail, run.run_id, run.started_at,
                        run.run_id, run.started_at, 0, count, example, False, instance_id,
                    )  # fmt: skip
                found.last_run, found.last_at = run.run_id, run.started_at
                found.runs += 1
                found.count = count
                if example is not None:
                    found.example_id = example
                found.current = run.run_id == latest.run_id
        order = {k: i for i, k in enumerate(KINDS)}
        jobs.append(
            JobDrift(
                job_id,
                latest.job_name,
                latest.checked.get("model"),
                len(job_runs),
                latest.run_id,
                latest.started_at,
                sorted(fields.values(), key=lambda f: (order[f.kind], f.field, f.detail or "")),
                instance_id,
            )
        )
    return jobs
