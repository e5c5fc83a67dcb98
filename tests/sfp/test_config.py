from pathlib import Path

import pytest
from pydantic import Field

from sfp.config import StrictModel, apply_overrides, config_hash, flatten, load_config
from sfp.errors import ConfigError


class Inner(StrictModel):
    epochs: int = Field(3, ge=1)
    lr: float = 0.1


class Outer(StrictModel):
    name: str
    optim: Inner = Inner()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_yaml_is_validated_into_typed_objects(tmp_path):
    config = load_config(Outer, write(tmp_path, "name: run\noptim:\n  epochs: 5\n"))
    assert config.optim.epochs == 5 and config.optim.lr == 0.1 and config.name == "run"


def test_overrides_parse_values_as_yaml(tmp_path):
    config = load_config(Outer, write(tmp_path, "name: run\n"), ["optim.epochs=7", "optim.lr=1e-3"])
    assert config.optim.epochs == 7 and config.optim.lr == pytest.approx(1e-3)


def test_unknown_key_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"optim\.epoch: unknown key"):
        load_config(Outer, write(tmp_path, "name: run\n"), ["optim.epoch=7"])


def test_bad_value_names_the_key_and_value(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(Outer, write(tmp_path, "name: run\noptim:\n  epochs: 0\n"))
    message = str(error.value)
    assert "optim.epochs" in message and "0" in message and "\n" not in message


def test_missing_file_and_bad_yaml_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, write(tmp_path, "name: [unclosed\n"))


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="key.sub=value"):
        apply_overrides({}, ["no_equals_sign"])
    with pytest.raises(ConfigError, match="is a value"):
        apply_overrides({"name": "x"}, ["name.sub=1"])


def test_flatten_and_hash_are_stable():
    config = Outer(name="a")
    assert flatten(config.model_dump()) == {"name": "a", "optim.epochs": 3, "optim.lr": 0.1}
    assert config_hash(config) == config_hash(Outer(name="a")) != config_hash(Outer(name="b"))


def test_configs_are_immutable():
    config = Outer(name="a")
    with pytest.raises(Exception):
        config.name = "b"


def test_a_storage_location_with_another_scheme_is_refused_when_the_recipe_is_validated():
    from sfp.config import StorageUri, StrictModel, validate

    class Section(StrictModel):
        uri: StorageUri

    assert validate(Section, {"uri": "s3://bucket/prefix"}, source="r.yaml").uri == "s3://bucket/prefix"
    assert validate(Section, {"uri": "relative/folder"}, source="r.yaml").uri == "relative/folder"
    with pytest.raises(ConfigError) as error:
        validate(Section, {"uri": "gs://bucket/x"}, source="r.yaml")
    assert str(error.value) == "r.yaml: uri: gs://bucket/x: unsupported storage scheme 'gs' (use a local path, file:// or s3://)"
    with pytest.raises(ConfigError, match=r"^r.yaml: uri: s3://: an s3:// URI needs a bucket"):
        validate(Section, {"uri": "s3://"}, source="r.yaml")
