"""Every live record of one endpoint and parent, as the API renders it (for tests).

Records come in id order (slot order for models without a key, which is the same order the
default ``natural_order="id"`` serves), ignoring faults, page overlap and the natural order.
Object endpoints give a one-element list. Swagger list paths the simulator answers empty give
``[]``. Configured field changes (:mod:`ccsim.field_changes`) are applied, as the API applies
them; answer transforms (:mod:`ccsim.transforms`) are not: the dump is the truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ccsim.catalog import (
    DEAD_TEMPLATES,
    ENDPOINT_BY_TEMPLATE,
    NOT_IMPLEMENTED_TEMPLATES,
    Kind,
    Parent,
)
from ccsim.dataset import Dataset
from ccsim.field_changes import FieldChange, change_record, changed_renderer
from ccsim.global_lists import GlobalViews
from ccsim.query import all_slots
from ccsim.records import Renderer, single_object
from ccsim.resolve import resolve_parent, view_for
from ccsim.swagger_models import SWAGGER_LIST_PATHS


class UnknownRecords(KeyError):
    """No such endpoint template, or no such parent for it (HTTP 404)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


def _arity(template: str) -> int:
    return template.count("{")


def dump_records(
    ds: Dataset,
    renderer: Renderer,
    template: str,
    params: Sequence[str] = (),
    field_changes: Sequence[FieldChange] = (),
) -> list[Any]:
    """Parsed records of ``template`` for path parameter values ``params``, reshaped by
    ``field_changes`` (those of this template) as the API renders them.

    Raises :class:`UnknownRecords` for an unknown template or parent and ``ValueError`` when the
    number of parameters does not match the template.
    """
    values = tuple(str(v) for v in params)
    if len(values) != _arity(template):
        raise ValueError(f"{template} takes {_arity(template)} path parameter(s), got {values}")
    ep = ENDPOINT_BY_TEMPLATE.get(template)
    if ep is None:
        dead = template in DEAD_TEMPLATES or template in NOT_IMPLEMENTED_TEMPLATES
        if template in SWAGGER_LIST_PATHS and not dead:
            return []
        raise UnknownRecords(f"unknown template {template!r}")
    p = resolve_parent(ds, ep.parent, values)
    if p is None:
        raise UnknownRecords(f"no parent {'/'.join(values)!r} for {template}")
    sp = ds[ep.space]
    if ep.kind is Kind.OBJECT:
        if ep.companion is None:
            body = renderer.render(sp.name, p)
        else:
            body = single_object(ds, ep.companion, p if ep.parent is not Parent.NONE else None)
        return [orjson.loads(change_record(body, field_changes))]
    render = changed_renderer(renderer.factory(sp.name).render, field_changes)
    if ep.query_parent is not None:  # a global list: all of it, without faults
        view = GlobalViews(ds, renderer).view(ep, None)
    else:
        view = view_for(ds, ep, p)
    return [orjson.loads(render(s)) for s in all_slots(view)]


__all__ = ["UnknownRecords", "dump_records"]
