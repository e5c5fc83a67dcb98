"""Recipes: YAML files validated once into typed pydantic objects, with `key.sub=value` overrides.

Every component owns a small config class next to its code (subclass `StrictModel`); a recipe composes them.
`load_config` is the one place where YAML becomes objects, and any unknown key or bad value stops the command
before work starts with one line that names the key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Mapping, Sequence, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from sfp.errors import ConfigError, StorageError

ModelT = TypeVar("ModelT", bound=BaseModel)


class StrictModel(BaseModel):
    """Base class of every config: unknown keys are errors, values are validated, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _storage_location(value: str) -> str:
    from sfp.storage import parse_uri

    try:
        parse_uri(value)
    except StorageError as error:
        raise ValueError(str(error)) from None
    return value


StorageUri = Annotated[str, AfterValidator(_storage_location)]
"""A config value that names a storage location (a local path, file:// or s3://bucket/...): its scheme is checked
when the config is validated, not when a job first reads or writes there."""


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return data


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides; the value is parsed as YAML (`3`, `true`, `[1, 2]`, `null`)."""
    result = json.loads(json.dumps(data))  # deep copy of plain data
    for override in overrides:
        key, sep, raw_value = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {override!r} is not of the form key.sub=value")
        try:
            value = yaml.safe_load(raw_value) if raw_value != "" else ""
        except yaml.YAMLError:
            value = raw_value
        node = result
        parts = key.strip().split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"{'.'.join(parts[: depth + 1])}: is a value, cannot set {key}")
            node = child
        node[parts[-1]] = value
    return result


def format_validation_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "<root>"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "value_error":  # our validators' own messages, which name what they refuse
        message = message.removeprefix("Value error, ")
        if "input" in first and not isinstance(first["input"], (dict, list)) and str(first["input"]) not in message:
            message = f"{message} (got {first['input']!r})"
    elif "input" in first and first["type"] not in ("missing",) and not isinstance(first["input"], (dict, list)):
        message = f"{message} (got {first['input']!r})"
    more = len(error.errors()) - 1
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return f"{location}: {message}{suffix}"


def validate(model_cls: type[ModelT], data: Mapping[str, Any], source: str = "config") -> ModelT:
    try:
        return model_cls.model_validate(dict(data))
    except ValidationError as error:
        raise ConfigError(f"{source}: {format_validation_error(error)}") from None


def load_config(model_cls: type[ModelT], path: str | Path | None, overrides: Sequence[str] = ()) -> ModelT:
    """Read a YAML recipe (or start from the defaults when `path` is None), apply overrides, validate once."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides)
    return validate(model_cls, data, source=str(path) if path is not None else "config")


def config_hash(config: BaseModel) -> str:
    """A short, stable hash of a resolved config: lineage tag for runs and checkpoints."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`: the form MLflow params take."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat
