"""schemas/*.json are generated from prefdata/records.py and must not drift from it."""

import jsonschema
import pytest

from prefdata import schemas
from prefdata.records import RECORD_MODELS, DPOExample


@pytest.mark.parametrize("name", sorted(RECORD_MODELS))
def test_schema_file_matches_record_model(name):
    on_disk = (schemas.SCHEMA_DIR / f"{name}.json").read_text()
    assert on_disk == schemas.render(name), f"schemas/{name}.json drifted: run python -m prefdata.schemas"


def test_dpo_schema_accepts_trl_conversational_example():
    example = {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
        "prompt_id": "p1", "chosen_score": 1.0, "rejected_score": 0.0, "margin": 1.0, "source": "t",
    }
    jsonschema.validate(example, schemas.load("dpo_example"))
    DPOExample.model_validate(example)


def test_dpo_schema_rejects_unknown_role():
    bad = {"prompt": [{"role": "robot", "content": "x"}], "chosen": "a", "rejected": "b",
           "prompt_id": "p", "source": "t"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schemas.load("dpo_example"))


@pytest.mark.parametrize(
    "example, message",
    [
        ({"prompt": [{"role": "assistant", "content": "x"}], "chosen": [{"role": "assistant", "content": "a"}],
          "rejected": [{"role": "assistant", "content": "b"}]}, "end with a user turn"),
        ({"prompt": "hi", "chosen": [{"role": "assistant", "content": "a"}], "rejected": "b"}, "all strings"),
        ({"prompt": [{"role": "user", "content": "x"}], "chosen": [{"role": "user", "content": "a"}],
          "rejected": [{"role": "assistant", "content": "b"}]}, "one assistant message"),
    ],
)
def test_dpo_example_model_enforces_trl_format(example, message):
    with pytest.raises(ValueError, match=message):
        DPOExample.model_validate({**example, "prompt_id": "p", "source": "t"})
