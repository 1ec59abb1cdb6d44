"""Load a YAML file into a pydantic model, with errors that name the file, line and field.

Every config in sublim (studies, MNIST, theorem checks) goes through :func:`load_yaml_model`, so a
typo anywhere gives one line such as::

    configs/paper_tiny.yaml:12: field 'generation.n_samples': Input should be greater than 0 (got -5)

Example:
    >>> from pydantic import BaseModel
    >>> class C(BaseModel):
    ...     n: int = 1
    >>> load_yaml_text("n: 3", C).n
    3
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_serializer

from sublim.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config: unknown fields are errors, instances are immutable and hashable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: Fields added after results were cached: left out of dumps — and so of cache keys — while they
    #: hold their default, so caches made before the field existed stay valid.
    _added_later: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_added_defaults(self, handler: Any) -> Any:
        data = handler(self)
        for name in self._added_later:
            if isinstance(data, dict) and name in data and getattr(self, name) == type(self).model_fields[name].default:
                del data[name]
        return data


def _line_index(node: yaml.Node, prefix: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map each key path in a composed YAML tree to its 1-based line number."""
    out = {} if out is None else out
    out.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, str(key_node.value))
            out[path] = key_node.start_mark.line + 1
            _line_index(value_node, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = (*prefix, i)
            out[path] = item.start_mark.line + 1
            _line_index(item, path, out)
    return out


def _nearest_line(lines: dict[tuple, int], loc: Sequence) -> int | None:
    loc = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def format_validation_error(err: ValidationError, source: str, lines: dict[tuple, int] | None) -> str:
    """Turn a pydantic error into ``source:line: field 'a.b': message`` lines."""
    out = []
    for e in err.errors():
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = _nearest_line(lines, loc) if lines else None
        where = f"{source}:{line}" if line else source
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see the config reference in README.md)"
        elif "input" in e and not isinstance(e["input"], dict | list):
            msg = f"{msg} (got {e['input']!r})"
        out.append(f"{where}: field '{field}': {msg}")
    return "\n".join(out)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value`` (value in YAML syntax) into a key path and a value."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. generation.n_samples=100")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {exc}") from None
    return key.strip().split("."), value


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """Apply ``--set a.b=value`` overrides to a nested dict (creating sub-dicts as needed)."""
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            if not isinstance(node.get(part, {}), dict):
                raise ConfigError(f"override {text!r}: '{part}' is not a section")
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return data


def load_yaml_text(text: str, model: type[M], source: str = "<string>", overrides: Sequence[str] = ()) -> M:
    """Validate YAML text against ``model``; see :func:`load_yaml_model`."""
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: expected a mapping of fields at the top level")
    lines = _line_index(node) if node is not None else {}
    data = apply_overrides(data, overrides)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source, lines)) from None


def load_yaml_model(path: str | Path, model: type[M], overrides: Sequence[str] = ()) -> M:
    """Load ``path`` into ``model`` applying ``overrides``; raise ``ConfigError`` naming file:line:field.

    Args:
        path: YAML file.
        model: the pydantic model class to validate against.
        overrides: ``key.sub=value`` strings (values in YAML syntax), applied before validation.
    Raises:
        ConfigError: missing file, invalid YAML or a field that fails validation.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    return load_yaml_text(path.read_text(encoding="utf-8"), model, str(path), overrides)


def dump_yaml(model: BaseModel) -> str:
    """Serialise a config back to YAML (what is written as the resolved ``config.yaml`` of a run)."""
    return yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def config_hash(obj: BaseModel | dict | list | str, *, exclude: set[str] | None = None) -> str:
    """Stable short hash of a config (canonical JSON, sorted keys); ``exclude`` drops top-level fields."""
    data = obj.model_dump(mode="json", exclude=exclude) if isinstance(obj, BaseModel) else obj
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def setting_differences(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Every setting where two plain configs (dicts from YAML) differ, in key order: ``(dotted path, value in a,
    value in b)``. The values come with the path because a key may itself hold dots (``lr_scale`` patterns)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [diff for key in sorted(set(a) | set(b), key=str)
                for diff in setting_differences(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))]
    return [] if a == b else [(path, a, b)]


def setting(config: Any, path: str) -> Any:
    """The value at a dotted path of a plain config (``None`` where the path is absent)."""
    for key in path.split("."):
        config = config.get(key) if isinstance(config, dict) else None
    return config

