"""Vega-Lite spec helpers of the report's charts: plain dicts, no altair."""

from __future__ import annotations

from typing import Any

Spec = dict[str, Any]
WIDTH = 640
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"


def top(spec: Spec) -> Spec:
    """``spec`` as a top-level spec (with its ``$schema``)."""
    return {"$schema": SCHEMA, **spec}


def field(name: str, kind: str, **more: Any) -> Spec:
    """An encoding of field ``name`` of type ``kind``."""
    return {"field": name, "type": kind, **more}


def inline(rows: list[dict[str, Any]]) -> Spec:
    """Data given inline, row by row."""
    return {"values": rows}


def tooltip(*fields: str) -> list[Spec]:
    """A tooltip of ``name:T`` fields (T: Q quantitative, N nominal, O ordinal)."""
    kinds = {"Q": "quantitative", "N": "nominal", "O": "ordinal"}
    return [field(f.split(":")[0], kinds[f.split(":")[1]]) for f in fields]
