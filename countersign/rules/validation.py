"""JSON Schema validation shared by the Lambdas, the CDK app and the CLI.

Schemas are compiled once per process with fastjsonschema (the validator that ships in the
Powertools Lambda layer), on first use rather than at import, so handlers that never validate
pay nothing at cold start.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).parent.parent / "schemas"


class SchemaError(ValueError):
    """A document does not satisfy its schema. ``path`` is the offending JSON path."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text())


@lru_cache(maxsize=64)
def _compiled(schema_json: str):
    import fastjsonschema

    return fastjsonschema.compile(json.loads(schema_json))


def validate(document: Any, schema: dict[str, Any]) -> None:
    """Raise SchemaError with a readable message when ``document`` breaks ``schema``."""
    import fastjsonschema

    validator = _compiled(json.dumps(schema, sort_keys=True))
    try:
        validator(document)
    except fastjsonschema.JsonSchemaValueException as exc:
        path = "$" + "".join(f"[{p}]" if str(p).isdigit() else f".{p}" for p in exc.path[1:])
        message = exc.message.replace("data.", "$.", 1).replace("data ", "$ ", 1)
        raise SchemaError(message, path) from None


AUDIT_RECORD_SCHEMA = "audit-record.v1.json"   # docs/audit-schema.md


@lru_cache(maxsize=1)
def _audit_record_schema() -> dict[str, Any]:
    return load_schema(AUDIT_RECORD_SCHEMA)


def validate_audit_record(record: Any) -> None:
    """Raise SchemaError unless ``record`` is a well-formed audit record of a known event."""
    validate(record, _audit_record_schema())
