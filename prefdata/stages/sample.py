"""The `sample` stage (placeholder: its owner replaces this module)."""

from prefdata.config import StrictModel


class SampleConfig(StrictModel):
    pass
