"""Validate a request against botocore's own service model, the way AWS's front end does.

The constraints are read from the installed botocore (required members, lengths, ranges, patterns, list
sizes, enums), so the emulator moves with the pinned SDK instead of a hand-copied schema drifting away.
Messages follow the shape of AWS's ``ValidationException`` text: ``1 validation error detected: Value 'x'
at 'usageRecords.1.member.dimension' failed to satisfy constraint: Member must ...``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape


@dataclass(frozen=True)
class Violation:
    path: str
    message: str
    value: Any
    # "type": the body could not be read as the modelled type (AWS answers SerializationException);
    # "constraint": it could, but breaks a modelled constraint (ValidationException).
    kind: str = "constraint"

    def render(self) -> str:
        return f"Value '{_show(self.value)}' at '{self.path}' failed to satisfy constraint: {self.message}"


@functools.cache
def service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


def validate(service: str, operation: str, params: Any) -> list[Violation]:
    shape = operation_model(service, operation).input_shape
    violations: list[Violation] = []
    if shape is None:
        return violations
    if not isinstance(params, dict):
        return [Violation("", "Request body must be an object", params, "type")]
    _walk(shape, params, "", violations)
    return violations


def output_violations(service: str, operation: str, body: Any) -> list[Violation]:
    """What in the emulator's own answer ``body`` breaks the operation's output shape, members the shape does not
    have included: a client ignores those silently, so only a check against the same model finds them."""
    shape = operation_model(service, operation).output_shape
    violations: list[Violation] = []
    if shape is not None:
        _walk(shape, body, "", violations, strict=True)
    return violations


def summary(violations: list[Violation]) -> str:
    constraint = [v for v in violations if v.kind == "constraint"]
    count = len(constraint)
    noun = "error" if count == 1 else "errors"
    # AWS lists every violation; a 25-record batch can have hundreds, so cap what we spell out.
    shown = "; ".join(v.render() for v in constraint[:10])
    more = f"; ({count - 10} more)" if count > 10 else ""
    return f"{count} validation {noun} detected: {shown}{more}"


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _walk(shape: Shape, value: Any, path: str, out: list[Violation], strict: bool = False) -> None:
    """``strict``: members the shape does not model are violations too (for checking answers, not requests)."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            out.append(Violation(path, "Member must be a structure", value, "type"))
            return
        for name in shape.required_members:
            if value.get(name) is None:
                out.append(Violation(_join(path, _camel(name)), "Member must not be null", None))
        if meta.get("union"):
            # a Smithy union (the Agreement Service's AcceptedTerm): exactly one member is set
            present = [name for name in shape.members if value.get(name) is not None]
            if len(present) != 1:
                out.append(Violation(path, "Member must have exactly one member set", f"{len(present)} members"))
        if strict:
            for name in value:
                if name not in shape.members:
                    out.append(Violation(_join(path, _camel(name)), "Member is not in the model", value[name]))
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _walk(member, value[name], _join(path, _camel(name)), out, strict)
        return
    if kind == "list":
        assert isinstance(shape, ListShape)
        if not isinstance(value, list):
            out.append(Violation(path, "Member must be a list", value, "type"))
            return
        _check_size(meta, len(value), value, path, out)
        for index, item in enumerate(value, start=1):
            if item is None:
                out.append(Violation(f"{path}.{index}.member", "Member must not be null", None))
            else:
                _walk(shape.member, item, f"{path}.{index}.member", out, strict)
        return
    if kind == "map":
        assert isinstance(shape, MapShape)
        if not isinstance(value, dict):
            out.append(Violation(path, "Member must be a map", value, "type"))
            return
        _check_size(meta, len(value), value, path, out)
        for key, item in value.items():
            _walk(shape.key, key, f"{path}.{key}.key", out, strict)
            if item is not None:
                _walk(shape.value, item, f"{path}.{key}.value", out, strict)
        return
    if kind == "string":
        if not isinstance(value, str):
            out.append(Violation(path, "Member must be a string", value, "type"))
            return
        _check_size(meta, len(value), value, path, out)
        enum = meta.get("enum") or []
        if enum and value not in enum:
            out.append(Violation(path, f"Member must satisfy enum value set: [{', '.join(enum)}]", value))
        pattern = meta.get("pattern")
        if pattern and _compiled(pattern).search(value) is None:
            out.append(Violation(path, f"Member must satisfy regular expression pattern: {pattern}", value))
        return
    if kind in {"integer", "long"}:
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(Violation(path, "Member must be an integer", value, "type"))
            return
        if "min" in meta and value < meta["min"]:
            out.append(Violation(path, f"Member must have value greater than or equal to {meta['min']}", value))
        if "max" in meta and value > meta["max"]:
            out.append(Violation(path, f"Member must have value less than or equal to {meta['max']}", value))
        return
    if kind in {"double", "float"}:
        if isinstance(value, bool) or not isinstance(value, int | float):
            out.append(Violation(path, "Member must be a number", value, "type"))
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            out.append(Violation(path, "Member must be a boolean", value, "type"))
        return
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | datetime):
            out.append(Violation(path, "Member must be a timestamp (epoch seconds)", value, "type"))
        return


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    r"""Compile a Smithy (ECMA-262) pattern with ECMA semantics.

    Smithy patterns are not implicitly anchored, hence search() and not fullmatch(). A trailing ``$`` in
    ECMA-262 matches only at the very end, while Python's also matches before a final newline; ``\Z`` is the
    ECMA meaning, so "abc" plus a newline is rejected as AWS rejects it.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _check_size(meta: dict[str, Any], size: int, value: Any, path: str, out: list[Violation]) -> None:
    shown: Any = value if isinstance(value, str) else f"{size} items"
    if "min" in meta and size < meta["min"]:
        out.append(Violation(path, f"Member must have length greater than or equal to {meta['min']}", shown))
    if "max" in meta and size > meta["max"]:
        out.append(Violation(path, f"Member must have length less than or equal to {meta['max']}", shown))
