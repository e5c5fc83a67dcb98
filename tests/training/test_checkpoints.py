"""`sfp_train.checkpoints.load_network`: a registry source whose local MLflow store does not exist is one line,
and the lookup creates no store (an AVA recipe's `init.from_model` goes through it)."""

import pytest

from sfp import tracking
from sfp.errors import SfpError
from sfp_train.checkpoints import load_network


def test_a_registry_source_without_a_store_is_one_line_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # a tracking server would win over the local store
    store = tmp_path / "nowhere" / "mlflow"
    with pytest.raises(SfpError) as error:
        load_network("models:/slowfast-demo@kinetics-pretrained", tracking.TrackingConfig(local_dir=str(store)))
    message = str(error.value)
    assert message.startswith("models:/slowfast-demo@kinetics-pretrained: cannot load it: no MLflow store at")
    assert "\n" not in message and not (tmp_path / "nowhere").exists()
