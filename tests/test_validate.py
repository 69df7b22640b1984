"""`validate`: each check fires on the example built to trip it, thresholds decide the verdict.

    python -m pytest -q tests/test_validate.py
"""

from __future__ import annotations

import pytest

from prefdata.errors import DataError
from prefdata.io.dataset_dir import examples_frame, write_dataset_dir
from prefdata.ledger import empty_rejects
from prefdata.validate import CHECKS, Thresholds, validate_dataset

MAX_LENGTH = 64


def _m(role, text):
    return [{"role": role, "content": text}]


def _conv(pid, prompt, chosen="Sure.", rejected="No."):
    prompt = _m("user", prompt) if isinstance(prompt, str) else prompt
    return {"prompt": prompt, "chosen": _m("assistant", chosen), "rejected": _m("assistant", rejected),
            "prompt_id": pid, "source": "unit"}


CONVERSATIONAL = {  # prompt_id -> the one check it must fail (None: clean)
    "clean": (_conv("clean", "Hi"), None),
    "truncated": (_conv("truncated", "Hi", chosen="word " * 80), "truncated"),
    "prompt_too_long": (_conv("prompt_too_long", "word " * 80), "prompt_too_long"),
    "empty": (_conv("empty", "Hi", chosen="  "), "empty"),
    "identical": (_conv("identical", "Hi", chosen="Same", rejected="Same"), "identical"),
    "prompt_not_user": (_conv("prompt_not_user", _m("user", "Hi") + _m("assistant", "Yo")), "prompt_not_user"),
}


def _write(tmp_path, rows):
    write_dataset_dir(tmp_path, examples_frame(rows), empty_rejects(), source="unit")
    return tmp_path


def test_each_check_fires_on_its_example_only(tmp_path, tiny_model_dir):
    data = _write(tmp_path, [row for row, _ in CONVERSATIONAL.values()])
    report = validate_dataset(data, tiny_model_dir, max_length=MAX_LENGTH)
    flagged = {c: {r["prompt_id"] for r in report["sample_rows"].get(c, [])} for c in CHECKS}
    for pid, (_, check) in CONVERSATIONAL.items():
        if check:
            assert pid in flagged[check], (pid, check, flagged)
    assert not any("clean" in ids for ids in flagged.values())
    assert report["counts"]["double_special"] == 0 and report["counts"]["special_in_text"] == 0
    assert report["shares"]["identical"] == pytest.approx(1 / 6)
    assert set(report["failed"]) == {"truncated", "prompt_too_long", "empty", "identical", "prompt_not_user"}


def test_special_tokens_in_text_and_doubled_eos(tmp_path, tiny_model_dir):
    # ChatML closes each turn with <|im_end|> (the EOS): writing it in the text doubles it.
    rows = [_conv("a", "Hi", chosen="Sure.<|im_end|>"), _conv("b", "Hi")]
    report = validate_dataset(_write(tmp_path / "c", rows), tiny_model_dir, max_length=MAX_LENGTH)
    assert report["counts"]["special_in_text"] == 1 and report["counts"]["double_special"] == 1
    # Standard rows: TRL appends EOS only when missing, so one trailing EOS is fine, two are not.
    std = [{"prompt": "Q:", "chosen": " yes<|im_end|>", "rejected": " no", "prompt_id": "s1", "source": "u"},
           {"prompt": "Q2:", "chosen": " yes<|im_end|><|im_end|>", "rejected": " no", "prompt_id": "s2", "source": "u"}]
    report = validate_dataset(_write(tmp_path / "s", std), tiny_model_dir, max_length=MAX_LENGTH)
    assert report["counts"]["double_special"] == 1 and report["sample_rows"]["double_special"][0]["prompt_id"] == "s2"


def test_thresholds_decide_failure(tmp_path, tiny_model_dir):
    rows = [CONVERSATIONAL["clean"][0], CONVERSATIONAL["truncated"][0]]
    data = _write(tmp_path, rows)
    assert validate_dataset(data, tiny_model_dir, max_length=MAX_LENGTH)["failed"] == ["truncated"]
    loose = Thresholds(truncated=0.5)
    assert validate_dataset(data, tiny_model_dir, max_length=MAX_LENGTH, thresholds=loose)["failed"] == []
    assert validate_dataset(data, tiny_model_dir, max_length=4096)["failed"] == []


def test_bad_model_dir_is_a_user_error(tmp_path):
    data = _write(tmp_path / "d", [CONVERSATIONAL["clean"][0]])
    with pytest.raises(DataError, match="cannot load a tokenizer"):
        validate_dataset(data, tmp_path / "no-model")


def test_doubled_bos_when_text_already_starts_with_it(tmp_path, tiny_model_dir):
    # A tokenizer that adds BOS itself (Llama-style post-processor): a prompt that already
    # starts with the BOS string gets it twice, the classic double-BOS bug.
    from tokenizers import processors
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    bos = "<|endoftext|>"
    tok.bos_token = bos
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, tok.convert_tokens_to_ids(bos))])
    tok.save_pretrained(tmp_path / "tok")
    rows = [{"prompt": f"{bos}Q:", "chosen": " yes", "rejected": " no", "prompt_id": "dup", "source": "u"},
            {"prompt": "Q2:", "chosen": " yes", "rejected": " no", "prompt_id": "ok", "source": "u"}]
    report = validate_dataset(_write(tmp_path / "d", rows), tmp_path / "tok", max_length=MAX_LENGTH)
    assert report["counts"]["double_special"] == 1 and report["sample_rows"]["double_special"][0]["prompt_id"] == "dup"
    assert "double_special" in report["failed"]
