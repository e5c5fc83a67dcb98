from sfp.credentials import credential_name
from sfp_app.jobs import CREDENTIAL_NAME
from sfp.tracking import SECRET_KEY_PATTERN, redact


def test_one_list_of_credential_words_and_jobs_add_sessions():
    names = ["AWS_SECRET_ACCESS_KEY", "aws_access_key_id", "MLFLOW_TRACKING_PASSWORD", "db.passwd", "RAY_AUTH_TOKEN",
             "gcp.Credentials", "AWS_SESSION_TOKEN", "SFP_SESSION", "MLFLOW_TRACKING_URI", "optim.lr"]
    assert [name for name in names if credential_name().search(name)] == names[:7]
    assert [name for name in names if SECRET_KEY_PATTERN.search(name)] == names[:7]
    assert [name for name in names if CREDENTIAL_NAME.search(name)] == names[:8]
    assert credential_name(also=("a.b",)).search("xa.by") and not credential_name(also=("a.b",)).search("axb")


def test_mlflow_never_gets_the_value_of_a_credential_param():
    assert redact({"s3.secret_key": "hunter2", "ray.session_dir": "/tmp/ray", "optim.lr": 0.1, "note": "x" * 600}) == {
        "s3.secret_key": "<redacted>", "ray.session_dir": "/tmp/ray", "optim.lr": "0.1", "note": "x" * 500}
