"""JSON Schemas of prefdata's records, generated from `prefdata/records.py`.

    python -m prefdata.schemas          # rewrite schemas/*.json from the record models
    from prefdata.schemas import load; load("dpo_example")

tests/test_schemas.py fails when a file here drifts from its model.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefdata.records import RECORD_MODELS

SCHEMA_DIR = Path(__file__).parent


def render(name: str) -> str:
    schema = RECORD_MODELS[name].model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"prefdata/{name}.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def load(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text())


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    paths = []
    for name in RECORD_MODELS:
        path = directory / f"{name}.json"
        path.write_text(render(name))
        paths.append(path)
    return paths

