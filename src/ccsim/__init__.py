"""Clinical Conductor API simulator: the stand-in for the real API in tests, demo and benchmarks.

In process::

    async with SimulatorServer(SimulatorOptions(scale=0.02)) as sim:
        sim.base_url            # http://127.0.0.1:<port>/CCSWEB
        sim.auth_header         # {"CCAPIKey": "<key>"}
        sim.truth(template)     # {"count", "id_sum", "key", "parent", "parent_template", ...}
        sim.stats(); sim.reset_stats(); sim.mutate(template, insert=1, update=2, delete=3)
        sim.mutate("/api/v1/studies/odata", update=3, rename=False)  # children untouched
        sim.configure(rate_limit_rps=5, faults={"p_500": 0.1})
        sim.records(template, params)   # every live record of one endpoint/parent, parsed

In a child process (benchmarks): ``with SimulatorProcess(SimulatorOptions(scale=1)) as sim:``.
Standalone: ``python -m ccsim --port 8800 --scale 1`` (see ``--help``).

Behaviour worth knowing (details in the module docstrings):

* Shapes. OData lists: bare arrays for /patients, /studies, /sites and /staff (as the swagger
  says), swagger ``PageResultOf`` (``Items``/``NextPageLink``/``Count``) for every other OData
  list; ``Count`` is null unless ``$count=true``. The OData envelope has ``@odata.count`` only
  with ``$count=true`` and ``@odata.nextLink`` only when more rows follow. Arrays cannot carry
  a count. Plain lists: arrays; single objects: objects. Override with
  ``shape_overrides={"odata"|"list"|<template>: "array"|"envelope"|"pageresult"}``.
* Data. Deterministic per (seed, scale); ids are unique, non-contiguous and ascending in the
  default order. Every endpoint's timestamp field is ``lastUpdatedOn`` (added where the swagger
  model has none) except subject statuses (``eventDate``); endpoints whose records have a fixed
  exact shape (arms, organizations, personnel, warnings, visit elements, lookup lists) have none.
  The seven financial/recruitment OData lists that are empty in production are empty here.
* Mutations append inserted records to their parent (largest ids) and give inserted/updated
  records the current time as timestamp (strictly increasing, newer than every other record of
  their space); deleting a parent makes its per-parent endpoints 404 and drops its children
  from the global lists; flat lists do not cascade; inserted records have no children. The
  result names every changed id, each child's parent and the deleted records' children
  (``parents``, ``orphaned``); ``rename=False`` keeps names, so embedding records stay the same.
* Global lists (``ccsim.global_lists``): ``/subjects/odata`` and ``/visits/odata`` serve the
  per-study lists' records, all or ``?studyId=``; ``/subject-statuses/odata?studyUid=``.
  ``global_list_drop`` removes a stable fraction from them; ``reject_filter_fields`` answers
  400 to a ``$filter`` on those fields.
* Paging faults. ``natural_order="shuffled"`` serves OData lists without ``$orderby`` (and plain
  lists) in a stable seeded hash order instead of id order; ``page_overlap=p`` makes an OData
  page repeat the record preceding it at its head ($top + 1 records) with probability p;
  ``max_top`` silently caps ``$top`` below 1000 (see ``options``, ``ordering`` and ``paging``).
* Bad answers. ``transforms=(AnswerTransform(kind="empty_page", template=..., after=2),)``
  damages chosen 200 list answers precisely and reproducibly (empty/short pages, wrong counts,
  null/missing lists, duplicate/null/missing/string ids, deep records, slow bodies; see
  ``ccsim.transforms``); ``field_changes`` reshape an endpoint's records (a field retyped,
  dropped or added; see ``ccsim.field_changes``). Both can be reconfigured at runtime.
* Statistics count API requests by status, by template and by parent (``by_parameters``, see
  ``ccsim.stats``); injected faults that do not produce a clean status are counted as ``reset``,
  ``hang``, ``truncated`` and ``html``; transformed answers per kind under ``transforms``.
"""

from ccsim.field_changes import FieldChange
from ccsim.options import (
    DEFAULT_API_KEY,
    DEFAULT_API_KEY_HEADER,
    DEFAULT_MAX_TOP,
    DEFAULT_NATURAL_ORDER,
    DEFAULT_PAGE_OVERLAP,
    DEFAULT_SCALE,
    DEFAULT_SEED,
    DEFAULT_TOP,
    MAX_TOP,
    FaultOptions,
    SimulatorOptions,
)
from ccsim.process import SimulatorProcess
from ccsim.server import SimulatorServer
from ccsim.transforms import AnswerTransform

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_KEY_HEADER",
    "DEFAULT_MAX_TOP",
    "DEFAULT_NATURAL_ORDER",
    "DEFAULT_PAGE_OVERLAP",
    "DEFAULT_SCALE",
    "DEFAULT_SEED",
    "DEFAULT_TOP",
    "MAX_TOP",
    "AnswerTransform",
    "FaultOptions",
    "FieldChange",
    "SimulatorOptions",
    "SimulatorProcess",
    "SimulatorServer",
]
