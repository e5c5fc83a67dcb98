"""sfp.tracking: where runs go."""

import mlflow

from sfp import tracking


def test_configuring_one_store_does_not_redirect_the_next_config(tmp_path, monkeypatch):
    """MLflow exports a configured URI as MLFLOW_TRACKING_URI; a second config in the same process (the demo's
    preprocessing run, then its training run) must still go to its own store, not to the first one's."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    saved = mlflow.get_tracking_uri()
    first = tracking.TrackingConfig(local_dir=str(tmp_path / "first"))
    second = tracking.TrackingConfig(local_dir=str(tmp_path / "second"))
    try:
        assert tracking.configure(first) == f"sqlite:///{tmp_path / 'first' / 'mlflow.db'}"
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'first' / 'mlflow.db'}"
        assert tracking.resolve_tracking_uri(second) == f"sqlite:///{tmp_path / 'second' / 'mlflow.db'}"
    finally:
        mlflow.set_tracking_uri(saved)


def test_a_user_set_tracking_uri_still_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    saved = mlflow.get_tracking_uri()
    try:
        tracking.use_tracking_uri(f"sqlite:///{tmp_path / 'x' / 'mlflow.db'}")
        assert tracking.resolve_tracking_uri(tracking.TrackingConfig(local_dir=str(tmp_path / "y"))) == \
            "http://127.0.0.1:5999"
    finally:
        mlflow.set_tracking_uri(saved)
