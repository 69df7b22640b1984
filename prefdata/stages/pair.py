"""The `pair` stage (placeholder: its owner replaces this module)."""

from prefdata.config import StrictModel


class PairConfig(StrictModel):
    pass
