"""Every endpoint template the simulator knows, and how a request path maps onto one.

A *space* is a set of records (e.g. patient visits); an *endpoint* serves a space, fanned out over
a parent (none, study ids, patient ids, patient-visit ids, (study, visit) or (study, subject)
pairs). Several endpoints may serve one space: ``/studies/odata``, ``/studies`` and
``/studies/{studyId}`` serve the same study records; ``/patient-visits/odata`` and
``/studies/{studyId}/subjects/{subjectId}/patient-visits`` serve the same patient visits.

*Global lists* (``query_parent`` set) take their parent as an optional query parameter:
``/subjects/odata`` and ``/visits/odata`` (``?studyId=``) serve exactly what the per-study lists
serve, ``/subject-statuses/odata`` narrows by ``?studyUid=`` (see :mod:`ccsim.global_lists`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ccsim.swagger_models import SWAGGER_LIST_PATHS


class Parent(StrEnum):
    """What an endpoint fans out from."""

    NONE = "none"
    STUDY = "study"  # ids from /api/v1/studies/odata
    PATIENT = "patient"  # ids from /api/v1/patients/odata
    PATIENT_VISIT = "patient_visit"  # ids from /api/v1/patient-visits/odata
    STUDY_VISIT = "study_visit"  # (studyId, visitId) of /api/v1/studies/{studyId}/visits/odata
    STUDY_SUBJECT = "study_subject"  # (studyId, subjectId) of .../studies/{studyId}/subjects/odata


PARENT_LIST_TEMPLATE: dict[Parent, str | None] = {
    Parent.NONE: None,
    Parent.STUDY: "/api/v1/studies/odata",
    Parent.PATIENT: "/api/v1/patients/odata",
    Parent.PATIENT_VISIT: "/api/v1/patient-visits/odata",
    Parent.STUDY_VISIT: "/api/v1/studies/{studyId}/visits/odata",
    Parent.STUDY_SUBJECT: "/api/v1/studies/{studyId}/subjects/odata",
}


class Kind(StrEnum):
    ODATA = "odata"  # honours $top/$skip/$count/$orderby/$filter
    LIST = "list"  # plain list: ignores query options, returns everything
    OBJECT = "object"  # one JSON object


@dataclass(frozen=True, slots=True)
class SpaceSpec:
    """A record set. Root spaces have ``size`` records at scale 1 (times ``scale`` when
    ``scaled``); child spaces have ``size`` records per parent record on average, with
    ``zero_frac`` of the parents having none."""

    name: str
    model: str | None  # swagger definition name (None: strings / no model)
    size: float
    parent: str | None = None  # parent space name
    zero_frac: float = 0.0
    scaled: bool = True
    key: str | None = "id"  # top-level integer id field ("id", "Id" or none)
    ts: str | None = "lastUpdatedOn"  # timestamp field for $filter/$orderby and updates


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    template: str
    space: str  # for OBJECT endpoints: the space whose record (or companion object) is served
    kind: Kind
    parent: Parent = Parent.NONE
    default_shape: str = "array"  # list shape unless overridden (objects are always objects)
    companion: str | None = None  # OBJECT endpoints that are not the space's own record
    query_parent: str | None = None  # optional query parameter naming the parent (global lists)

    @property
    def space_spec(self) -> SpaceSpec:
        return SPACE_BY_NAME[self.space]

    @property
    def model(self) -> str | None:
        """Swagger model of the records (or of the object)."""
        return {
            "instance_details": "InstanceDetails",
            "instance_topology": "ClinicalConductorTopologyViewModel",
            "integration_info": "StudyIntegrationInfoViewModel",
        }.get(self.companion or "", self.space_spec.model)

    @property
    def key(self) -> str | None:
        """Top-level integer id field of the records, if any."""
        return None if self.companion else self.space_spec.key

    @property
    def ts(self) -> str | None:
        """Timestamp field for $filter/$orderby (and changed by updates), if any."""
        return None if self.companion else self.space_spec.ts

    @property
    def size(self) -> float:
        """Records per parent (per-parent spaces) or in total (roots) at scale 1."""
        return 1.0 if self.kind is Kind.OBJECT else self.space_spec.size


def _root(name: str, model: str | None, size: float, **kw: object) -> SpaceSpec:
    return SpaceSpec(name, model, size, **kw)  # type: ignore[arg-type]


def _child(
    name: str, model: str | None, parent: str, mean: float, zero: float, **kw: object
) -> SpaceSpec:
    return SpaceSpec(name, model, mean, parent=parent, zero_frac=zero, **kw)  # type: ignore[arg-type]


# Sizes: scaled roots are production / 100 (scale 100 ~ production); reference lists keep their
# production counts at every scale; per-parent means are chosen so that totals match production
# ratios (e.g. ~0.56 subjects per study, ~26 visits per subject).
SPACES: tuple[SpaceSpec, ...] = (
    # --- scaled business data ---------------------------------------------------------------
    _root("studies", "StudyViewModel", 1573),
    _root("patients", "PatientViewModel", 1528),
    _root("appointments", "AppointmentViewModel", 8609),
    _root("subject_statuses", "SubjectStatusModel", 1197, key=None, ts="eventDate"),
    _child("subjects", "SubjectViewModel", "studies", 0.565, 0.75),
    _child("visits", "VisitViewModel", "studies", 5.0, 0.3),
    _child("elements", "ElementViewModel", "studies", 0.2, 0.85),
    _child("study_documents", "StudyDocumentViewModel", "studies", 2.0, 0.5),
    _child("study_actions", "ActionViewModel", "studies", 3.0, 0.5),
    _child("study_milestones", "StudyMilestoneViewModel", "studies", 2.0, 0.5),
    _child("study_notes", "StudyNoteViewModel", "studies", 1.5, 0.6),
    _child("study_monitor_queries", "MonitorQueryPreviewModel", "studies", 1.0, 0.7),
    _child("study_arms", "StudyArmPreviewModel", "studies", 1.0, 0.5, key="Id", ts=None),
    _child("study_protocol_versions", "ProtocolVersionViewModel", "studies", 1.2, 0.3),
    _child("study_roles", "StudyRoleViewModel", "studies", 2.0, 0.3),
    _child("study_personnel", "RoleStaff", "studies", 2.0, 0.3, key=None, ts=None),
    _child("study_warnings", "StudyWarningModel", "studies", 0.5, 0.8, key=None, ts=None),
    _child("patient_visits", "PatientVisitPreview", "subjects", 25.9, 0.05),
    _child("pv_elements", "PatientVisitElementPreview", "patient_visits", 0.9, 0.5),
    _child("pv_stipends", "PatientPaymentViewModel", "patient_visits", 0.05, 0.95),
    _child(
        "visit_elements", "VisitElementRelationshipViewModel", "visits", 3.0, 0.3, key=None, ts=None
    ),
    _child("patient_allergies", "PatientAllergiesViewModel", "patients", 0.3, 0.8),
    _child("patient_conditions", "PatientConditionViewModel", "patients", 0.05, 0.95),
    _child("patient_devices", "PatientMedicalDeviceViewModel", "patients", 0.1, 0.9),
    _child("patient_immunizations", "PatientImmunizationViewModel", "patients", 0.05, 0.95),
    _child("patient_medications", "PatientMedicationViewModel", "patients", 0.4, 0.75),
    _child("patient_procedures", "PatientProcedureViewModel", "patients", 0.05, 0.95),
    _child("patient_social_history", "PatientLifeStylesHistoryViewModel", "patients", 0.05, 0.95),
    _child("patient_family_history", "PatientFamilyHistoryViewModel", "patients", 0.05, 0.95),
    _child("patient_providers", "PatientProviderViewModel", "patients", 0.05, 0.95),
    _child("patient_campaign_touches", "CampaignTouchViewModel", "patients", 0.3, 0.8),
    _child("patient_referral_touches", "ReferralTouchViewModel", "patients", 0.1, 0.9),
    # --- reference data: production counts at every scale ------------------------------------
    _root("sites", "SiteModel", 40, scaled=False),
    _root("staff", "StaffViewModel", 2617, scaled=False),
    _root("providers", "ProviderModel", 398, scaled=False),
    _root("rooms", "RoomViewModel", 116, scaled=False),
    _root("schedules", "ScheduleViewModel", 20, scaled=False),
    _root("sponsors", "SponsorViewModel", 798, scaled=False),
    _root("sys_allergies", "SysAllergyViewModel", 1873, scaled=False),
    _root("sys_conditions", "SysConditionsViewModel", 405, scaled=False),
    _root("sys_medications", "SysMedicationViewModel", 2296, scaled=False),
    _root("sys_procedures", "SysProcedureModel", 672, scaled=False),
    _root("sys_immunizations", "SysImmunizationModel", 79, scaled=False),
    _root("sys_devices", "SysDeviceModel", 3295, scaled=False),
    _root("sys_social_history", "SysSocialHistoryViewModel", 121, scaled=False),
    _root("document_types", "DocumentTypePreviewModel", 20, scaled=False),
    _root("action_categories", "ActionCategoryPreviewModel", 30, scaled=False),
    _root("study_categories", "StudyCategoryViewModel", 106, scaled=False),
    _root("study_subcategories", "StudySubcategoryViewModel", 8, scaled=False),
    _root("study_statuses", "StudyStatusTypeViewModel", 15, scaled=False),
    _root("lookup_lists", None, 108, scaled=False, key=None, ts=None),
    _root("patient_customfields", "CustomFieldDefinition", 18, scaled=False),
    _root("study_customfields", "CustomFieldDefinition", 0, scaled=False),
    _root("organizations", "OrganizationPreviewModel", 1, scaled=False, key="Id", ts=None),
    _root("sponsor_divisions", "SponsorDivisionViewModel", 548, scaled=False),
    _root("sponsor_teams", "SponsorTeamViewModel", 546, scaled=False),
    _root("monitors", "MonitorPreviewModel", 68, scaled=False),
    _root("room_groups", "RoomGroupViewModel", 0, scaled=False),
    _root("study_types", None, 0, scaled=False),
    # valid in production but empty there: served empty (size_overrides can fill them)
    _root("action_unit_completions", "ActionUnitCompletionViewModel", 0, scaled=False),
    _root("invoices", "InvoiceDetailViewModel", 0, scaled=False),
    _root("prospects", "RecruitmentProspectViewModel", 0, scaled=False),
    _root("remittances", "ARRemittanceViewModel", 0, scaled=False),
    _root("remittance_notes", "NoteViewModel", 0, scaled=False),
    _root("site_payments", "SitePaymentViewModel", 0, scaled=False),
    _root("patient_payments", "PatientPaymentViewModel", 0, scaled=False),
)
SPACE_BY_NAME: dict[str, SpaceSpec] = {s.name: s for s in SPACES}

# OData lists the swagger types as bare arrays; every other OData list is a PageResultOf<T>.
_SWAGGER_ARRAY_ODATA = {
    "/api/v1/patients/odata",
    "/api/v1/studies/odata",
    "/api/v1/sites/odata",
    "/api/v1/staff/odata",
}


def _odata(
    template: str, space: str, parent: Parent = Parent.NONE, query_parent: str | None = None
) -> EndpointSpec:
    shape = "array" if template in _SWAGGER_ARRAY_ODATA else "pageresult"
    return EndpointSpec(template, space, Kind.ODATA, parent, shape, query_parent=query_parent)


def _list(template: str, space: str, parent: Parent = Parent.NONE) -> EndpointSpec:
    return EndpointSpec(template, space, Kind.LIST, parent, "array")


def _obj(template: str, space: str, parent: Parent, companion: str | None = None) -> EndpointSpec:
    return EndpointSpec(template, space, Kind.OBJECT, parent, "object", companion)


_V = "/api/v1"
_S = f"{_V}/studies/{{studyId}}"
_P = f"{_V}/patients/{{patientId}}"
_PV = f"{_V}/patient-visits/{{patientVisitId}}"

ENDPOINTS: tuple[EndpointSpec, ...] = (
    # --- top level ----------------------------------------------------------------------------
    _list(f"{_V}/sites", "sites"),
    _odata(f"{_V}/sites/odata", "sites"),
    _odata(f"{_V}/studies/odata", "studies"),
    _list(f"{_V}/studies", "studies"),
    _odata(f"{_V}/patients/odata", "patients"),
    _odata(f"{_V}/elements/odata", "elements"),
    _odata(f"{_V}/patient-visits/odata", "patient_visits"),
    _odata(f"{_V}/appointments/odata", "appointments"),
    _odata(f"{_V}/staff/odata", "staff"),
    _list(f"{_V}/staff", "staff"),
    _odata(f"{_V}/providers/odata", "providers"),
    _odata(f"{_V}/rooms/odata", "rooms"),
    _list(f"{_V}/rooms", "rooms"),
    _odata(f"{_V}/schedules/odata", "schedules"),
    _odata(f"{_V}/sponsors/odata", "sponsors"),
    _list(f"{_V}/sponsors", "sponsors"),
    _odata(f"{_V}/system/allergies/odata", "sys_allergies"),
    _odata(f"{_V}/system/conditions/odata", "sys_conditions"),
    _odata(f"{_V}/system/medications/odata", "sys_medications"),
    _odata(f"{_V}/system/procedures/odata", "sys_procedures"),
    _odata(f"{_V}/system/immunizations/odata", "sys_immunizations"),
    _odata(f"{_V}/system/devices/odata", "sys_devices"),
    _odata(f"{_V}/system/social-history/odata", "sys_social_history"),
    _odata(f"{_V}/subject-statuses/odata", "subject_statuses", query_parent="studyUid"),
    # global lists: the per-study lists' records, all studies or ?studyId=
    _odata(f"{_V}/subjects/odata", "subjects", query_parent="studyId"),
    _odata(f"{_V}/visits/odata", "visits", query_parent="studyId"),
    _list(f"{_V}/system/document-types", "document_types"),
    _list(f"{_V}/system/action-categories", "action_categories"),
    _list(f"{_V}/system/study-categories", "study_categories"),
    _list(f"{_V}/system/study-subcategories", "study_subcategories"),
    _list(f"{_V}/system/study-statuses", "study_statuses"),
    _list(f"{_V}/system/lookup-lists", "lookup_lists"),
    _list(f"{_V}/system/patient-customfields", "patient_customfields"),
    _list(f"{_V}/system/study-customfields", "study_customfields"),
    _list(f"{_V}/system/organizations", "organizations"),
    _list(f"{_V}/sponsor-divisions", "sponsor_divisions"),
    _list(f"{_V}/sponsor-teams", "sponsor_teams"),
    _list(f"{_V}/monitors", "monitors"),
    _list(f"{_V}/room-groups", "room_groups"),
    _list(f"{_V}/study-types", "study_types"),
    _odata(f"{_V}/action-unit-completions/odata", "action_unit_completions"),
    _odata(f"{_V}/invoices/odata", "invoices"),
    _odata(f"{_V}/prospects/odata", "prospects"),
    _odata(f"{_V}/remittances/odata", "remittances"),
    _odata(f"{_V}/remittance-notes/odata", "remittance_notes"),
    _odata(f"{_V}/site-payments/odata", "site_payments"),
    _odata(f"{_V}/patient-payments/odata", "patient_payments"),
    _obj(f"{_V}/instance/details", "studies", Parent.NONE, "instance_details"),
    _obj(f"{_V}/instance/topology", "studies", Parent.NONE, "instance_topology"),
    # --- per study ----------------------------------------------------------------------------
    _obj(_S, "studies", Parent.STUDY),
    _odata(f"{_S}/subjects/odata", "subjects", Parent.STUDY),
    _odata(f"{_S}/visits/odata", "visits", Parent.STUDY),
    _odata(f"{_S}/elements/odata", "elements", Parent.STUDY),
    _odata(f"{_S}/documents/odata", "study_documents", Parent.STUDY),
    _list(f"{_S}/documents", "study_documents", Parent.STUDY),
    _odata(f"{_S}/actions/odata", "study_actions", Parent.STUDY),
    _list(f"{_S}/actions", "study_actions", Parent.STUDY),
    _odata(f"{_S}/milestones/odata", "study_milestones", Parent.STUDY),
    _list(f"{_S}/milestones", "study_milestones", Parent.STUDY),
    _odata(f"{_S}/notes/odata", "study_notes", Parent.STUDY),
    _list(f"{_S}/notes", "study_notes", Parent.STUDY),
    _odata(f"{_S}/monitor-queries/odata", "study_monitor_queries", Parent.STUDY),
    _list(f"{_S}/arms", "study_arms", Parent.STUDY),
    _list(f"{_S}/protocol-versions", "study_protocol_versions", Parent.STUDY),
    _list(f"{_S}/roles", "study_roles", Parent.STUDY),
    _list(f"{_S}/personnel", "study_personnel", Parent.STUDY),
    _list(f"{_S}/warnings", "study_warnings", Parent.STUDY),
    _obj(f"{_S}/integration-info", "studies", Parent.STUDY, "integration_info"),
    # --- nested pairs -------------------------------------------------------------------------
    _odata(f"{_S}/visits/{{visitId}}/elements/odata", "visit_elements", Parent.STUDY_VISIT),
    _list(f"{_S}/subjects/{{subjectId}}/patient-visits", "patient_visits", Parent.STUDY_SUBJECT),
    # --- per patient --------------------------------------------------------------------------
    _list(f"{_P}/allergies", "patient_allergies", Parent.PATIENT),
    _list(f"{_P}/conditions", "patient_conditions", Parent.PATIENT),
    _list(f"{_P}/devices", "patient_devices", Parent.PATIENT),
    _list(f"{_P}/immunizations", "patient_immunizations", Parent.PATIENT),
    _list(f"{_P}/medications", "patient_medications", Parent.PATIENT),
    _list(f"{_P}/procedures", "patient_procedures", Parent.PATIENT),
    _list(f"{_P}/social-history", "patient_social_history", Parent.PATIENT),
    _list(f"{_P}/family-history", "patient_family_history", Parent.PATIENT),
    _list(f"{_P}/providers", "patient_providers", Parent.PATIENT),
    _list(f"{_P}/touches/campaign", "patient_campaign_touches", Parent.PATIENT),
    _list(f"{_P}/touches/referral", "patient_referral_touches", Parent.PATIENT),
    # --- per patient visit --------------------------------------------------------------------
    _odata(f"{_PV}/elements/odata", "pv_elements", Parent.PATIENT_VISIT),
    _list(f"{_PV}/elements", "pv_elements", Parent.PATIENT_VISIT),
    _odata(f"{_PV}/stipends/odata", "pv_stipends", Parent.PATIENT_VISIT),
    _list(f"{_PV}/stipends", "pv_stipends", Parent.PATIENT_VISIT),
)
ENDPOINT_BY_TEMPLATE: dict[str, EndpointSpec] = {e.template: e for e in ENDPOINTS}

# Confirmed non-existent in Clinical Conductor: 404 whatever the key or parent.
DEAD_TEMPLATES: tuple[str, ...] = (
    f"{_V}/users/odata",
    f"{_V}/roles/odata",
    f"{_V}/departments/odata",
    f"{_V}/audits/odata",
    f"{_V}/system/study-statuses/odata",
    *(
        f"{_S}/{name}/odata"
        for name in (
            "forms",
            "screenings",
            "enrollments",
            "randomizations",
            "withdrawals",
            "protocol-deviations",
            "adverse-events",
            "concomitant-medications",
            "lab-results",
            "vitals",
            "queries",
            "visit-arms",
            "visit-elements",
        )
    ),
)

# Clinical Conductor Enterprise only: 501 on a CC instance.
NOT_IMPLEMENTED_TEMPLATES: tuple[str, ...] = (
    f"{_V}/monitor-queries/odata",
    f"{_V}/engagements/odata",
)


@dataclass(frozen=True, slots=True)
class Route:
    """A matched request path: what answers it and the path parameters' raw values."""

    status: int  # 200 for served endpoints (the handler may still answer 404 for the parent)
    template: str
    endpoint: EndpointSpec | None  # None for 404/501 and for swagger lists answered empty
    params: tuple[str, ...]
    empty_kind: Kind | None = None  # swagger list paths the simulator answers with no records


def _segments(template: str) -> tuple[str | None, ...]:
    return tuple(None if s.startswith("{") else s for s in template.strip("/").split("/"))


class Router:
    """Maps request paths (relative to ``/CCSWEB``) to routes; literal segments win."""

    def __init__(self) -> None:
        entries: list[tuple[tuple[str | None, ...], Route]] = []
        for t in DEAD_TEMPLATES:
            entries.append((_segments(t), Route(404, t, None, ())))
        for t in NOT_IMPLEMENTED_TEMPLATES:
            entries.append((_segments(t), Route(501, t, None, ())))
        for e in ENDPOINTS:
            entries.append((_segments(e.template), Route(200, e.template, e, ())))
        known = {t for _, r in entries for t in [r.template]}
        for t in SWAGGER_LIST_PATHS:
            norm = t
            if norm in known or _segments(norm) in {s for s, _ in entries}:
                continue
            kind = Kind.ODATA if t.endswith("/odata") else Kind.LIST
            entries.append((_segments(t), Route(200, t, None, (), kind)))
        # priority: dead/501 first (explicit), then more literal segments first
        order = {404: 0, 501: 0, 200: 1}
        entries.sort(key=lambda e: (order[e[1].status], -sum(s is not None for s in e[0])))
        self._by_len: dict[int, list[tuple[tuple[str | None, ...], Route]]] = {}
        for segs, route in entries:
            self._by_len.setdefault(len(segs), []).append((segs, route))

    def match(self, path: str) -> Route | None:
        parts = path.strip("/").split("/")
        for segs, route in self._by_len.get(len(parts), ()):
            params: list[str] = []
            for want, got in zip(segs, parts, strict=True):
                if want is None:
                    if not got:
                        break
                    params.append(got)
                elif want != got:
                    break
            else:
                if route.endpoint is None and route.empty_kind is None:
                    return route
                return Route(
                    route.status, route.template, route.endpoint, tuple(params), route.empty_kind
                )
        return None
