"""Loading YAML configs: `--set` overrides, strict pydantic validation, every error at once.

    from prefdata.config import load_config
    recipe = load_config(Recipe, "pipelines/sample_vllm_cpu.yaml", ["sample.k=8"])

Every config model derives from `StrictModel` (unknown keys are errors). Validation turns
pydantic's errors into one `ConfigError` that lists each problem with its key path.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, ValidationInfo

from prefdata.errors import ConfigError, PrefdataError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 also reads yes/no/on/off as booleans, which
    turns `eval_strategy: no` into False; here they stay strings, and bool fields accept them."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise PrefdataError(f"{path}: no such config file. Pass the path of a YAML file.")
    try:
        data = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PrefdataError(f"{path}:{where} is not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise PrefdataError(f"{path}: top level must be a mapping of keys, got {type(data).__name__}.")
    return data


_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_value(raw: str) -> Any:
    """A `--set` value as YAML, except that `5e-5` is a float (YAML 1.1 reads it as a string) and
    yes/no/on/off stay strings."""
    if raw == "":
        return ""
    if _EXPONENT_FLOAT.fullmatch(raw.strip()):
        return float(raw)
    return load_yaml(raw)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key.path=value` overrides; values are parsed as YAML (`k=4`, `x=[a,b]`)."""
    data = json.loads(json.dumps(data))
    problems = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            problems.append(f"--set {item!r}: expected key.path=value, e.g. --set sample.k=8")
            continue
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            if isinstance(node, list):  # sample.models.0.model=...: index into a list
                if not part.isdigit() or int(part) >= len(node):
                    problems.append(f"--set {item!r}: {part!r} is not an index of a {len(node)}-item list")
                    break
                node = node[int(part)]
                continue
            if not isinstance(node.setdefault(part, {}), (dict, list)):
                problems.append(f"--set {item!r}: {part!r} is not a mapping")
                break
            node = node[part]
        else:
            value = parse_value(raw)
            if isinstance(node, list):
                if not leaf.isdigit() or int(leaf) >= len(node):
                    problems.append(f"--set {item!r}: {leaf!r} is not an index of a {len(node)}-item list")
                    continue
                node[int(leaf)] = value
            elif not isinstance(node, dict):
                problems.append(f"--set {item!r}: cannot set {leaf!r} inside a {type(node).__name__}")
            else:
                node[leaf] = value
    if problems:
        raise ConfigError("--set", problems)
    return data


def format_errors(error: ValidationError) -> list[str]:
    problems = []
    for err in error.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see the recipe docs for valid keys)"
        elif "input" in err and err["type"] not in ("missing",):
            msg = f"{msg} (got {err['input']!r})"
        problems.append(f"{loc or '<root>'}: {msg}")
    return problems


def validate(model: type[M], data: dict[str, Any], source: str, base_dir: Path | None = None) -> M:
    """Validate `data`; validators that read files resolve relative paths against `base_dir`."""
    try:
        return model.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as e:
        raise ConfigError(source, format_errors(e)) from None


def load_config(model: type[M], path: str | Path, overrides: list[str] = ()) -> M:
    path = Path(path)
    return validate(model, apply_overrides(read_yaml(path), list(overrides)), str(path), path.parent.resolve())


def config_path(value: str | Path, info: ValidationInfo | None) -> Path:
    """A path from a config file: relative to that file when it exists there, else to the cwd."""
    path = Path(value)
    base_dir = (info.context or {}).get("base_dir") if info is not None else None
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        return (base_dir / path).resolve()
    return path


def _resolved(value: str, info: ValidationInfo) -> str:
    return str(config_path(value, info))


# A path field of a config: relative paths that exist beside the config file are made absolute
# there (model folders, prompt files); anything else (a hub id, a server's model name) is kept.
ConfigPath = Annotated[str, AfterValidator(_resolved)]


def stable_hash(obj: Any) -> str:
    """sha256 of a JSON-able object with sorted keys (configs, fingerprints)."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
