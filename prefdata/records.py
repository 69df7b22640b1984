"""Record models, one per stage boundary.

    from prefdata.records import DPOExample
    DPOExample.model_validate({"prompt": [{"role": "user", "content": "2+2?"}],
                               "chosen": [{"role": "assistant", "content": "4"}],
                               "rejected": [{"role": "assistant", "content": "5"}],
                               "prompt_id": "p1", "source": "demo"})

prompts -> PromptRecord -> sample -> Candidate -> label -> Judgment -> pair -> PairRecord
-> filter -> PairRecord -> export -> DPOExample (TRL's explicit-prompt format).
Every stage also writes RejectRecord rows for what it drops, and the run a RunManifest.
`schemas/*.json` are generated from these models (`python -m prefdata.schemas`).

The conversation rules (roles, prompt ending with a user turn, one assistant message per
completion) live here only: they raise pydantic errors whose `type` is the reason code a
reject carries (`prompt_not_user_final`, `bad_completion`...) and whose `ctx["field"]` names
the field, so importers and stages turn them into rejects with `prefdata.io.checks`.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

Role = Literal["system", "user", "assistant"]
ParseStatus = Literal["ok", "parse_error", "out_of_range", "invalid_score", "error"]


# who decided a pair (mixed labels: annotators where they answered, judges elsewhere)
Provenance = Literal["human", "judges", "both"]
PAIR_PROVENANCE = get_args(Provenance)

class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(Record):
    role: Role
    content: str


Conversation = list[Message]


class PromptRecord(Record):
    """One prompt: a conversation that ends with a user turn (system turn optional)."""

    prompt_id: str = Field(description="Stable id: hash of the normalized prompt messages.")
    prompt: Conversation = Field(description="Messages, the last one a user turn.")
    source: str = Field(description="Where the prompt came from (file, dataset).")
    source_row: int | None = Field(None, description="1-based line/row in the source.")
    reference: str | None = Field(None, description="Reference answer, for programmatic judges.")
    metadata: str | None = Field(None, description="Free metadata as a JSON object string.")

    @model_validator(mode="after")
    def _ends_with_user(self):
        _check_prompt_messages(self.prompt)
        return self


class Candidate(Record):
    """One sampled response to a prompt."""

    candidate_id: str = Field(description="f'{prompt_id}:{model_index}:{sample_index}'.")
    prompt_id: str
    text: str
    num_tokens: int | None = Field(None, description="Generated tokens.")
    finish_reason: str | None = Field(None, description="'stop' or 'length' (truncated).")
    model: str = Field(description="Model id or path that generated it.")
    backend: str = Field(description="vllm | openai | transformers | ray | imported.")
    seed: int | None = Field(None, description="Request seed; same seed, same text.")
    sampling: str = Field("{}", description="Sampling params as a JSON object string.")
    sample_index: int = Field(0, description="Index among the k samples of this prompt/model.")


class Judgment(Record):
    """One label of one candidate, from any source: judge, human, or imported data."""

    judgment_id: str
    prompt_id: str
    candidate_id: str
    judge_id: str = Field(description="Name of the judge in the recipe (or annotator set).")
    # A judge class's `judge_type` (prefdata/judges/__init__.py lists them), or a label source
    # that is no judge: human, imported, aggregate. Free text so a new judge is one module.
    judge_type: str = Field(description="reward_model, llm_pointwise, llm_pairwise, programmatic (the judge "
                            "classes' judge_type), or human, imported, aggregate.")
    model: str | None = Field(None, description="Judge model, if any.")
    template_hash: str | None = Field(None, description="sha256 of the judge template used.")
    score: float | None = Field(None, description="Higher is better; None when no label.")
    rank: int | None = Field(None, description="1 = best, for ranking labels.")
    raw_output: str | None = Field(None, description="The judge's raw text, for audits.")
    parse_status: ParseStatus = "ok"
    reason: str | None = Field(None, description="Why the label is missing or suspect.")
    annotator: str | None = Field(None, description="Human annotator id (Argilla user).")
    aspects: str | None = Field(None, description="Per-aspect ratings as a JSON object string.")
    opponent_id: str | None = Field(None, description="Other candidate, for pairwise judges.")
    swap_consistent: bool | None = Field(None, description="Pairwise verdict same in both orders.")
    provenance: Literal["human", "judges"] | None = Field(
        None, description="Mixed labels (label.source: mixed): from the annotators or from the judges.")


class PairRecord(Record):
    """A chosen/rejected pair for one prompt, with the evidence that decided it."""

    pair_id: str
    prompt_id: str
    prompt: Conversation
    chosen: str
    rejected: str
    chosen_id: str
    rejected_id: str
    chosen_score: float
    rejected_score: float
    margin: float = Field(description="chosen_score - rejected_score, > 0.")
    label_source: str = Field(description="Judge id(s) or 'human' that produced the scores.")
    strategy: str = Field(description="Pairing strategy that formed the pair.")
    chosen_finish_reason: str | None = None
    rejected_finish_reason: str | None = None
    chosen_tokens: int | None = None
    rejected_tokens: int | None = None
    swap_consistency: float | None = Field(None, description="Share of swap-consistent verdicts.")
    agreement: float | None = Field(None, description="Judge/annotator agreement on this pair.")
    provenance: Provenance | None = Field(
        None, description="Mixed labels: the annotators decided it (human), the judges did (judges), or "
        "the annotators decided it and the judges order it the same way (both).")


class DPOExample(Record):
    """TRL's explicit-prompt preference example plus provenance columns.

    Standard: prompt/chosen/rejected are strings. Conversational: prompt is a list of
    messages ending with a user turn, chosen/rejected one assistant message each.
    """

    prompt: str | Conversation
    chosen: str | Conversation
    rejected: str | Conversation
    prompt_id: str
    chosen_score: float | None = None
    rejected_score: float | None = None
    margin: float | None = None
    source: str = Field(description="Dataset or run the example came from.")
    provenance: Provenance | None = Field(
        None, description="Who decided the pair: annotators (human), judges, or annotators with the judges "
        "ordering it the same way (both); null for imported data that does not say.")

    @model_validator(mode="after")
    def _one_format(self):
        if isinstance(self.prompt, list):
            _check_prompt_messages(self.prompt)
        for name in ("chosen", "rejected"):
            if isinstance(getattr(self, name), str) != isinstance(self.prompt, str):
                raise _problem("mixed_format", name, "prompt, chosen and rejected must be all strings or all "
                               "message lists ({field} is not like the prompt)")
        if isinstance(self.prompt, list):
            for name in ("chosen", "rejected"):
                roles = [m.role for m in getattr(self, name)]
                if roles != ["assistant"]:
                    raise _problem("bad_completion", name, "{field} must be exactly one assistant message, "
                                   f"got roles {roles}")
        return self


class RejectRecord(Record):
    """One dropped input row and why; kept + rejected = input at every stage."""

    stage: str
    reason: str = Field(description="Reason code, e.g. 'tie', 'empty_chosen', 'bad_json'.")
    message: str = Field(description="Human-readable explanation with the fix.")
    row: int | None = Field(None, description="1-based line/row in the stage input or source.")
    row_id: str | None = Field(None, description="Id of the dropped row (prompt_id, pair_id...).")
    field: str | None = Field(None, description="Field that decided it.")
    values: str | None = Field(None, description="Deciding values as a JSON object string.")
    source: str | None = Field(None, description="Input file or artifact.")


class StageManifest(Record):
    name: str
    key: str = Field(description="Content hash of the stage's fingerprint (config, named files and model "
                     "directories, code, engine versions), input hashes and seed: unchanged key -> not re-run.")
    unit: str = Field("rows", description="What rows_in counts (prompts, candidates, pairs).")
    config_hash: str
    input_hashes: dict[str, str]
    output_hash: str
    rows_in: int
    rows_kept: int = Field(validation_alias=AliasChoices("rows_kept", "rows_out"))  # rows_out: run dirs written before the rename
    dropped: dict[str, int] = Field(description="Dropped rows by reason code.")
    seconds: float
    skipped: bool = Field(False, description="True when reused from an earlier run.")
    engines: dict[str, str] = Field(default_factory=dict, description="Versions of the engines that generated "
                                    "or scored (vllm, transformers, torch); part of the key.")
    stats: str = Field("{}", description="Stage statistics as a JSON object string.")


class RunManifest(Record):
    prefdata_version: str
    recipe: str
    config_hash: str
    package_versions: dict[str, str]
    stages: list[StageManifest]
    created_at: str


def _problem(reason: str, field: str, message: str) -> PydanticCustomError:
    """A validation error whose type is a reject's reason code and whose ctx names the field."""
    return PydanticCustomError(reason, message, {"field": field})  # "{field}" in message names it


def _check_prompt_messages(messages: list[Message]) -> None:
    if not messages:
        raise _problem("empty_prompt", "prompt", "the prompt has no messages")
    if any(m.role == "system" for m in messages[1:]):
        raise _problem("misplaced_system", "prompt", "a system message may only come first in the prompt")
    if messages[-1].role != "user":
        raise _problem("prompt_not_user_final", "prompt",
                       f"the prompt must end with a user turn, ends with {messages[-1].role!r}")


RECORD_MODELS: dict[str, type[Record]] = {
    "prompt": PromptRecord,
    "candidate": Candidate,
    "judgment": Judgment,
    "pair": PairRecord,
    "dpo_example": DPOExample,
    "reject": RejectRecord,
    "run_manifest": RunManifest,
}
