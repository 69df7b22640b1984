"""The `filter` stage (placeholder: its owner replaces this module)."""

from prefdata.config import StrictModel


class FilterConfig(StrictModel):
    pass
