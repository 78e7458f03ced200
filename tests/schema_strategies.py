"""Hypothesis strategies from the OpenAPI document's JSON Schemas: values the document says a request may carry.

The keywords our document uses, and only those: a schema with any other keyword is refused (KeyError naming it),
so a change to the models that the generator does not understand fails the property tests instead of silently
generating less. (hypothesis-jsonschema does this in general, but no release works with the pinned hypothesis, and
schemathesis brings a Rust JSON Schema engine, GraphQL and an HTTP stack along.)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

ANNOTATIONS = {"title", "description", "default", "examples"}
HANDLED = ANNOTATIONS | {
    "$ref",
    "anyOf",
    "const",
    "enum",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "propertyNames",
    "maxProperties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
}


class SchemaStrategies:
    """``strategy(schema)`` for a schema of ``document`` (an OpenAPI document: refs to ``#/components/schemas``)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def component(self, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.document["components"]["schemas"][name]
        return schema

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.component(schema["$ref"].removeprefix("#/components/schemas/"))
        return schema

    def strategy(self, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        unknown = set(schema) - HANDLED
        if unknown:
            raise KeyError(f"the schema generator does not know {sorted(unknown)}: teach tests/schema_strategies.py")
        if "$ref" in schema:
            return st.deferred(lambda: self.strategy(self.resolve(schema)))
        if "anyOf" in schema:
            return st.one_of([self.strategy(branch) for branch in schema["anyOf"]])
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        kind = schema.get("type")
        if kind == "object":
            return self._object(schema)
        if kind == "array":
            return st.lists(
                self.strategy(schema["items"]), min_size=schema.get("minItems", 0), max_size=schema.get("maxItems")
            )
        if kind == "string":
            return _string(schema)
        if kind == "integer":
            return st.integers(schema.get("minimum"), schema.get("maximum"))
        if kind == "null":
            return st.none()
        raise KeyError(f"the schema generator does not know type {kind!r}")

    def _object(self, schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fixed = st.fixed_dictionaries(
            {name: self.strategy(properties[name]) for name in properties if name in required},
            optional={name: self.strategy(properties[name]) for name in properties if name not in required},
        )
        patterns = schema.get("patternProperties")
        others = schema.get("additionalProperties")
        if patterns:
            ((pattern, values),) = patterns.items()
            names = _string({**schema.get("propertyNames", {}), "pattern": pattern})
            extra = st.dictionaries(names, self.strategy(values), max_size=schema.get("maxProperties"))
        elif isinstance(others, dict):
            names = st.text(min_size=1, max_size=20).filter(lambda name: name not in properties)
            extra = st.dictionaries(names, self.strategy(others), max_size=5)
        else:
            return fixed
        return st.builds(lambda known, more: {**more, **known}, fixed, extra)


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    pattern = schema.get("pattern")
    if schema.get("format") == "date-time":
        stamps = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
        text = stamps.map(lambda d: d.isoformat().replace("+00:00", "Z"))
    elif pattern is not None:
        text = st.from_regex(pattern, fullmatch=True)
    else:
        return st.text(min_size=low, max_size=high)
    matches = re.compile(pattern).search if pattern else None
    return text.filter(lambda s: low <= len(s) <= (high or len(s)) and (matches is None or bool(matches(s))))
