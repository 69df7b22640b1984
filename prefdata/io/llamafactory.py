"""LLaMA-Factory ranking rows (alpaca and sharegpt formatting) <-> DPO examples, both ways.

    from prefdata.io.llamafactory import read, sharegpt_row
    result = read("../shared/data/llamafactory/dpo_en_demo.json",
                  dataset_info="../shared/data/llamafactory/dataset_info.json", name="dpo_en_demo")
    sharegpt_row(result.examples[0])     # {"conversations": [{"from": "human", ...}], "chosen": {...}, ...}

Semantics follow LLaMA-Factory 0.9's `parser.py` + `converter.py` so a file means the same
thing here as there:
- The `dataset_info.json` entry gives `formatting` (alpaca | sharegpt, default alpaca),
  `columns` and, for sharegpt, `tags`. As in LLaMA-Factory, a `columns` (or `tags`) object
  replaces the defaults wholesale: a key it leaves out is unset, not defaulted.
- sharegpt: a first message whose role is `system_tag` becomes the system prompt (else the
  `system` column); the remaining turns must alternate user/assistant and end on a user
  turn; `chosen`/`rejected` are single assistant messages (objects).
- alpaca: the user turn is `prompt` + "\\n" + `query` (each when non-empty), after the
  `history` pairs; `chosen`/`rejected` are strings; `system` comes from its column.
Where LLaMA-Factory silently skips a broken row (it logs a warning), we reject it with a
reason. The system prompt is kept as the first message of the conversational prompt.
Rows may also carry prefdata's provenance keys (prompt_id, scores, margin, source, provenance), which
`prefdata export --format llamafactory` writes (with `sharegpt_row` / `alpaca_row` and
`dataset_info_entry`, from the same `DatasetAttr` defaults) so that export -> import round-trips.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from prefdata.errors import DataError
from prefdata.io.checks import build_example, provenance
from prefdata.io.common import PROVENANCE, Collector, Importer, ImportResult
from prefdata.io.rows import RowProblem, read_rows

COLUMN_KEYS = ("system", "tools", "images", "chosen", "rejected", "kto_tag")
ALPACA_KEYS = ("prompt", "query", "response", "history")
TAG_KEYS = ("role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag")


@dataclass
class DatasetAttr:
    """The parts of LLaMA-Factory's DatasetAttr that matter for ranking data.

    Same defaults as LLaMA-Factory 0.9.5, except that chosen/rejected default to the columns
    "chosen"/"rejected" when no dataset_info.json is given (LLaMA-Factory has no default).
    """

    formatting: str = "sharegpt"
    ranking: bool = True
    file_name: str | None = None
    system: str | None = None
    chosen: str | None = "chosen"
    rejected: str | None = "rejected"
    prompt: str | None = "instruction"
    query: str | None = "input"
    history: str | None = None
    messages: str | None = "conversations"
    role_tag: str | None = "from"
    content_tag: str | None = "value"
    user_tag: str | None = "human"
    assistant_tag: str | None = "gpt"
    observation_tag: str | None = "observation"
    function_tag: str | None = "function_call"
    system_tag: str | None = "system"


def load_dataset_info(path: str | Path, name: str | None) -> DatasetAttr:
    """Read one entry of a dataset_info.json; errors name the file and the entry."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such dataset_info.json. Pass --dataset-info FILE --name ENTRY.")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: line {e.lineno}: not valid JSON ({e.msg}).") from None
    if not isinstance(info, dict) or not info:
        raise DataError(f"{path}: expected an object mapping dataset names to entries.")
    if name is None:
        if len(info) != 1:
            raise DataError(f"{path}: holds {len(info)} datasets ({', '.join(info)}); choose one with --name.")
        name = next(iter(info))
    if name not in info:
        raise DataError(f"{path}: no dataset named {name!r}; it defines: {', '.join(info)}.")
    return attr_from_entry(info[name], f"{path} [{name}]")


def attr_from_entry(entry: dict, where: str) -> DatasetAttr:
    if not isinstance(entry, dict):
        raise DataError(f"{where}: the entry must be an object.")
    attr = DatasetAttr(formatting=entry.get("formatting", "alpaca"), ranking=bool(entry.get("ranking", False)),
                       file_name=entry.get("file_name"))
    if attr.formatting not in ("alpaca", "sharegpt"):
        raise DataError(f"{where}: formatting {attr.formatting!r} is not supported; use 'alpaca' or 'sharegpt'.")
    if not attr.ranking:
        raise DataError(f"{where}: not a preference dataset (\"ranking\": true is missing); "
                        "only ranking datasets hold chosen/rejected pairs.")
    if attr.formatting == "alpaca":  # LLaMA-Factory's alpaca default has no chosen/rejected columns
        attr.chosen = attr.rejected = None
    columns = entry.get("columns")
    if isinstance(columns, dict):
        keys = COLUMN_KEYS + (ALPACA_KEYS if attr.formatting == "alpaca" else ("messages",))
        for key in keys:
            if hasattr(attr, key):
                setattr(attr, key, columns.get(key))
    tags = entry.get("tags")
    if attr.formatting == "sharegpt" and isinstance(tags, dict):
        for key in TAG_KEYS:
            setattr(attr, key, tags.get(key))
    missing = [k for k in ("chosen", "rejected") if not getattr(attr, k)]
    if missing:
        raise DataError(f"{where}: columns must name {' and '.join(missing)} for a ranking dataset, "
                        'e.g. "columns": {"chosen": "chosen", "rejected": "rejected"}.')
    return attr


def _text(data: dict, key: str | None, what: str, *, required: bool) -> str:
    value = data.get(key) if key else None
    if value is None:
        if required:
            raise RowProblem("missing_field", key, f"missing field {key!r} ({what})")
        return ""
    if not isinstance(value, str):
        raise RowProblem("bad_type", key, f"field {key!r} ({what}) must be a string, got {type(value).__name__}")
    return value


def _system_first(system: str, turns: list[dict]) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + turns


def parse_alpaca(data: dict, attr: DatasetAttr, source: str) -> dict:
    turns = []
    history = data.get(attr.history) if attr.history else None
    if isinstance(history, list):
        for i, pair in enumerate(history):
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
                raise RowProblem("bad_type", attr.history, f"{attr.history}[{i}] must be a [user, assistant] pair of strings")
            turns += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    parts = [_text(data, attr.prompt, "instruction", required=False), _text(data, attr.query, "input", required=False)]
    turns.append({"role": "user", "content": "\n".join(p for p in parts if p)})
    system = _text(data, attr.system, "system prompt", required=False)
    chosen = _text(data, attr.chosen, "chosen response", required=True)
    rejected = _text(data, attr.rejected, "rejected response", required=True)
    return build_example(_system_first(system, turns), [{"role": "assistant", "content": chosen}],
                         [{"role": "assistant", "content": rejected}], provenance(data, source))


def _message(m: object, attr: DatasetAttr, where: str) -> tuple[str, str]:
    if not isinstance(m, dict):
        raise RowProblem("bad_type", where, f"{where} must be an object with {attr.role_tag!r} and {attr.content_tag!r}")
    role, content = m.get(attr.role_tag), m.get(attr.content_tag)
    if not isinstance(content, str):
        raise RowProblem("bad_type", where, f"{where}.{attr.content_tag} must be a string, got {type(content).__name__}")
    return role, content


def parse_sharegpt(data: dict, attr: DatasetAttr, source: str) -> dict:
    msgs = data.get(attr.messages)
    if not isinstance(msgs, list):
        kind = "missing" if msgs is None else type(msgs).__name__
        raise RowProblem("missing_field" if msgs is None else "bad_type",
                         attr.messages, f"field {attr.messages!r} must be a list of messages, got {kind}")
    system = _text(data, attr.system, "system prompt", required=False)
    if attr.system_tag and msgs and isinstance(msgs[0], dict) and msgs[0].get(attr.role_tag) == attr.system_tag:
        system = _message(msgs[0], attr, f"{attr.messages}[0]")[1]
        msgs = msgs[1:]
    expected = ((attr.user_tag, "user"), (attr.assistant_tag, "assistant"))
    turns = []
    for i, m in enumerate(msgs):
        role, content = _message(m, attr, f"{attr.messages}[{i}]")
        tag, mapped = expected[i % 2]
        if role != tag:
            raise RowProblem("unknown_role" if role not in (attr.user_tag, attr.assistant_tag) else "bad_turn_order",
                             attr.messages, f"{attr.messages}[{i}].{attr.role_tag} is {role!r}; turns must alternate "
                             f"{attr.user_tag!r}/{attr.assistant_tag!r} starting with {attr.user_tag!r}")
        turns.append({"role": mapped, "content": content})
    if len(turns) % 2 == 0:
        raise RowProblem("prompt_not_user_final", attr.messages, f"{attr.messages!r} must end with a {attr.user_tag!r} turn")
    completions = []
    for key in (attr.chosen, attr.rejected):
        value = data.get(key)
        if not isinstance(value, dict):
            raise RowProblem("missing_field" if value is None else "bad_type",
                             key, f"field {key!r} must be one {attr.assistant_tag!r} message object")
        role, content = _message(value, attr, key)
        if role != attr.assistant_tag:
            raise RowProblem("bad_completion", key, f"{key}.{attr.role_tag} is {role!r}, expected {attr.assistant_tag!r}")
        completions.append([{"role": "assistant", "content": content}])
    return build_example(_system_first(system, turns), *completions, provenance(data, source))


def read(path: str | Path, *, dataset_info: str | Path | None = None, name: str | None = None,
         source: str | None = None, formatting: str = "sharegpt") -> ImportResult:
    """Import a LLaMA-Factory ranking file. Without --dataset-info, a dataset_info.json next
    to the file with an entry for this file is used; failing that, `formatting`'s defaults
    (sharegpt: conversations/chosen/rejected; alpaca: instruction/input/chosen/rejected/system)."""
    path = Path(path)
    attr = _find_attr(path, dataset_info, name, formatting)
    parse = parse_alpaca if attr.formatting == "alpaca" else parse_sharegpt
    result = ImportResult(format="llamafactory", source=str(path))
    result.notes["llamafactory"] = {f.name: getattr(attr, f.name) for f in fields(attr)}
    label = source or path.name
    return Collector(result).run(read_rows(path), lambda data, _row: parse(data, attr, label))


def _find_attr(path: Path, dataset_info, name, formatting: str) -> DatasetAttr:
    if dataset_info is not None:
        return load_dataset_info(dataset_info, name)
    if name is not None:
        raise DataError("--name needs --dataset-info FILE (the dataset_info.json that defines it).")
    sibling = path.parent / "dataset_info.json"
    if sibling.is_file():
        try:
            info = json.loads(sibling.read_text())
        except json.JSONDecodeError:
            info = {}
        for entry_name, entry in (info.items() if isinstance(info, dict) else []):
            if isinstance(entry, dict) and entry.get("file_name") == path.name:
                return load_dataset_info(sibling, entry_name)
    if formatting == "alpaca":
        return DatasetAttr(formatting="alpaca", system="system")
    return DatasetAttr()


def looks_like(row: dict) -> str | None:
    """Sniffer: 'sharegpt' or 'alpaca' for LLaMA-Factory ranking rows, else None."""
    if isinstance(row.get("conversations"), list) and isinstance(row.get("chosen"), dict):
        return "sharegpt"
    if isinstance(row.get("instruction"), str) and isinstance(row.get("chosen"), str):
        return "alpaca"
    return None


class LlamaFactory(Importer):
    """LLaMA-Factory ranking rows, sharegpt or alpaca (`--dataset-info FILE --name ENTRY` for its mapping)."""

    name = "llamafactory"
    options = ("dataset_info", "name")
    looks_like = staticmethod(lambda row: looks_like(row) is not None)
    sniffed_options = staticmethod(lambda row: {"formatting": looks_like(row)})
    read = staticmethod(read)


# ---------------------------------------------------------------- DPO examples -> LLaMA-Factory rows

SHAREGPT = DatasetAttr()  # the sharegpt tags we write are the ones we read by default
SHAREGPT_TAG_KEYS = ("role_tag", "content_tag", "user_tag", "assistant_tag", "system_tag")
# ShareGPT role tags -> OpenAI roles; OpenAI role names map to themselves (mixed files exist).
SHAREGPT_ROLES = {SHAREGPT.user_tag: "user", SHAREGPT.assistant_tag: "assistant", SHAREGPT.system_tag: "system",
                  "user": "user", "assistant": "assistant"}


def _sharegpt_message(role: str, content: str) -> dict:
    tag = {"user": SHAREGPT.user_tag, "assistant": SHAREGPT.assistant_tag}[role]
    return {SHAREGPT.role_tag: tag, SHAREGPT.content_tag: content}


def sharegpt_row(example: dict) -> dict | None:
    """A conversational DPOExample as a sharegpt ranking row; None when its prompt turns do not
    alternate user/assistant after an optional system turn (LLaMA-Factory would drop it)."""
    prompt = example["prompt"]
    has_system = prompt[0]["role"] == "system"
    turns = prompt[1:] if has_system else prompt
    if any(m["role"] != ("user", "assistant")[i % 2] for i, m in enumerate(turns)):
        return None
    return {
        SHAREGPT.messages: [_sharegpt_message(m["role"], m["content"]) for m in turns],
        SHAREGPT.chosen: _sharegpt_message("assistant", example["chosen"][0]["content"]),
        SHAREGPT.rejected: _sharegpt_message("assistant", example["rejected"][0]["content"]),
        "system": prompt[0]["content"] if has_system else "",
        **{k: example[k] for k in PROVENANCE},
    }


def alpaca_row(example: dict) -> dict:
    """A standard (string) DPOExample as an alpaca ranking row."""
    return {"instruction": example["prompt"], "chosen": example["chosen"], "rejected": example["rejected"],
            **{k: example[k] for k in PROVENANCE}}


def dataset_info_entry(file_name: str, kind: str) -> dict:
    """The dataset_info.json entry that reads back what `sharegpt_row` / `alpaca_row` wrote."""
    if kind == "conversational":
        return {"file_name": file_name, "ranking": True, "formatting": "sharegpt",
                "columns": {"messages": SHAREGPT.messages, "chosen": SHAREGPT.chosen,
                            "rejected": SHAREGPT.rejected, "system": "system"},
                "tags": {k: getattr(SHAREGPT, k) for k in SHAREGPT_TAG_KEYS}}
    return {"file_name": file_name, "ranking": True, "formatting": "alpaca",
            "columns": {"prompt": "instruction", "chosen": "chosen", "rejected": "rejected"}}
