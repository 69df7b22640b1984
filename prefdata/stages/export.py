"""The `export` stage (placeholder: its owner replaces this module)."""

from prefdata.config import StrictModel


class ExportConfig(StrictModel):
    pass
