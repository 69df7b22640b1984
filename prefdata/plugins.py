"""Blocks from the user's own code: `type: my_module:MyClass` in a recipe, or a name that an
installed package registers as an entry point.

    filter:
      steps:
        - {type: quality}
        - {type: "my_filters:AboveMedianMargin", keep: 0.5}   # my_filters.py beside the recipe

    # an installed package's pyproject.toml
    [project.entry-points."prefdata.filters"]
    above_median = "my_pkg.filters:AboveMedianMargin"          # then: {type: above_median}

Every kind of block takes one (the key that names it, the base class, the entry-point group):

    filter    filter.steps[].type              Filter          prefdata.filters
    judge     label.judges[].type              Judge           prefdata.judges
    sampler   sample.models[].backend          Sampler         prefdata.samplers     (also an LLM judge's sampler)
    pairing   pair.strategy (or .type)         PairingStrategy prefdata.pairing
    importer  prefdata import --format         Importer        prefdata.importers

The class is a subclass of the block's base class with a `Config` model (importers take
none: their options are the CLI's); the other keys are validated by that `Config` at load,
and its errors are reported with the recipe's others. A module beside the recipe imports
without PYTHONPATH: the recipe's folder is searched first, as for its relative paths (and
on Ray workers, which get the same folders). The class's source file is part of the stage
key, so an edited plugin re-runs its stage.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, ClassVar, Union

from pydantic import (
    BaseModel, ConfigDict, Discriminator, PrivateAttr, SerializationInfo, Tag, ValidationError, ValidationInfo,
    create_model, model_serializer, model_validator,
)

GROUPS = {"filter": "prefdata.filters", "judge": "prefdata.judges", "sampler": "prefdata.samplers",
          "pairing": "prefdata.pairing", "importer": "prefdata.importers"}
_SEARCHED: list[str] = []  # folders import_object put on sys.path (recipe folders), for Ray workers


def search_paths() -> list[str]:
    """The recipe folders plugins were imported from: a Ray task puts them on its worker's sys.path."""
    return list(_SEARCHED)


def add_search_paths(paths: list[str]) -> None:
    for path in paths:
        if path not in sys.path:
            sys.path.insert(0, path)


def import_object(spec: str, base_dir: Path | None = None) -> Any:
    """`package.module:attribute` -> the attribute, the recipe's folder searched first; ValueError
    with the fix if it fails."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{spec!r} is not 'module:attribute' (e.g. 'my_pkg.judges:score')")
    if base_dir is not None:
        add_search_paths([str(base_dir)])
        if str(base_dir) not in _SEARCHED:
            _SEARCHED.append(str(base_dir))
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


class _InProcess:
    """A class registered with `register` from this process (a notebook, a script), shaped like
    the entry point an installed package would declare."""

    def __init__(self, name: str, cls: type):
        self.name, self.cls, self.value = name, cls, f"{cls.__module__}:{cls.__qualname__}"

    def load(self) -> type:
        return self.cls


_REGISTERED: dict[str, dict[str, _InProcess]] = {}


def register(kind: str, name: str, cls: type) -> type:
    """Make `cls` a block of `kind` (filter, judge, sampler, pairing, importer) named `name` in
    recipes built by this process, as an installed package's entry point would: e.g.
    `register("filter", "above_median", AboveMedianMargin)`, then `{type: above_median}`.
    Checked like any plugin when a recipe names it; Ray workers and new processes do not see it
    (use `module:Class` or an entry point there)."""
    if kind not in GROUPS:
        raise ValueError(f"unknown block kind {kind!r}; kinds: {', '.join(GROUPS)}")
    _REGISTERED.setdefault(kind, {})[name] = _InProcess(name, cls)
    return cls


def registered(kind: str) -> dict[str, Any]:
    """name -> entry point of the blocks installed packages (or this process: `register`) register
    for `kind` (filter, judge)."""
    return {**{ep.name: ep for ep in entry_points(group=GROUPS[kind])}, **_REGISTERED.get(kind, {})}


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
    """A block named `module:Class` (or an entry point): its `Config` validates the other keys.

    `plugin_union` makes one subclass per block kind, whose field `key` (`type`, `backend`)
    holds the name."""

    model_config = ConfigDict(extra="allow")
    kind: ClassVar[str]  # set per block kind by plugin_union
    key: ClassVar[str]
    base: ClassVar[type]
    builtin: ClassVar[tuple[str, ...]]
    required: ClassVar[tuple[str, ...]]  # fields the block's Config must have (a sampler's `model`)
    _block: tuple[type, BaseModel] | None = PrivateAttr(None)

    @property
    def block_name(self) -> str:
        """What the recipe names the block by (`module:Class` or the entry point); a property of its
        own, so a plugin's Config may have a `name` option."""
        return getattr(self, self.key)

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo):
        name = self.block_name
        cls = load_block(name, self.kind, self.base, (info.context or {}).get("base_dir"), self.builtin)
        missing = [f for f in self.required if f not in cls.Config.model_fields]
        if missing:
            raise ValueError(f"{name}: its Config has no {', '.join(missing)} field (a {self.kind} needs it)")
        options = {k: v for k, v in (self.model_extra or {}).items() if k != self.key}
        fields = cls.Config.model_fields
        unknown = sorted(set(options) - set(fields) - {f.alias for f in fields.values() if f.alias})
        if unknown and cls.Config.model_config.get("extra") != "allow":  # a typo is an error, never ignored
            raise ValueError(f"{name}: unknown option(s) {', '.join(unknown)}; its Config has "
                             f"{', '.join(f for f in fields if f != self.key) or 'none'}")
        if self.key in fields:
            options[self.key] = name
        try:
            config = cls.Config.model_validate(options, context=info.context)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'config'}: {err['msg']}" for err in e.errors())
            raise ValueError(f"{name}: {problems}") from None
        check = getattr(cls, "contract_problem", None)  # e.g. a filter's declared scope and its hooks
        if check is not None and (problem := check(cls(config))) is not None:
            raise ValueError(f"{name}: {problem}")
        self._block = (cls, config)
        return self

    @property
    def block_class(self) -> type:
        return self._block[0]

    @property
    def block_config(self) -> BaseModel:
        return self._block[1]

    def build(self) -> Any:
        """The block: its class called with its validated Config."""
        return self.block_class(self.block_config)

    def __getattr__(self, name: str) -> Any:
        # the block's validated options (a judge's `id`, a `sampler` model) before the raw keys
        private = self.__pydantic_private__ or {}
        block = private.get("_block")
        if block is not None and not name.startswith("_") and name in type(block[1]).model_fields:
            return getattr(block[1], name)
        return super().__getattr__(name)

    @model_serializer(mode="wrap")
    def _validated(self, handler, info: SerializationInfo) -> dict[str, Any]:
        """The validated options (paths resolved against the recipe), wherever the block is dumped,
        alone or inside its section: what the stage key holds and what a partition on a Ray worker
        validates again (without the recipe's folder)."""
        if self._block is None:
            return handler(self)
        return {**self.block_config.model_dump(mode=info.mode, exclude=info.exclude), self.key: self.block_name}


def load_block(name: str, kind: str, base: type, base_dir: Path | None = None, builtin: tuple[str, ...] = (),
               config: bool = True) -> type:
    """The class a plugin `type:` names: `module:Class`, or an entry point an installed package registers."""
    if ":" in name:
        cls = import_object(name, base_dir)
    else:
        found = registered(kind)
        if name not in found:
            raise ValueError(f"unknown {kind} {name!r}; built-in: {', '.join(builtin)}; a class of your own is "
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
    if config and not (isinstance(getattr(cls, "Config", None), type) and issubclass(cls.Config, BaseModel)):
        raise ValueError(f"{name!r} has no Config (a pydantic model of its options)")
    return cls


def plugin_union(classes: list[type], kind: str, base: type) -> Any:
    """The classes' configs (picked by `type:`, as `registry.config_union`), plus a plugin block for
    any other `type:`."""
    from prefdata.registry import config_union

    config_union(classes)  # each class's Config is tagged with its name
    return tagged_union({cls.name: cls.Config for cls in classes}, kind, base)


def tagged_union(configs: dict[str, type[BaseModel]], kind: str, base: type, key: str = "type",
                 required: tuple[str, ...] = ()) -> Any:
    """The built-in configs, picked by the value of `key`, plus a plugin block for any other value."""
    plugin = plugin_config(kind, base, key, tuple(configs), required)

    def tag(value: Any) -> str:
        name = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
        return name if name in configs else "plugin"

    members = [Annotated[config, Tag(name)] for name, config in configs.items()]
    return Annotated[Union[tuple([*members, Annotated[plugin, Tag("plugin")]])], Discriminator(tag)]


def plugin_config(kind: str, base: type, key: str = "type", builtin: tuple[str, ...] = (),
                  required: tuple[str, ...] = ()) -> type[PluginConfig]:
    """The PluginConfig subclass of one block kind: its name in the field `key`."""
    classvars = type(f"_{kind.title()}Plugin", (PluginConfig,), {
        "kind": kind, "key": key, "base": base, "builtin": builtin, "required": required, "__module__": __name__})
    return create_model(f"{kind.title()}PluginConfig", __base__=classvars, __module__=__name__,
                        __doc__=f"A {kind} of the user's own: `{key}: module:Class` or an entry point.",
                        **{key: (str, ...)})


def plugin_files(config: Any) -> list[Path]:
    """The source files of every plugin block in a config tree (part of its stage's key)."""
    found: list[Path] = []
    if isinstance(config, PluginConfig):
        found.append(source_file(config.block_class))
        config = config.block_config
    if isinstance(config, BaseModel):
        for name in type(config).model_fields:
            found += plugin_files(getattr(config, name))
    elif isinstance(config, (list, tuple)):
        for item in config:
            found += plugin_files(item)
    elif isinstance(config, dict):
        for item in config.values():
            found += plugin_files(item)
    return [f for f in dict.fromkeys(found) if f is not None]
