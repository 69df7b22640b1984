"""The `prompts` stage (placeholder: its owner replaces this module)."""

from prefdata.config import StrictModel


class PromptsConfig(StrictModel):
    pass
