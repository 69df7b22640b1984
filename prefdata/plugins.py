"""Blocks from the user's own code: `type: my_module:MyClass` in a recipe, or a name that an
installed package registers as an entry point.

    filter:
      steps:
        - {type: quality}
        - {type: "my_filters:AboveMedianMargin", keep: 0.5}   # my_filters.py beside the recipe

    # an installed package's pyproject.toml
    [project.entry-points."prefdata.filters"]
    above_median = "my_pkg.filters:AboveMedianMargin"          # then: {type: above_median}

The class is a subclass of the block's base class (`Filter`, `Judge`) with a `Config`
model; the step's other keys are validated by that `Config` at load, and its errors are
reported with the recipe's others. A module beside the recipe imports without PYTHONPATH:
the recipe's folder is searched first, as for its relative paths. The class's source file
is part of the stage key, so an edited plugin re-runs its stage.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, ClassVar, Union

from pydantic import (
    BaseModel, ConfigDict, Discriminator, PrivateAttr, Tag, ValidationError, ValidationInfo, model_validator,
)

GROUPS = {"filter": "prefdata.filters", "judge": "prefdata.judges"}


def import_object(spec: str, base_dir: Path | None = None) -> Any:
    """`package.module:attribute` -> the attribute, the recipe's folder searched first; ValueError
    with the fix if it fails."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{spec!r} is not 'module:attribute' (e.g. 'my_pkg.judges:score')")
    if base_dir is not None and str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        where = f" or in the recipe's folder {base_dir}" if base_dir is not None else ""
        raise ValueError(f"cannot import module {module_name!r} for {spec!r}: {e}. Is it installed, on "
                         f"PYTHONPATH{where}?") from None
    except Exception as e:  # the user's module itself fails (SyntaxError, NameError...): one line, not a traceback
        raise ValueError(f"importing {module_name!r} for {spec!r} failed: {type(e).__name__}: {e}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r} (from {spec!r})")
        obj = getattr(obj, part)
    return obj


def registered(kind: str) -> dict[str, Any]:
    """name -> entry point of the blocks installed packages register for `kind` (filter, judge)."""
    return {ep.name: ep for ep in entry_points(group=GROUPS[kind])}


def registered_catalog(kind: str) -> list[tuple[str, str]]:
    """(entry-point name, first docstring line and where it comes from) per installed `kind` plugin."""
    from prefdata.registry import summary

    rows = []
    for name, ep in sorted(registered(kind).items()):
        try:
            what = summary(ep.load())
        except Exception as e:  # noqa: BLE001 - a broken installed package must not break the listing
            what = f"cannot be loaded: {type(e).__name__}: {e}"
        rows.append((name, f"{what} ({ep.value})"))
    return rows


def source_file(obj: Any) -> Path | None:
    """The file that defines `obj` (None for a built-in or interactive definition)."""
    try:
        return Path(inspect.getfile(obj))
    except (TypeError, OSError):
        return None


class PluginConfig(BaseModel):
    """A block named `module:Class` (or an entry point): its `Config` validates the other keys."""

    model_config = ConfigDict(extra="allow")
    kind: ClassVar[str]  # set per block kind by plugin_union
    base: ClassVar[type]
    builtin: ClassVar[tuple[str, ...]]
    type: str
    _block: tuple[type, BaseModel] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo):
        cls = load_block(self.type, self.kind, self.base, (info.context or {}).get("base_dir"), self.builtin)
        options = dict(self.model_extra or {})
        if "type" in cls.Config.model_fields:
            options["type"] = self.type
        try:
            config = cls.Config.model_validate(options, context=info.context)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'config'}: {err['msg']}" for err in e.errors())
            raise ValueError(f"{self.type}: {problems}") from None
        check = getattr(cls, "contract_problem", None)  # e.g. a filter's declared scope and its hooks
        if check is not None and (problem := check(cls(config))) is not None:
            raise ValueError(f"{self.type}: {problem}")
        self._block = (cls, config)
        return self

    @property
    def block_class(self) -> type:
        return self._block[0]

    @property
    def block_config(self) -> BaseModel:
        return self._block[1]

    def __getattr__(self, name: str) -> Any:
        # the block's validated options (a judge's `id`, a `sampler` model) before the raw keys
        private = self.__pydantic_private__ or {}
        block = private.get("_block")
        if block is not None and not name.startswith("_") and name in type(block[1]).model_fields:
            return getattr(block[1], name)
        return super().__getattr__(name)

    def model_dump(self, **kwargs) -> dict[str, Any]:
        """The validated options (paths resolved against the recipe), as the stage key and the slices
        of a partitioned stage read them back."""
        return {**self.block_config.model_dump(**kwargs), "type": self.type}


def load_block(name: str, kind: str, base: type, base_dir: Path | None = None, builtin: tuple[str, ...] = ()) -> type:
    """The class a plugin `type:` names: `module:Class`, or an entry point an installed package registers."""
    if ":" in name:
        cls = import_object(name, base_dir)
    else:
        found = registered(kind)
        if name not in found:
            raise ValueError(f"unknown {kind} type {name!r}; built-in: {', '.join(builtin)}; a class of your own is "
                             "named 'module:Class' "
                             f"(e.g. 'my_{kind}s:My{kind.title()}'), an installed one by its "
                             f"{GROUPS[kind]} entry point ({', '.join(sorted(found)) or 'none installed'})")
        try:
            cls = found[name].load()
        except Exception as e:
            raise ValueError(f"loading the {GROUPS[kind]} entry point {name!r} ({found[name].value}) failed: "
                             f"{type(e).__name__}: {e}") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ValueError(f"{name!r} is not a {base.__name__} subclass (a {kind} class with a Config and a docstring)")
    if not (isinstance(getattr(cls, "Config", None), type) and issubclass(cls.Config, BaseModel)):
        raise ValueError(f"{name!r} has no Config (a pydantic model of its options)")
    return cls


def plugin_union(classes: list[type], kind: str, base: type) -> Any:
    """The classes' configs (picked by `type:`, as `registry.config_union`), plus a plugin block for
    any other `type:`."""
    from prefdata.registry import config_union

    config_union(classes)  # each class's Config is tagged with its name
    names = {cls.name for cls in classes}
    plugin = type(f"{kind.title()}PluginConfig", (PluginConfig,), {
        "kind": kind, "base": base, "builtin": tuple(cls.name for cls in classes), "__module__": __name__,
        "__doc__": f"A {kind} of the user's own: `type: module:Class` or an entry point."})

    def tag(value: Any) -> str:
        name = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return name if name in names else "plugin"

    members = [Annotated[cls.Config, Tag(cls.name)] for cls in classes]
    return Annotated[Union[tuple([*members, Annotated[plugin, Tag("plugin")]])], Discriminator(tag)]
