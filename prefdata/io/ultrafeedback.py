"""UltraFeedback-style rows (one prompt, several rated completions) -> prompts, candidates, judgments.

    from prefdata.io.ultrafeedback import read
    result = read("ultrafeedback.jsonl")
    result.candidates, result.judgments      # Candidate / Judgment dicts for the pair stage
    result.examples                          # best-vs-worst pairs, ready for TRL

Accepted row shapes: openbmb/UltraFeedback (`instruction`, `completions[*].response`,
`overall_score`, `fine-grained_score`, `annotations.<aspect>.Rating`) and the plain variant
(`prompt` as a string or message list, `completions`/`responses` with `response`/`text` and
`score`/`rating`). The score of a completion is the first present of `score_fields`
(default: overall_score, fine-grained_score, score, rating), else the mean of its
annotation ratings; "N/A" ratings give a judgment with `parse_status="invalid_score"`.

Every rated completion becomes a Candidate plus a Judgment (judge_type "imported"), so the
pair stage can apply any pairing strategy. For a directly trainable dataset, each prompt
also yields one best-vs-worst pair; a prompt whose scores are all equal (or with fewer
than two scores) yields candidates but no pair, and is recorded as a reject
(`no_preference` / `too_few_scored`), so kept + rejected = input rows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from prefdata.io.checks import build_example, messages
from prefdata.io.common import Collector, Importer, ImportResult
from prefdata.io.rows import RowProblem, read_rows
from prefdata.io.ids import prompt_id

SCORE_FIELDS = ("overall_score", "fine-grained_score", "score", "rating")
TEXT_FIELDS = ("response", "text", "content", "completion")
JUDGE_ID = "ultrafeedback"


def _number(value) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _prompt(data: dict) -> list[dict]:
    for key in ("prompt", "instruction"):
        value = data.get(key)
        if isinstance(value, str):
            return [{"role": "user", "content": value}]
        if isinstance(value, list):
            return messages(value, key)
        if value is not None:
            raise RowProblem("bad_type", key, f"field {key!r} must be a string or a message list, got {type(value).__name__}")
    raise RowProblem("missing_field", "prompt", "missing field 'prompt' (or 'instruction')")


def _completions(data: dict) -> tuple[str, list]:
    for key in ("completions", "responses"):
        value = data.get(key)
        if isinstance(value, list):
            return key, value
        if value is not None:
            raise RowProblem("bad_type", key, f"field {key!r} must be a list of completions, got {type(value).__name__}")
    raise RowProblem("missing_field", "completions", "missing field 'completions' (a list of rated responses)")


def _aspects(completion: dict) -> dict[str, float | None]:
    annotations = completion.get("annotations")
    if not isinstance(annotations, dict):
        return {}
    out = {}
    for aspect, value in annotations.items():
        rating = value.get("Rating") if isinstance(value, dict) else value
        out[str(aspect)] = _number(rating)
    return out


def _score(completion: dict, score_fields: tuple[str, ...], aspects: dict) -> tuple[float | None, str | None]:
    for key in score_fields:
        if completion.get(key) is not None:
            score = _number(completion[key])
            return score, None if score is not None else f"{key}={completion[key]!r} is not a number"
    rated = [v for v in aspects.values() if v is not None]
    if rated:
        return sum(rated) / len(rated), None
    return None, "no score field and no numeric annotation rating"


class _Reader:
    def __init__(self, result: ImportResult, source: str, score_fields: tuple[str, ...]):
        self.result, self.source, self.score_fields = result, source, score_fields
        self.result.prompts, self.result.candidates, self.result.judgments = [], [], []
        self.first_line: dict[str, int] = {}

    def parse(self, data: dict, line: int) -> dict:
        prompt = _prompt(data)
        key, completions = _completions(data)
        pid = prompt_id(prompt)
        if pid in self.first_line:
            raise RowProblem("duplicate_prompt", "prompt", f"same prompt as line {self.first_line[pid]} (prompt_id {pid}); "
                             "merge their completions into one row")
        if not prompt or prompt[-1]["role"] != "user" or not prompt[-1]["content"].strip():
            raise RowProblem("empty_prompt", "prompt", "the prompt is empty or does not end with a user turn")
        rated = []
        for i, completion in enumerate(completions):
            if not isinstance(completion, dict):
                raise RowProblem("bad_type", key, f"{key}[{i}] must be an object")
            text = next((completion[f] for f in TEXT_FIELDS if isinstance(completion.get(f), str)), None)
            if text is None:
                raise RowProblem("missing_field", key, f"{key}[{i}] has no response text ({'/'.join(TEXT_FIELDS)})")
            aspects = _aspects(completion)
            score, problem = _score(completion, self.score_fields, aspects)
            rated.append((i, completion, text, aspects, score, problem))
        self.first_line[pid] = line
        self._emit(pid, prompt, data, line, rated)
        return self._best_vs_worst(pid, prompt, rated)

    def _emit(self, pid: str, prompt: list, data: dict, line: int, rated: list) -> None:
        meta = {k: data[k] for k in ("source", "id") if isinstance(data.get(k), (str, int))}
        self.result.prompts.append({"prompt_id": pid, "prompt": prompt, "source": self.source, "source_row": line,
                                    "reference": None, "metadata": json.dumps(meta) if meta else None})
        for i, completion, text, aspects, score, problem in rated:
            cid = f"{pid}:{i}:0"
            model = completion.get("model") if isinstance(completion.get("model"), str) else "unknown"
            self.result.candidates.append({"candidate_id": cid, "prompt_id": pid, "text": text, "num_tokens": None,
                                           "finish_reason": None, "model": model, "backend": "imported", "seed": None,
                                           "sampling": "{}", "sample_index": 0})
            self.result.judgments.append({
                "judgment_id": f"{cid}:{JUDGE_ID}", "prompt_id": pid, "candidate_id": cid, "judge_id": JUDGE_ID,
                "judge_type": "imported", "model": None, "template_hash": None, "score": score, "rank": None,
                "raw_output": None, "parse_status": "ok" if score is not None else "invalid_score", "reason": problem,
                "annotator": None, "aspects": json.dumps(aspects) if aspects else None, "opponent_id": None,
                "swap_consistent": None})

    def _best_vs_worst(self, pid: str, prompt: list, rated: list) -> dict:
        scored = [(score, i, text) for i, _, text, _, score, _ in rated if score is not None]
        if len(scored) < 2:
            raise RowProblem("too_few_scored", "completions", f"{len(scored)} scored completion(s); a pair needs two")
        best = max(scored, key=lambda s: (s[0], -s[1]))
        worst = min(scored, key=lambda s: (s[0], s[1]))
        if best[0] == worst[0]:
            raise RowProblem("no_preference", "completions", f"every completion scored {best[0]}: no preference")
        extra = {"prompt_id": pid, "chosen_score": best[0], "rejected_score": worst[0],
                 "margin": best[0] - worst[0], "source": self.source}
        return build_example(prompt, [{"role": "assistant", "content": best[2]}],
                             [{"role": "assistant", "content": worst[2]}], extra)


def read(path: str | Path, *, source: str | None = None, score_fields: tuple[str, ...] = SCORE_FIELDS) -> ImportResult:
    path = Path(path)
    result = ImportResult(format="ultrafeedback", source=str(path))
    reader = _Reader(result, source or path.name, tuple(score_fields))
    return Collector(result).run(read_rows(path), reader.parse)


def looks_like(row: dict) -> bool:
    return isinstance(row.get("completions"), list) or isinstance(row.get("responses"), list)


class UltraFeedback(Importer):
    """UltraFeedback-style rows: one prompt, several rated `completions` (-> candidates + judgments too)."""

    name = "ultrafeedback"
    looks_like = staticmethod(looks_like)
    read = staticmethod(read)
