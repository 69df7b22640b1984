"""What an Argilla dataset for preference labelling looks like, and the recipe section that shapes it.

    argilla:                     # recipe section (prefdata/recipe.py), used by `prefdata argilla push`
      dataset: hh-round-1
      question: ranking          # or `rating`: one 1..rating_scale question per response
      rationale: true            # optional free-text "why" question
      min_submitted: 2           # task distribution: annotators per record
      max_candidates: 4          # response fields; default: the most candidates any prompt has
      budget: 200                # push only the 200 prompts the machines are least sure of (or 0.2: a share)
      select: margin             # margin | disagreement | swap | implicit_margin | random (prefdata/selection/budget.py)

    from prefdata.argilla.settings import ArgillaConfig, dataset_spec
    spec = dataset_spec(ArgillaConfig(), n_responses=4)   # fields / questions / metadata / distribution

The spec is plain JSON in the server's own API shapes, so the same dict creates a dataset
and is compared with an existing one (a name clash with other settings is an error).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from prefdata.config import StrictModel

DEFAULT_GUIDELINES = (
    "Read the prompt, then judge the responses to it.\n\n"
    "- **Ranking**: put the best response first. Ties are allowed when two responses are equally good.\n"
    "- **Rating**: rate each response on its own, higher is better.\n\n"
    "Prefer responses that are helpful, correct and harmless; length alone is not a merit. "
    "The order of the responses is shuffled: it says nothing about their source."
)


class ArgillaConfig(StrictModel):
    dataset: str | None = Field(None, description="Dataset name in Argilla; the CLI's --dataset wins.")
    workspace: str = Field("argilla", description="Workspace that holds the dataset (created if missing).")
    question: Literal["ranking", "rating"] = Field(
        "ranking", description="ranking: one RankingQuestion over all responses; rating: one RatingQuestion per response."
    )
    rating_scale: int = Field(5, ge=2, le=10, description="Ratings run 1..rating_scale (rating questions only).")
    rationale: bool = Field(True, description="Add an optional free-text rationale question.")
    min_submitted: int = Field(1, ge=1, description="Task distribution: submitted responses that complete a record.")
    max_candidates: int | None = Field(
        None, ge=2, le=50, description="Response fields in the dataset; default: the most candidates any prompt has."
    )
    shuffle: bool = Field(True, description="Shuffle each prompt's responses (seeded by prompt_id) against position bias.")
    suggestions_from: str | None = Field(
        None, description="judge_id whose labels become suggestions; default: the aggregate, else the only judge."
    )
    budget: float | None = Field(
        None, gt=0, description="Push only this many prompts (>= 1) or this share of them (< 1), chosen by `select`; "
        "default: every prompt.")
    select: Literal["margin", "disagreement", "swap", "implicit_margin", "random"] = Field(
        "margin", description="How `budget` picks prompts: smallest judge margin, judges' disagreement, pairwise "
        "verdicts that flip with the order, smallest DPO implicit margin of the judges' pair under `policy`, "
        "or random (seeded by select_seed).")
    select_seed: int = Field(0, description="Seed of `select: random`.")
    policy: str | None = Field(None, description="select implicit_margin: the current policy's model folder.")
    reference: str | None = Field(None, description="select implicit_margin: its DPO reference's model folder.")
    beta: float = Field(0.1, gt=0, description="select implicit_margin: the DPO beta of the margin.")
    batch_size: int = Field(100, ge=1, le=500, description="Records per bulk upsert request.")
    guidelines: str = Field(DEFAULT_GUIDELINES, description="Annotation guidelines shown in the UI (markdown).")

    @model_validator(mode="after")
    def _rating_scale_only_for_rating(self):
        # The default value is allowed: a resolved recipe (RUN_DIR/recipe.resolved.yaml) spells out every key.
        default = type(self).model_fields["rating_scale"].default
        if self.question == "ranking" and "rating_scale" in self.model_fields_set and self.rating_scale != default:
            raise ValueError(
                f"rating_scale ({self.rating_scale}) applies to question: rating, but question is {self.question!r}"
            )
        return self

    @model_validator(mode="after")
    def _models_for_implicit_margin(self):
        missing = [k for k in ("policy", "reference") if getattr(self, k) is None]
        if self.budget is not None and self.select == "implicit_margin" and missing:
            raise ValueError(f"select implicit_margin scores the judges' pairs with a policy and its reference: "
                             f"set argilla.{' and argilla.'.join(missing)} (model folders)")
        return self


def response_field(i: int) -> str:
    """Name of the i-th (1-based) response field, also the ranking option value."""
    return f"response_{i}"


def rating_question(i: int) -> str:
    return f"rating_{i}"


def dataset_spec(config: ArgillaConfig, n_responses: int) -> dict:
    """Fields, questions, metadata properties and distribution of the dataset, in API shapes."""
    fields = [{"name": "prompt", "title": "Prompt", "required": True,
               "settings": {"type": "text", "use_markdown": True}}]
    for i in range(1, n_responses + 1):
        # Only two responses are required: a prompt with fewer candidates leaves the rest empty.
        fields.append({"name": response_field(i), "title": f"Response {i}", "required": i <= 2,
                       "settings": {"type": "text", "use_markdown": True}})
    if config.question == "ranking":
        options = [{"value": response_field(i), "text": f"Response {i}"} for i in range(1, n_responses + 1)]
        questions = [{"name": "ranking", "title": "Rank the responses (1 = best)", "required": True,
                      "settings": {"type": "ranking", "options": options}}]
    else:
        scale = [{"value": v} for v in range(1, config.rating_scale + 1)]
        questions = [{"name": rating_question(i), "title": f"Rate response {i} (higher is better)",
                      "required": i <= 2, "settings": {"type": "rating", "options": scale}}
                     for i in range(1, n_responses + 1)]
    if config.rationale:
        questions.append({"name": "rationale", "title": "Why? (optional)", "required": False,
                          "settings": {"type": "text", "use_markdown": False}})
    metadata = [{"name": "prompt_chars", "title": "Prompt length (chars)", "settings": {"type": "integer"}}]
    if config.budget is not None:  # an admin sorts by them; annotators never see them (no anchoring)
        metadata += [{"name": "selection_rank", "title": f"Selection rank ({config.select})",
                      "settings": {"type": "integer"}},
                     {"name": "selection_value", "title": f"Selection value ({config.select})",
                      "settings": {"type": "float"}}]
    for i in range(1, n_responses + 1):
        metadata += [
            {"name": f"{response_field(i)}_chars", "title": f"Response {i} length (chars)", "settings": {"type": "integer"}},
            {"name": f"{response_field(i)}_model", "title": f"Response {i} model", "settings": {"type": "terms"}},
            {"name": f"{response_field(i)}_judge_score", "title": f"Response {i} judge score",
             "settings": {"type": "float"}},
        ]
    for m in metadata:
        m["visible_for_annotators"] = False  # lengths, models and judge scores would bias annotators
    return {
        "guidelines": config.guidelines,
        "distribution": {"strategy": "overlap", "min_submitted": config.min_submitted},
        "fields": fields,
        "questions": questions,
        "metadata_properties": metadata,
    }


def _field_key(f: dict) -> tuple:
    return (f["name"], f["settings"]["type"], bool(f.get("required")))


def _question_key(q: dict) -> tuple:
    options = tuple(str(o.get("value")) for o in q["settings"].get("options") or [])
    return (q["name"], q["settings"]["type"], options)


def _metadata_key(m: dict) -> tuple:
    return (m["name"], m["settings"]["type"])


def spec_differences(wanted: dict, existing: dict) -> list[str]:
    """Human-readable differences between two specs (empty when the dataset can be reused)."""
    problems = []
    for what, key in (("fields", _field_key), ("questions", _question_key), ("metadata_properties", _metadata_key)):
        want = {k[0]: k for k in map(key, wanted[what])}
        have = {k[0]: k for k in map(key, existing[what])}
        for name in sorted(set(want) | set(have)):
            if want.get(name) != have.get(name):
                problems.append(f"{what} {name!r}: recipe wants {want.get(name)}, dataset has {have.get(name)}")
    w, h = wanted["distribution"]["min_submitted"], existing["distribution"]["min_submitted"]
    if w != h:
        problems.append(f"distribution min_submitted: recipe wants {w}, dataset has {h}")
    return problems
