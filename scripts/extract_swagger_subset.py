"""Extract the simulator's subset of the Clinical Conductor swagger into ``ccsim/data``.

Reads the Swagger 2.0 spec (``cc_openapi.json``) and writes ``swagger_subset.json`` with:

``definitions``
    Every model in :data:`ROOTS` (the response models the simulator serves) and every model
    they reference, transitively through ``$ref`` and array ``items``. For each model:
    ``required`` (spec order, ``[]`` when absent) and ``properties`` (spec order) keeping only
    ``type``, ``format``, ``enum``, ``$ref`` (as a bare model name), ``items`` (recursively the
    same) and ``maxLength``; descriptions, examples, ``readOnly``, bounds, etc. are dropped.
``swagger_list_paths``
    Sorted swagger paths whose ``GET`` 200 response is a list: a ``type: array`` schema or a
    ``$ref`` to a ``PageResultOf...`` model.

The output is deterministic: models sorted by name, the two top-level keys and the keys of each
property schema in a fixed order, ``indent=1`` and a trailing newline. Property order is *not*
sorted but kept as in the spec, because the simulator renders and samples properties in that
order (sorting them would change every generated record).

Usage (from the repo root)::

    python scripts/extract_swagger_subset.py            # (re)write the data file
    python scripts/extract_swagger_subset.py --check    # exit 1 if the file is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SWAGGER = REPO_ROOT / "src" / "trialsync_async" / "data" / "cc_openapi.json"
DEFAULT_OUT = REPO_ROOT / "src" / "ccsim" / "data" / "swagger_subset.json"

# The models the simulator serves. The spec alone cannot give this set: the simulator implements
# only some endpoints, and some served models are not any GET response model in the spec
# (RecruitmentProspectViewModel is only a POST response). This list mirrors the ``model`` of
# every space in ``ccsim.catalog.SPACES`` plus the companion objects of ``EndpointSpec.model``,
# in catalog order; keep it in sync when the catalog gains a model (a unit test checks it).
ROOTS: tuple[str, ...] = (
    # --- scaled business data ---------------------------------------------------------------
    "StudyViewModel",
    "PatientViewModel",
    "AppointmentViewModel",
    "SubjectStatusModel",
    "SubjectViewModel",
    "VisitViewModel",
    "ElementViewModel",
    "StudyDocumentViewModel",
    "ActionViewModel",
    "StudyMilestoneViewModel",
    "StudyNoteViewModel",
    "MonitorQueryPreviewModel",
    "StudyArmPreviewModel",
    "ProtocolVersionViewModel",
    "StudyRoleViewModel",
    "RoleStaff",
    "StudyWarningModel",
    "PatientVisitPreview",
    "PatientVisitElementPreview",
    "PatientPaymentViewModel",
    "VisitElementRelationshipViewModel",
    "PatientAllergiesViewModel",
    "PatientConditionViewModel",
    "PatientMedicalDeviceViewModel",
    "PatientImmunizationViewModel",
    "PatientMedicationViewModel",
    "PatientProcedureViewModel",
    "PatientLifeStylesHistoryViewModel",
    "PatientFamilyHistoryViewModel",
    "PatientProviderViewModel",
    "CampaignTouchViewModel",
    "ReferralTouchViewModel",
    # --- reference data -----------------------------------------------------------------------
    "SiteModel",
    "StaffViewModel",
    "ProviderModel",
    "RoomViewModel",
    "ScheduleViewModel",
    "SponsorViewModel",
    "SysAllergyViewModel",
    "SysConditionsViewModel",
    "SysMedicationViewModel",
    "SysProcedureModel",
    "SysImmunizationModel",
    "SysDeviceModel",
    "SysSocialHistoryViewModel",
    "DocumentTypePreviewModel",
    "ActionCategoryPreviewModel",
    "StudyCategoryViewModel",
    "StudySubcategoryViewModel",
    "StudyStatusTypeViewModel",
    "CustomFieldDefinition",
    "OrganizationPreviewModel",
    "SponsorDivisionViewModel",
    "SponsorTeamViewModel",
    "MonitorPreviewModel",
    "RoomGroupViewModel",
    # --- served empty (valid in production but empty there) ---------------------------------
    "ActionUnitCompletionViewModel",
    "InvoiceDetailViewModel",
    "RecruitmentProspectViewModel",
    "ARRemittanceViewModel",
    "NoteViewModel",
    "SitePaymentViewModel",
    # --- companion objects (EndpointSpec.companion) -----------------------------------------
    "InstanceDetails",
    "ClinicalConductorTopologyViewModel",
    "StudyIntegrationInfoViewModel",
)

# Property-schema keys kept, in output order.
KEPT_KEYS: tuple[str, ...] = ("type", "format", "enum", "$ref", "items", "maxLength")


def bare_ref(ref: str) -> str:
    """``#/definitions/Foo`` -> ``Foo``."""
    return ref.rsplit("/", 1)[-1]


def slim_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The kept keys of one property schema, in :data:`KEPT_KEYS` order."""
    out: dict[str, Any] = {}
    for key in KEPT_KEYS:
        if key not in schema:
            continue
        value = schema[key]
        if key == "$ref":
            out[key] = bare_ref(value)
        elif key == "items":
            out[key] = slim_schema(value)
        else:
            out[key] = value
    return out


def schema_refs(schema: dict[str, Any]) -> Iterator[str]:
    """Bare names of the models ``schema`` references (directly or via ``items``)."""
    if "$ref" in schema:
        yield bare_ref(schema["$ref"])
    if "items" in schema:
        yield from schema_refs(schema["items"])


def closure(definitions: dict[str, Any], roots: Iterable[str]) -> set[str]:
    """``roots`` and every model they reference, transitively."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        if name not in definitions:
            raise KeyError(f"model {name!r} is not in the swagger definitions")
        seen.add(name)
        for prop in definitions[name].get("properties", {}).values():
            stack.extend(schema_refs(prop))
    return seen


def extract_definitions(spec: dict[str, Any], roots: Iterable[str]) -> dict[str, Any]:
    """The slimmed definitions of ``roots`` and their references, sorted by model name."""
    definitions: dict[str, Any] = spec["definitions"]
    out: dict[str, Any] = {}
    for name in sorted(closure(definitions, roots)):
        model = definitions[name]
        out[name] = {
            "required": list(model.get("required", [])),
            "properties": {p: slim_schema(s) for p, s in model.get("properties", {}).items()},
        }
    return out


def list_paths(spec: dict[str, Any]) -> list[str]:
    """Sorted paths whose GET 200 response is an array or a ``PageResultOf...`` model."""
    out: list[str] = []
    for path, ops in spec["paths"].items():
        schema = ops.get("get", {}).get("responses", {}).get("200", {}).get("schema")
        if not schema:
            continue
        if schema.get("type") == "array" or bare_ref(schema.get("$ref", "")).startswith(
            "PageResultOf"
        ):
            out.append(path)
    return sorted(out)


def build(spec: dict[str, Any], roots: Iterable[str] = ROOTS) -> dict[str, Any]:
    """The data file's content as an object."""
    return {
        "definitions": extract_definitions(spec, roots),
        "swagger_list_paths": list_paths(spec),
    }


def render(data: dict[str, Any]) -> str:
    """The data file's exact text."""
    return json.dumps(data, indent=1) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--swagger", type=Path, default=DEFAULT_SWAGGER, help="Swagger 2.0 spec to read"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON data file to write")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if --out differs from what would be written",
    )
    args = parser.parse_args(argv)
    swagger: Path = args.swagger
    out: Path = args.out

    spec: dict[str, Any] = json.loads(swagger.read_text(encoding="utf-8"))
    text = render(build(spec))
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else None
        if current != text:
            print(f"{out} is out of date; run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
