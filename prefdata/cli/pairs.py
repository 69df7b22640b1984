"""Commands registered on the prefdata app (filled in by its area)."""

from prefdata.cli._app import app  # noqa: F401
