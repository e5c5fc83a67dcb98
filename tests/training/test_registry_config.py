"""`registry:` names are checked against MLflow's own rules when the recipe is validated, before any training."""

import re

import pytest
from mlflow.exceptions import MlflowException
from mlflow.utils import validation
from pydantic import ValidationError

from sfp_train.ava.recipe import AvaRegistryConfig
from sfp_train.recipe import RegistryConfig

ALIASES = ["kinetics-pretrained", "ava_finetuned", "A1", "x" * 255, "latest", "LATEST", "v3", "V12", "", "a b",
           "a.b", "a/b", "x" * 256, "v", "v1x", "version3", "ünïcode"]
NAMES = ["slowfast-kinetics", "slowfast r50 (k400)", "a.b", ".hidden", "", "   ", "a/b", "a:b", "..", ".", "a/../b",
         "x" * 300]


def mlflow_accepts(check, value: str) -> bool:
    try:
        check(value)
    except MlflowException:
        return False
    return True


@pytest.mark.parametrize("alias", ALIASES)
def test_an_alias_is_accepted_exactly_when_mlflow_accepts_it(alias):
    accepted = mlflow_accepts(validation._validate_model_alias_name, alias) and mlflow_accepts(
        validation._validate_model_alias_name_reserved, alias)

    try:
        RegistryConfig(alias=alias)
    except ValidationError:
        assert not accepted
    else:
        assert accepted


@pytest.mark.parametrize("name", NAMES)
def test_a_model_name_is_accepted_exactly_when_mlflow_accepts_it(name):
    accepted = mlflow_accepts(validation._validate_model_name, name)

    try:
        RegistryConfig(model_name=name)
    except ValidationError:
        assert not accepted
    else:
        assert accepted


def test_an_at_sign_is_refused_as_it_would_end_the_name_in_a_models_uri():
    with pytest.raises(ValidationError, match=re.escape("'@' would end the name in models:/<name>@<alias>")):
        RegistryConfig(model_name="slowfast@k400")


@pytest.mark.parametrize(
    ("alias", "message"),
    [("latest", "'latest' is reserved by MLflow"), ("v3", "'v3' is reserved by MLflow (it names version 3)"),
     ("a b", "MLflow aliases are 1 to 255 letters, digits, '_' or '-'")],
)
def test_the_reason_is_named(alias, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        RegistryConfig(alias=alias)


def test_ava_recipes_check_their_registry_too():
    assert AvaRegistryConfig().alias == "ava-finetuned"
    with pytest.raises(ValidationError, match="'latest' is reserved"):
        AvaRegistryConfig(alias="latest")
