"""`sample.dynamic`: how far dynamic sampling may go (prefdata/dynamic/)."""

from __future__ import annotations

from pydantic import Field

from prefdata.config import StrictModel


class DynamicConfig(StrictModel):
    max_per_prompt: int = Field(
        ge=2, description="Candidates one prompt may have over all rounds and models; a round adds k per model.")
    budget: int | None = Field(
        None, ge=1, description="Candidates the whole run may sample, the first round included (None: only "
        "max_per_prompt limits it). When a round does not fit, the prompts with the fewest candidates go first.")
