"""The `label` stage (placeholder: its owner replaces this module)."""

from prefdata.config import StrictModel


class LabelConfig(StrictModel):
    pass
