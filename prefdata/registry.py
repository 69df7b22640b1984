"""One registry pattern for the pluggable blocks (filters, judges, importers): a list of classes.

    FILTERS = [GapFilter, QualityFilter, LengthFilter]       # in prefdata/filters/__init__.py
    FilterStepConfig = config_union(FILTERS)                  # the recipe's `type:` picks the class
    lookup(FILTERS, "gap", "filter")                          # GapFilter
    catalog(FILTERS)                                          # [("gap", "Keep pairs whose ...")] for CLI help

Each class carries everything about itself: `name` (the `type:` that picks it in a recipe,
or the `--format` name of an importer), `Config` (a pydantic model whose `type` field is
`Literal[name]`) and a docstring whose first line says what it does. The package's list
names each class once, so a new built-in block is one module plus one line in that list;
blocks from outside the package (`module:Class`, entry points) go through prefdata/plugins.py,
which adds them to these unions. Samplers are picked by `backend` (their configs are the
list, `prefdata/backends/__init__.py`) and pairing strategies by name (prefdata/pairing/strategy.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field


def config_union(classes: list[type]) -> Any:
    """The tagged union of the classes' `Config` models, discriminated by their `type` field."""
    for cls in classes:
        tag = cls.Config.model_fields["type"].default
        if tag != cls.name:
            raise TypeError(f"{cls.__name__}.Config has type {tag!r} but the class is named {cls.name!r}; "
                            "make them equal (the recipe's `type:` picks the class by name)")
    return Annotated[Union[tuple(cls.Config for cls in classes)], Field(discriminator="type")]


def lookup(classes: list[type], name: str, what: str) -> type:
    """The class called `name`; a KeyError listing the known names otherwise."""
    for cls in classes:
        if cls.name == name:
            return cls
    raise KeyError(f"unknown {what} {name!r}; known: {', '.join(cls.name for cls in classes)}")


def summary(cls: type) -> str:
    """The first line of the class's docstring."""
    return (cls.__doc__ or "").strip().splitlines()[0] if (cls.__doc__ or "").strip() else ""


def catalog(classes: list[type]) -> list[tuple[str, str]]:
    """(name, first docstring line) per class, for CLI help and listings."""
    return [(cls.name, summary(cls)) for cls in classes]
