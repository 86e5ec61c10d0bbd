"""Render records of a space as JSON bytes: a dynamic head plus a pre-serialised static tail.

The head holds what must differ per record or stay consistent across endpoints (id, uid,
timestamps, names, references to parent records); the tail is one of ``N_VARIANTS`` samples of
the rest of the swagger model. An update (version > 0) changes the name/comment and the variant;
a quiet update (``rename=False``) changes only the variant and the timestamp, so the records that
embed a preview of it (a study's subjects and visits) stay the same.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson

from ccsim import text
from ccsim.dataset import Dataset, Space, iso_ms
from ccsim.hashing import h, mix, salt, uuid_from
from ccsim.samples import sample
from ccsim.swagger_models import DEFINITIONS

N_VARIANTS = 32
_DAY_MS = 86_400_000

# A plan step computes one head field from (slot, record hash, version, timestamp ms).
Step = Callable[[int, int, int, int], Any]


def _pick(pool: tuple[str, ...], x: int, shift: int = 0) -> str:
    return pool[(x >> shift) % len(pool)]


class Labels:
    """Names of records (their own ``name`` field and how other records refer to them)."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds

    def person(self, x: int) -> tuple[str, str]:
        return _pick(text.FIRST_NAMES, x, 7), _pick(text.LAST_NAMES, x, 19)

    def label(self, sp: Space, slot: int, ver: int = 0) -> str:
        x = h(sp.salt_rec, slot)
        name = sp.name
        if name == "studies":
            code = f"{_pick(('TR', 'CC', 'ZX', 'ÅB'), x, 3)}-{sp.id_of(slot)}"
            base = f"{_pick(text.STUDY_WORDS, x, 9)} {code} {_pick(text.PHASES, x, 17)}"
        elif name in ("patients", "staff", "monitors", "providers", "subjects"):
            first, last = self.person(x)
            base = f"{first} {last}"
        elif name == "sites":
            base = f"Tekton Research – {_pick(text.CITIES, x, 5)} #{slot + 1}"
        elif name == "visits":
            _, k = sp.split(slot)
            base = f"{_pick(text.VISIT_NAMES, x, 4)} ({k + 1})"
        elif name in ("elements", "pv_elements", "visit_elements"):
            base = _pick(text.ELEMENT_NAMES, x, 6)
        elif name == "lookup_lists":
            base = f"{_pick(text.WORDS, x, 3).capitalize()}List{slot + 1}"
        else:
            base = f"{name.replace('_', ' ').title()} {_pick(text.WORDS, x, 11)} {slot % 1000}"
        return f"{base} (rev {ver})" if ver else base


class RecordFactory:
    """Renders records of one space; built lazily per space and cached by :class:`Renderer`."""

    def __init__(self, renderer: Renderer, sp: Space) -> None:
        self.r = renderer
        self.ds = renderer.ds
        self.sp = sp
        self.model = sp.spec.model
        props: dict[str, dict[str, Any]] = (
            DEFINITIONS[self.model]["properties"] if self.model else {}
        )
        self.props = props
        self.plan: list[tuple[str, Step]] = self._plan(props)
        self.dyn_keys = frozenset(k for k, _ in self.plan)
        self._tails: list[bytes | None] = [None] * N_VARIANTS

    # --- tails --------------------------------------------------------------------------------
    def tail(self, v: int) -> bytes:
        t = self._tails[v]
        if t is None:
            if self.model is None:
                t = b""
            else:
                rng = random.Random(salt(self.ds.seed, self.sp.name, "tail", v))
                body = orjson.dumps(sample(self.model, rng, self.dyn_keys))
                t = body[1:-1]
            self._tails[v] = t
        return t

    def render(self, slot: int) -> bytes:
        sp = self.sp
        o = sp.override.get(slot)
        if o is None:
            ver, ts, head_ver = 0, sp.base_ts(slot), 0
        else:
            ver, ts = o
            head_ver = sp.label_version(slot)
        x = h(sp.salt_rec, slot)
        if self.model is None and sp.name == "lookup_lists":
            return orjson.dumps(self.r.labels.label(sp, slot, head_ver))
        head = orjson.dumps({k: f(slot, x, head_ver, ts) for k, f in self.plan})
        tail = self.tail((x + ver) % N_VARIANTS)
        if not tail:
            return head
        if len(head) == 2:
            return b"{" + tail + b"}"
        return head[:-1] + b"," + tail + b"}"

    # --- plan ---------------------------------------------------------------------------------
    def _plan(self, props: dict[str, dict[str, Any]]) -> list[tuple[str, Step]]:
        sp, r = self.sp, self.r
        spec = sp.spec
        steps: list[tuple[str, Step]] = []
        labels = r.labels

        if spec.key:
            steps.append((spec.key, lambda s, x, v, t: sp.id_of(s)))
        for ukey in ("uid", "Uid", "UID"):
            if ukey in props and props[ukey].get("format") == "uuid":
                steps.append((ukey, lambda s, x, v, t: uuid_from(x, mix(x))))
        name_key = next((k for k in ("name", "Name") if k in props), None)
        if name_key:
            steps.append((name_key, lambda s, x, v, t: labels.label(sp, s, v)))
        if spec.ts:
            steps.append((spec.ts, lambda s, x, v, t: iso_ms(t)))
        if "createdOn" in props and spec.ts != "createdOn":
            steps.append(
                ("createdOn", lambda s, x, v, t: iso_ms(sp.base_ts(s) - (x % 400) * _DAY_MS))
            )
        if "comment" in props:
            steps.append(("comment", _comment_step))
        if self.model is None and sp.name == "study_types":
            steps.append(("name", lambda s, x, v, t: labels.label(sp, s, v)))
        for key, prop in props.items():
            ref = prop.get("$ref")
            if key in (spec.key, spec.ts):
                continue
            if ref == "StudyPreviewModel":
                steps.append((key, r.study_ref_step(sp)))
            elif ref == "SitePreviewModel":
                steps.append((key, r.random_ref_step("sites", 21)))
            elif ref == "PatientPreviewModel":
                steps.append((key, r.random_ref_step("patients", 27)))
            elif ref == "SponsorPreviewModel":
                steps.append((key, r.random_ref_step("sponsors", 33, uid=False)))
            elif ref == "StaffPreviewModel":
                steps.append((key, r.random_ref_step("staff", 39, staff=True)))
            elif ref == "SubjectPreviewModel":
                steps.append((key, r.subject_ref_step(sp)))
            elif ref == "VisitPreviewModel":
                steps.append((key, r.visit_ref_step(sp)))
            elif ref in ("VisitElementPreviewModel", "ElementPreviewModel"):
                steps.append((key, r.element_ref_step(ref)))
            elif ref == "PatientDemographicsViewModel":
                steps.append((key, r.demographics_step()))
        steps.extend(r.special_steps(sp, props))
        seen: set[str] = set()
        unique: list[tuple[str, Step]] = []
        for k, f in steps:
            if k not in seen:
                seen.add(k)
                unique.append((k, f))
        return unique


class Renderer:
    """Record factories for every space of a dataset plus shared reference helpers."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self.labels = Labels(ds)
        self._factories: dict[str, RecordFactory] = {}
        self._ref_cache: dict[tuple[str, int], dict[str, Any]] = {}
        self._ref_epoch = ds.epoch
        self._study_memo: dict[str, dict[int, int | None]] = {}
        self._visit_count_memo: dict[int, int] = {}

    def factory(self, space: str) -> RecordFactory:
        f = self._factories.get(space)
        if f is None:
            f = self._factories[space] = RecordFactory(self, self.ds[space])
        return f

    def render(self, space: str, slot: int) -> bytes:
        return self.factory(space).render(slot)

    # --- references ---------------------------------------------------------------------------
    def preview(
        self, space: str, slot: int, *, uid: bool = True, cap: bool = False
    ) -> dict[str, Any]:
        """``{id, uid, name}`` of a record (``{Id, Uid, Name}`` when ``cap``)."""
        if self._ref_epoch != self.ds.epoch:
            self._ref_cache.clear()
            self._visit_count_memo.clear()
            self._ref_epoch = self.ds.epoch
        key = (space, slot * 2 + cap)
        got = self._ref_cache.get(key)
        if got is not None:
            return got
        sp = self.ds[space]
        if slot < 0:
            return None  # type: ignore[return-value]
        name = self.labels.label(sp, slot, sp.label_version(slot))
        if cap:
            got = {"Id": sp.id_of(slot), "Uid": uid_of(sp, slot), "Name": name}
        elif uid:
            got = {"id": sp.id_of(slot), "uid": uid_of(sp, slot), "name": name}
        else:
            got = {"id": sp.id_of(slot), "name": name}
        if len(self._ref_cache) > 50_000:
            self._ref_cache.clear()
        self._ref_cache[key] = got
        return got

    def study_slot_of(self, sp: Space, slot: int) -> int | None:
        """The study a record of ``sp`` belongs to, if it descends from studies."""
        if sp.parent is None:
            return None
        p = slot // sp.maxc
        memo = self._study_memo.setdefault(sp.name, {})
        got = memo.get(p, -2)
        if got != -2:
            return got
        cur, s = sp.parent, sp.parent.slot_of_ordinal(p)
        while cur.parent is not None:
            q = s // cur.maxc
            cur = cur.parent
            s = cur.slot_of_ordinal(q)
        result = s if cur.name == "studies" else None
        if len(memo) > 100_000:
            memo.clear()
        memo[p] = result
        return result

    def study_ref_step(self, sp: Space) -> Step:
        studies = self.ds["studies"]
        if self._descends_from(sp, "studies"):
            return lambda s, x, v, t: self.preview("studies", self.study_slot_of(sp, s) or 0)
        return lambda s, x, v, t: self.preview("studies", studies.nat_slot(x >> 5))

    def referenced_study(self, sp: Space, slot: int) -> int:
        """Slot of the study a record's ``study`` field shows (as :meth:`study_ref_step`)."""
        if self._descends_from(sp, "studies"):
            return self.study_slot_of(sp, slot) or 0
        return self.ds["studies"].nat_slot(h(sp.salt_rec, slot) >> 5)

    def random_ref_step(
        self, space: str, shift: int, *, uid: bool = True, staff: bool = False
    ) -> Step:
        target = self.ds[space]

        def step(s: int, x: int, v: int, t: int) -> dict[str, Any] | None:
            ts = target.nat_slot(x >> shift)
            if ts < 0:
                return None
            if staff:
                first, last = self.labels.person(h(target.salt_rec, ts))
                return {
                    "id": target.id_of(ts),
                    "uid": self.preview(space, ts)["uid"],
                    "login": f"{first[:1].lower()}{target.id_of(ts)}",
                    "firstName": first,
                    "lastName": last,
                    "displayName": f"{first} {last}",
                }
            return self.preview(space, ts, uid=uid)

        return step

    def subject_ref_step(self, sp: Space) -> Step:
        subjects = self.ds["subjects"]
        if sp.parent is subjects:
            return lambda s, x, v, t: self.preview(
                "subjects", subjects.slot_of_ordinal(sp.split(s)[0]), cap=True
            )
        return lambda s, x, v, t: (
            self.preview("subjects", subjects.nat_slot(x >> 23), cap=True)
            if subjects.n_nat()
            else None
        )

    def visit_ref_step(self, sp: Space) -> Step:
        visits = self.ds["visits"]
        if sp.parent is visits:
            return lambda s, x, v, t: self.preview("visits", visits.slot_of_ordinal(sp.split(s)[0]))

        def step(s: int, x: int, v: int, t: int) -> dict[str, Any] | None:
            vs = self.visit_slot_for(sp, s, x)
            return self.preview("visits", vs) if vs is not None else None

        return step

    def visit_slot_for(self, sp: Space, slot: int, x: int) -> int | None:
        """A visit of the record's study when it has one, else any visit (or None)."""
        visits = self.ds["visits"]
        study = self.study_slot_of(sp, slot)
        if study is None:
            study = self.ds["studies"].nat_slot(x >> 5)
        n = self._visit_count_memo.get(study)
        if n is None:
            if self._ref_epoch != self.ds.epoch:
                self.preview("studies", study)  # refreshes the memos
            n = self._visit_count_memo[study] = visits.count(study)
            if len(self._visit_count_memo) > 100_000:
                self._visit_count_memo.clear()
        if n:
            _, k = sp.split(slot)
            return study * visits.maxc + (k + (x >> 29)) % n
        return None

    def element_ref_step(self, ref: str) -> Step:
        elements = self.ds["elements"]

        def step(s: int, x: int, v: int, t: int) -> dict[str, Any] | None:
            es = elements.nat_slot((x >> 31) + v)
            if es < 0:
                return None
            out = dict(self.preview("elements", es))
            if ref == "VisitElementPreviewModel":
                out["sequence"] = 1 + (x >> 41) % 20
                out["isRequired"] = bool((x >> 47) & 1)
            return out

        return step

    def demographics_step(self) -> Step:
        patients = self.ds["patients"]

        def step(s: int, x: int, v: int, t: int) -> dict[str, Any] | None:
            ps = patients.nat_slot(x >> 27)
            if ps < 0:
                return None
            px = h(patients.salt_rec, ps)
            first, last = self.labels.person(px)
            return {
                "id": patients.id_of(ps),
                "uid": uuid_from(px, mix(px)),
                "name": f"{first} {last}",
                "firstName": first,
                "middleName": None,
                "lastName": last,
                "title": None,
                "genderCode": _pick(("M", "F", "U"), px, 3),
                "race": _pick(text.RACES, px, 11),
                "ethnicity": _pick(text.ETHNICITIES, px, 13),
                "dateOfBirth": iso_ms(_dob_ms(px))[:19],
            }

        return step

    @staticmethod
    def _descends_from(sp: Space, name: str) -> bool:
        cur = sp.parent
        while cur is not None:
            if cur.name == name:
                return True
            cur = cur.parent
        return False

    # --- per-space extras ---------------------------------------------------------------------
    def special_steps(self, sp: Space, props: dict[str, dict[str, Any]]) -> list[tuple[str, Step]]:
        name = sp.name
        labels = self.labels
        out: list[tuple[str, Step]] = []
        if name in ("patients", "staff", "monitors", "providers"):
            out.append(("firstName", lambda s, x, v, t: labels.person(x)[0]))
            out.append(("lastName", lambda s, x, v, t: labels.person(x)[1]))
            if "displayName" in props:
                out.append(("displayName", lambda s, x, v, t: labels.label(sp, s, v)))
            if "providerName" in props:
                out.append(("providerName", lambda s, x, v, t: labels.label(sp, s, v)))
        if name == "patients":
            out.append(("dateOfBirth", lambda s, x, v, t: iso_ms(_dob_ms(x))[:19]))
            out.append(("city", lambda s, x, v, t: _pick(text.CITIES, x, 29)))
        if name == "studies":
            out.append(("managingSite", self.random_ref_step("sites", 21)))
            out.append(("sponsor", self.random_ref_step("sponsors", 33, uid=False)))
            out.append(("title", lambda s, x, v, t: f"A study of {labels.label(sp, s, v)}"))
        if name == "patient_visits":
            visits = self.ds["visits"]

            def visit_id(s: int, x: int, v: int, t: int) -> int | None:
                vs = self.visit_slot_for(sp, s, x)
                return visits.id_of(vs) if vs is not None else None

            def visit_name(s: int, x: int, v: int, t: int) -> str | None:
                vs = self.visit_slot_for(sp, s, x)
                return self.preview("visits", vs)["name"] if vs is not None else None

            out.append(("sequence", lambda s, x, v, t: sp.split(s)[1] + 1))
            out.append(("visitId", visit_id))
            out.append(("visitName", visit_name))
            out.append(("targetDueDate", lambda s, x, v, t: iso_ms(sp.base_ts(s) + _DAY_MS)[:19]))
        if name == "pv_elements":
            elements = self.ds["elements"]
            out.append(("sequence", lambda s, x, v, t: sp.split(s)[1] + 1))
            out.append(
                (
                    "elementId",
                    lambda s, x, v, t: (
                        elements.id_of(elements.nat_slot(x >> 31)) if elements.n_nat() else None
                    ),
                )
            )
            out.append(("name", lambda s, x, v, t: labels.label(sp, s, v)))
        if name == "pv_stipends":
            pvs = self.ds["patient_visits"]
            out.append(
                (
                    "patientVisitId",
                    lambda s, x, v, t: pvs.id_of(pvs.slot_of_ordinal(sp.split(s)[0])),
                )
            )
        if name == "subject_statuses":
            out.append(("isCurrentStatus", lambda s, x, v, t: bool(x & 1) or v > 0))
        if name == "study_personnel":
            out.append(
                (
                    "Role",
                    lambda s, x, v, t: {
                        "Id": 1 + s,
                        "RoleName": _pick(("PI", "Sub-I", "CRC", "Monitor", "Pharmacist"), x, 3)
                        + (f" (rev {v})" if v else ""),
                        "Coordinator": bool(x & 2),
                    },
                )
            )
        if name == "study_warnings":
            out.append(
                (
                    "description",
                    lambda s, x, v, t: (
                        f"Visit window overlaps for slot {s} — prüfen"
                        + (f" (rev {v})" if v else "")
                    ),
                )
            )
        return out


def uid_of(sp: Space, slot: int) -> str:
    """The ``uid`` a record shows in its previews (and its own record, when it has one)."""
    x = h(sp.salt_rec, slot)
    return uuid_from(x, mix(x))


def _comment_step(s: int, x: int, v: int, t: int) -> str:
    return _pick(text.COMMENTS, x, 13) + (f" [v{v}]" if v else "")


def _dob_ms(x: int) -> int:
    # 1935..2005
    return -1_104_537_600_000 + (x % (70 * 365)) * _DAY_MS


def single_object(ds: Dataset, which: str, study_slot: int | None = None) -> bytes:
    """The companion objects: instance details/topology and a study's integration info."""
    if which == "integration_info":
        assert study_slot is not None
        x = h(salt(ds.seed, "integration"), study_slot)
        systems = ("OmniComm", "OpenClinica", "CCeSource", "Crio", None)
        return orjson.dumps({"integrationSystem": systems[x % len(systems)]})
    rng = random.Random(salt(ds.seed, which))
    if which == "instance_details":
        obj = sample("InstanceDetails", rng)
        obj["instanceType"] = "CC"
        obj["webVersion"] = "7.4.2"
        return orjson.dumps(obj)
    obj = sample("ClinicalConductorTopologyViewModel", rng)
    return orjson.dumps(obj)
