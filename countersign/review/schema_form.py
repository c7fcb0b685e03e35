"""The modify form, generated from the action type's ``parameters`` JSON Schema.

A flat object schema renders as typed fields: strings as text inputs (``maxLength``), numbers and
integers as number inputs (``minimum``/``maximum`` as input limits), booleans and ``enum`` as
selects. Anything else (nested objects, arrays, unions, parameters the schema does not describe)
falls back to the raw JSON textarea. The browser's limits only help the person: the server
converts each field back to its JSON type and validates the result against the same schema.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PREFIX = "p."     # form field name of a parameter: p.<name>
_SCALARS = (str, int, float, bool)
_INTEGER = re.compile(r"^-?[0-9]{1,16}$")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str                   # text | number | select
    value: str                  # the current value, as the input shows it
    required: bool
    options: tuple[str, ...] = ()           # select: the choices, as shown and posted
    limits: dict[str, str] = field(default_factory=dict)   # HTML input attributes: min, max, step, maxlength

    @property
    def input_name(self) -> str:
        return PREFIX + self.name


def fields(schema: dict[str, Any], values: dict[str, Any]) -> list[Field] | None:
    """The form's fields for ``values`` under ``schema``, or None when the generator cannot render it."""
    props = schema.get("properties")
    if schema.get("type", "object") != "object" or not isinstance(props, dict) or not props \
            or set(values) - set(props):
        return None
    required = set(schema.get("required") or ())
    out = []
    for name, prop in props.items():
        made = _field(name, prop if isinstance(prop, dict) else {}, values.get(name), name in required)
        if made is None:
            return None
        out.append(made)
    return out


def _field(name: str, prop: dict[str, Any], value: Any, required: bool) -> Field | None:
    shown = "" if value is None else _text(value)
    if "enum" in prop:
        options = prop["enum"]
        if not options or not all(isinstance(o, _SCALARS) for o in options):
            return None
        return Field(name, "select", shown, required, tuple(_text(o) for o in options))
    kind = prop.get("type")
    if kind == "boolean":
        return Field(name, "select", shown, required, ("true", "false"))
    if kind == "string":
        limits = {"maxlength": str(prop["maxLength"])} if isinstance(prop.get("maxLength"), int) else {}
        return Field(name, "text", shown, required, limits=limits)
    if kind in ("number", "integer"):
        limits = {"step": "1" if kind == "integer" else "any"}
        for attr, keys in (("min", ("minimum", "exclusiveMinimum")), ("max", ("maximum", "exclusiveMaximum"))):
            bound = next((prop[k] for k in keys if isinstance(prop.get(k), (int, float))
                          and not isinstance(prop.get(k), bool)), None)
            if bound is not None:
                limits[attr] = _text(bound)
        return Field(name, "number", shown, required, limits=limits)
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse(schema: dict[str, Any], form: dict[str, str], before: dict[str, Any]) -> dict[str, Any]:
    """The parameters a generated form posted, each converted back to its JSON type. An empty
    field is absent, unless it is a string the proposal had. Raises ValueError in plain words."""
    made = fields(schema, before)
    if made is None:
        raise ValueError("this action's parameters can only be edited as JSON")
    params: dict[str, Any] = {}
    for f in made:
        raw = form.get(f.input_name)
        if raw is None or (raw == "" and not (f.kind == "text" and f.name in before)):
            continue
        params[f.name] = _value(f, raw, schema["properties"][f.name])
    return params


def _value(f: Field, raw: str, prop: dict[str, Any]) -> Any:
    if f.kind == "select":
        choices = prop.get("enum") or [True, False]
        found = [o for o in choices if _text(o) == raw]
        if not found:
            raise ValueError(f"{f.name} must be one of {', '.join(f.options)}")
        return found[0]
    if f.kind == "number":
        text = raw.strip()
        if _INTEGER.match(text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{f.name} must be a number, got {raw[:40]!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{f.name} must be a finite number")
        return number
    return raw
