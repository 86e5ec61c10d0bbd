"""Path parameters -> the parent ordinal a per-parent endpoint reads (None = 404) -> its view."""

from __future__ import annotations

from ccsim.catalog import EndpointSpec, Parent
from ccsim.dataset import Dataset, FlatView, ParentView, Space, View


def _alive_slot(sp: Space, raw: str) -> int | None:
    try:
        rid = int(raw)
    except ValueError:
        return None
    slot = sp.slot_of_id(rid)
    if slot is None or not sp.alive(slot):
        return None
    return slot


def resolve_parent(ds: Dataset, kind: Parent, params: tuple[str, ...]) -> int | None:
    """Ordinal of the parent record in its space (the child view's parent index), or None.

    For (studyId, visitId) and (studyId, subjectId) pairs the second record must belong to the
    first and both must be live; patient visits need only be live in /patient-visits/odata.
    """
    if kind is Parent.NONE:
        return 0
    if kind is Parent.STUDY:
        return _alive_slot(ds["studies"], params[0])
    if kind is Parent.PATIENT:
        return _alive_slot(ds["patients"], params[0])
    if kind is Parent.PATIENT_VISIT:
        pv = ds["patient_visits"]
        slot = _alive_slot(pv, params[0])
        return None if slot is None else pv.ordinal(slot)
    study = _alive_slot(ds["studies"], params[0])
    if study is None or len(params) < 2:
        return None
    child = ds["visits"] if kind is Parent.STUDY_VISIT else ds["subjects"]
    slot = _alive_slot(child, params[1])
    if slot is None or child.split(slot)[0] != study:
        return None
    return child.ordinal(slot)


def parent_alive(ds: Dataset, kind: Parent, p: int) -> bool:
    """Whether parent ordinal ``p`` (of the child space's parent) is returned by its list."""
    if kind in (Parent.STUDY, Parent.PATIENT):
        sp = ds["studies"] if kind is Parent.STUDY else ds["patients"]
        return sp.alive(p)
    if kind is Parent.PATIENT_VISIT:
        pv = ds["patient_visits"]
        return pv.alive(pv.slot_of_ordinal(p))
    child = ds["visits"] if kind is Parent.STUDY_VISIT else ds["subjects"]
    slot = child.slot_of_ordinal(p)
    return child.alive(slot) and ds["studies"].alive(child.split(slot)[0])


def view_for(ds: Dataset, ep: EndpointSpec, p: int) -> View:
    """The records a list endpoint serves for parent ordinal ``p`` (from :func:`resolve_parent`).

    Global lists over a child space (``/subjects/odata``) are not flat views: use
    :class:`ccsim.global_lists.GlobalViews`."""
    sp = ds[ep.space]
    if ep.query_parent is not None and not sp.is_root:
        raise ValueError(f"{ep.template} is a global list: use GlobalViews")
    if ep.parent is Parent.NONE:
        return ParentView(sp, 0) if sp.is_root else FlatView(sp)
    return ParentView(sp, p)
