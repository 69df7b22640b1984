import pytest

from prefdata.config import StrictModel, apply_overrides, load_config, stable_hash
from prefdata.errors import ConfigError, PrefdataError


class Inner(StrictModel):
    k: int = 1
    temperature: float = 1.0


class Outer(StrictModel):
    name: str
    inner: Inner = Inner()


def test_every_error_is_reported_at_once(tmp_path):
    cfg = tmp_path / "r.yaml"
    cfg.write_text("name: x\ninner: {k: many, temprature: 0.5}\nbogus: 1\n")
    with pytest.raises(ConfigError) as e:
        load_config(Outer, cfg)
    text = str(e.value)
    assert str(cfg) in text and "found the following errors" in text
    assert "inner.k" in text and "inner.temprature: unknown key" in text and "bogus: unknown key" in text


def test_overrides_parse_yaml_values():
    data = apply_overrides({"name": "x", "inner": {"k": 1}}, ["inner.k=8", "inner.temperature=0.7", "name=y"])
    assert data == {"name": "y", "inner": {"k": 8, "temperature": 0.7}}


def test_override_exponent_floats_are_floats():
    # YAML 1.1 reads `5e-5` as a string; users type it for learning rates all the time.
    data = apply_overrides({}, ["lr=5e-5", "eps=1E+3", "name=5e", "x=1.5"])
    assert data == {"lr": 5e-5, "eps": 1000.0, "name": "5e", "x": 1.5}


def test_bad_override_names_the_flag():
    with pytest.raises(ConfigError, match="expected key.path=value"):
        apply_overrides({}, ["nonsense"])


def test_missing_and_invalid_yaml_files_are_user_errors(tmp_path):
    with pytest.raises(PrefdataError, match="no such config file"):
        load_config(Outer, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(PrefdataError, match="line 2"):
        load_config(Outer, bad)


def test_stable_hash_ignores_key_order():
    assert stable_hash({"a": 1, "b": 2}) == stable_hash({"b": 2, "a": 1})
    assert stable_hash(Inner(k=2)) != stable_hash(Inner(k=3))


def test_yes_no_on_off_stay_strings_in_set_and_yaml_files(tmp_path):
    """YAML 1.1 reads `no` as False: `--set dpo.eval_strategy=no` would reach TRL as a bool."""
    from prefdata.config import apply_overrides, parse_value, read_yaml

    assert [parse_value(v) for v in ("no", "yes", "on", "off", "true", "False")] == ["no", "yes", "on", "off", True, False]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dpo:\n  eval_strategy: no\n  save_strategy: off\n  bf16: false\n")
    assert read_yaml(cfg)["dpo"] == {"eval_strategy": "no", "save_strategy": "off", "bf16": False}
    assert apply_overrides({}, ["dpo.eval_strategy=no"]) == {"dpo": {"eval_strategy": "no"}}


def test_bool_fields_still_accept_yes_and_no(tmp_path):
    from prefdata.config import load_config
    from prefdata.stages.export import ExportConfig

    cfg = tmp_path / "e.yaml"
    cfg.write_text("plots: no\n")
    assert load_config(ExportConfig, cfg).plots is False
    assert load_config(ExportConfig, cfg, ["plots=yes"]).plots is True
