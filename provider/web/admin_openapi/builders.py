"""Small builders of JSON Schema and OpenAPI fragments."""

from __future__ import annotations

from typing import Any

__all__ = ["NULL_INT", "NULL_STR", "json_response", "obj", "ref"]

NULL_STR = {"type": ["string", "null"]}
NULL_INT = {"type": ["integer", "null"]}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def obj(**props: Any) -> dict[str, Any]:
    """An object whose every property is required."""
    return {"type": "object", "required": list(props), "properties": props}
