"""MLflow: the one module that talks to the tracking server and the model registry.

By default runs go to one local store per user, in the platform's home: `$SFP_HOME/mlflow` (`SFP_HOME` defaults to
`~/.sfp`; an SQLite database and an artifact folder), whatever folder a command runs in, so the demo needs no server
and its models are found from anywhere. Set `tracking.uri` (or `MLFLOW_TRACKING_URI`) to use a tracking server, or
`tracking.local_dir` for another local store. Writing commands create the local store; lookups
(`configure_existing`) never do. Only rank 0 of a training job calls into this module. Nothing here runs at import
time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from sfp.config import StrictModel
from sfp.credentials import credential_name
from sfp.errors import ModelError

HOME_VARIABLE = "SFP_HOME"
DEFAULT_HOME = "~/.sfp"
RUN_NAME_TAG = "sfp.run_name"
SECRET_KEY_PATTERN = credential_name()


class TrackingConfig(StrictModel):
    uri: str | None = None  # None: MLFLOW_TRACKING_URI, else the local store under `local_dir`
    local_dir: str | None = None  # None: $SFP_HOME/mlflow (SFP_HOME defaults to ~/.sfp)
    experiment: str = "slowfast"


def sfp_home() -> Path:
    """The platform's home for this user: `SFP_HOME`, else `~/.sfp` (read when called, never at import)."""
    return Path(os.environ.get(HOME_VARIABLE) or DEFAULT_HOME).expanduser().absolute()


def local_store_dir(local_dir: str | None = None) -> Path:
    """The local store's folder: `local_dir` when given (relative to the current folder), else `$SFP_HOME/mlflow`."""
    return Path(local_dir).expanduser().absolute() if local_dir else sfp_home() / "mlflow"


def local_store_uris(local_dir: str | None = None) -> tuple[str, str]:
    root = local_store_dir(local_dir)
    return f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri()


def resolve_tracking_uri(config: TrackingConfig) -> str:
    return config.uri or os.environ.get("MLFLOW_TRACKING_URI") or local_store_uris(config.local_dir)[0]


def configure(config: TrackingConfig) -> str:
    """Point MLflow at the configured store (creating the local folder if that is the store) and return its URI."""
    return use_tracking_uri(resolve_tracking_uri(config))


def configure_existing(config: TrackingConfig) -> str:
    """`configure` for lookups (a model to load, a registry to list): a local store that does not exist is one
    `ModelError` line, and neither its folder nor an empty database is created."""
    uri = resolve_tracking_uri(config)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        folder = Path(uri.removeprefix("sqlite:///")).parent
        raise ModelError(f"no MLflow store at {folder}: nothing was tracked there (the local store is "
                         f"${HOME_VARIABLE}/mlflow, {HOME_VARIABLE} defaulting to {DEFAULT_HOME}; MLFLOW_TRACKING_URI "
                         "names a tracking server)")
    return use_tracking_uri(uri, create=False)


def use_tracking_uri(uri: str, create: bool = True) -> str:
    """Point MLflow at `uri`: what the driver resolved, handed to workers whose working folder differs."""
    import mlflow

    if create and uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    exported = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # MLflow also exports the URI as MLFLOW_TRACKING_URI; undo that, or the next `resolve_tracking_uri` in this
    # process would take it for the user's setting and log another config's runs to this store
    if exported is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = exported
    return uri


def ensure_experiment(config: TrackingConfig) -> str:
    """The experiment's id, creating it (with artifacts in the local store when that is the store); a new or an
    existing experiment gets the platform's description (unless someone wrote their own) and the runs table's
    Key metrics view (`describe_experiment`)."""
    from mlflow.tracking import MlflowClient

    uri = configure(config)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(config.experiment)
    if experiment is None:
        local = uri == local_store_uris(config.local_dir)[0]
        artifact_location = local_store_uris(config.local_dir)[1] if local else None
        experiment = client.get_experiment(client.create_experiment(config.experiment,
                                                                    artifact_location=artifact_location))
    describe_experiment(client, experiment)
    return experiment.experiment_id


def start_or_resume_run(config: TrackingConfig, run_name: str, tags: Mapping[str, str] | None = None) -> str:
    """One MLflow run per training run name: a rerun (a resume after failure) continues the same MLflow run."""
    from mlflow.tracking import MlflowClient

    experiment_id = ensure_experiment(config)
    client = MlflowClient()
    existing = client.search_runs(
        [experiment_id], filter_string=f"tags.`{RUN_NAME_TAG}` = '{run_name}'", max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    if existing:
        run_id = existing[0].info.run_id
        client.update_run(run_id, status="RUNNING")
    else:
        run = client.create_run(experiment_id, run_name=run_name, tags={RUN_NAME_TAG: run_name})
        run_id = run.info.run_id
    for key, value in (tags or {}).items():
        client.set_tag(run_id, key, value)
    return run_id


def retire_runs(config: TrackingConfig, tags: Mapping[str, str], reason: str) -> int:
    """Runs of the experiment with these tags are no longer found again by their run name (their `sfp.run_name`
    gets `-replaced-<time>` and `sfp.replaced` says why): what `sfp preprocess --overwrite` does to the old store's
    runs, so that the new store's job starts a run of its own. A local store that does not exist holds no runs and
    is not created. Returns how many runs were retired."""
    import time

    from mlflow.tracking import MlflowClient

    try:
        uri = configure_existing(config)
    except ModelError:
        return 0
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(config.experiment)
    if experiment is None:
        return 0
    query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = client.search_runs([experiment.experiment_id], filter_string=query, max_results=1000)
    for run in runs:
        name = run.data.tags.get(RUN_NAME_TAG, run.info.run_name)
        client.set_tag(run.info.run_id, RUN_NAME_TAG, f"{name}-replaced-{stamp}")
        client.set_tag(run.info.run_id, "sfp.replaced", reason)
    return len(runs)


def redact(params: Mapping[str, Any]) -> dict[str, str]:
    """Params as MLflow takes them; a key that looks like a credential is never logged."""
    return {
        key: ("<redacted>" if SECRET_KEY_PATTERN.search(key) else str(value)[:500]) for key, value in params.items()
    }


def log_params(run_id: str, params: Mapping[str, Any]) -> None:
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    logged = client.get_run(run_id).data.params
    fresh = [Param(key, value) for key, value in redact(params).items() if key not in logged]
    for start in range(0, len(fresh), 100):
        client.log_batch(run_id, params=fresh[start : start + 100])


def log_metrics(run_id: str, metrics: Mapping[str, float], step: int, synchronous: bool = True) -> None:
    """`synchronous=False`: queued for MLflow's logging thread, so the caller (a training step) never waits on the
    store; `flush_async_logging` waits for the queue."""
    import time

    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    now = int(time.time() * 1000)
    batch = [Metric(key, float(value), now, step) for key, value in metrics.items()]
    MlflowClient().log_batch(run_id, metrics=batch, synchronous=synchronous)


def flush_async_logging() -> None:
    import mlflow

    mlflow.flush_async_logging()


def log_artifact(run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient().log_artifact(run_id, str(path), artifact_path)


def log_text(run_id: str, text: str, artifact_file: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient().log_text(run_id, text, artifact_file)


def set_tags(run_id: str, tags: Mapping[str, str]) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def end_run(run_id: str, status: str = "FINISHED") -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient().set_terminated(run_id, status=status)


def log_and_register_model(
    run_id: str,
    model: Any,
    *,
    registered_name: str,
    alias: str,
    signature: Any,
    pip_requirements: list[str],
    metadata: Mapping[str, Any] | None = None,
) -> int:
    """Log a PyTorch model to the run, register it, point `alias` at the new version; returns the version."""
    import mlflow
    from mlflow.tracking import MlflowClient

    with mlflow.start_run(run_id=run_id):
        info = mlflow.pytorch.log_model(
            model,
            name="model",
            signature=signature,
            pip_requirements=pip_requirements,
            metadata=dict(metadata or {}),
            registered_model_name=registered_name,
            serialization_format="pickle",  # the whole module: loads back without an example input or tracing
        )
    # keep the run open for the caller: start_run's context manager ended it, so mark it running again
    client = MlflowClient()
    client.update_run(run_id, status="RUNNING")
    version = int(info.registered_model_version)
    client.set_registered_model_alias(registered_name, alias, str(version))
    describe_version(client, run_id, registered_name, version, alias)
    return version


NOTE_TAG = "mlflow.note.content"  # what the MLflow UI shows as a run's or an experiment's description
LINEAGE_TAGS = ("sfp.framestore.uri", "sfp.framestore.version", "sfp.framestore.manifest_sha256", "sfp.git_commit",
                "sfp.config_hash", "sfp.model.arch", "sfp.init.from_model")
KEY_METRICS = ("test/top1", "test/top5", "test/mAP", "val/top1", "val/mAP", "baseline/mAP", "train/clips_per_s")
# The runs table's columns are kept per browser (MLflow has no server-side default); what the platform can set is a
# saved view, stored in the experiment the way MLflow 3.17's UI stores one ("Views" > "Save as new view"), read from
# its bundle (mlflow/server/js/build/static/js/):
# - tag key `mlflow.sharedViewState.<key>` (main.*.js: `U="viewStateShareKey",$="mlflow.sharedViewState."`); the
#   runs page loads it when its URL is `#/experiments/<id>/runs?viewStateShareKey=<key>` (5439.*.chunk.js, the share
#   link: `a.set(M.ex,t)` on `getExperimentPageTabRoute(e,M.fM.Runs)`), and lists it under "Views" > "Saved views";
# - tag value, an envelope (53787 in 3448.*.chunk.js):
#   `JSON.stringify({name:e,createdAt:i,updatedAt:a,state:t})`, `state` a string: the view's JSON, or
#   "deflate;<base64>" of it (`(0,a.ib)(e.state)?await(0,a.U1)(e.state):e.state` then `JSON.parse`); the loader
#   (3878.*.chunk.js) tries the envelope first, then takes the tag value as the view's JSON itself (older UIs);
# - the view: search facets picked from `["searchFilter","orderByKey","orderByAsc","startTime","lifecycleFilter",
#   "modelVersionFilter","datasetsFilter"]` (57637 in 3793.*.chunk.js) and UI state from `["selectedColumns",
#   "columnOrder","columnWidths",...]` (1395 in main.*.js), each over the UI's defaults (3878.*.chunk.js:
#   `{...(0,We.G)(),...(0,B.pick)(e,$e.sO)}`), so a view names only what it changes;
# - a column is its type, a dot and its key in backticks (95051 in main.*.js: `I=(e,t)=>e+".`"+t+"`"`), as
#   metrics.`val/top1` or attributes.`Models`; the start-time sort is orderByKey "attributes.start_time" (67593:
#   `DATE:"attributes.start_time"`). The table leaves out a selected metric that no run of the experiment has logged
#   (tests/e2e/test_mlflow_ui_browser.py: a Kinetics run has no mAP).
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."
SHARE_KEY_PARAM = "viewStateShareKey"
KEY_METRICS_VIEW = "sfp-key-metrics"
KEY_METRICS_VIEW_TAG = SHARED_VIEW_TAG_PREFIX + KEY_METRICS_VIEW
KEY_METRICS_VIEW_NAME = "Key metrics"
VIEW_METRICS = ("test/top1", "test/mAP", "val/top1", "val/mAP", "train/clips_per_s")
LOCAL_UI = "http://127.0.0.1:5000"  # where `make mlflow-ui` serves the UI over a local (or database) store
PREVIOUS_NOTES = (  # descriptions earlier versions of the platform wrote: replaced by today's, a user's never
    "Runs of the SlowFast platform (`sfp`). Training runs: add the metrics test/top1 or test/mAP, val/top1 or val/mAP "
    "and train/clips_per_s as columns; a run's description names the model version it registered, its tags the frame "
    "store, commit and config hash. Preprocessing runs (`sfp preprocess`) hold the job's summary as metrics.",
)


def key_metrics_view() -> dict[str, Any]:
    """The runs table's Key metrics view: the key metrics as the first columns (and the registered model), newest
    run first."""
    columns = [f"metrics.`{key}`" for key in VIEW_METRICS]
    return {"orderByKey": "attributes.start_time", "orderByAsc": False,
            "selectedColumns": ["attributes.`Models`", *columns], "columnOrder": columns}


def key_metrics_view_tag(created_ms: int) -> str:
    """The view's tag value: MLflow's saved-view envelope, `created_ms` fixed so that writing it again is a no-op."""
    import json

    return json.dumps({"name": KEY_METRICS_VIEW_NAME, "createdAt": created_ms, "updatedAt": created_ms,
                       "state": json.dumps(key_metrics_view())})


def key_metrics_path(experiment_id: str) -> str:
    """The view's place in the UI, relative to its address (what the experiment's description links to)."""
    return f"#/experiments/{experiment_id}/runs?{SHARE_KEY_PARAM}={KEY_METRICS_VIEW}"


def ui_address(tracking_uri: str) -> str:
    """Where the UI over this store is: a tracking server's own address, else what `make mlflow-ui` serves."""
    return tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else LOCAL_UI


def key_metrics_url(config: TrackingConfig) -> str | None:
    """The experiment's Key metrics view in the UI (`make mlflow-ui` serves it for a local store); None when the
    experiment does not exist. Creates nothing."""
    from mlflow.tracking import MlflowClient

    try:
        uri = configure_existing(config)
    except ModelError:
        return None
    experiment = MlflowClient(tracking_uri=uri, registry_uri=uri).get_experiment_by_name(config.experiment)
    return None if experiment is None else f"{ui_address(uri)}/{key_metrics_path(experiment.experiment_id)}"


def key_metrics_line(config: TrackingConfig) -> str:
    """One line for a command's summary: where the Key metrics view is, and how to serve it for a local store."""
    url = key_metrics_url(config)
    if url is None:
        return "key metrics: no experiment yet"
    served = url.startswith(LOCAL_UI)
    return f"key metrics: {url}" + (" (serve it with `make mlflow-ui`)" if served else "")


def experiment_note(experiment_id: str) -> str:
    return ("Runs of the SlowFast platform (`sfp`). Training runs: the "
            f"[{KEY_METRICS_VIEW_NAME} view]({key_metrics_path(experiment_id)}) (also under Views, top right) shows "
            "test/top1, test/mAP, val/top1, val/mAP and train/clips_per_s as columns, newest run first; a run's "
            "description names the model version it registered, its tags the frame store, commit and config hash. "
            "Preprocessing runs (`sfp preprocess`) hold the job's summary as metrics.")


def describe_experiment(client: Any, experiment: Any) -> None:
    """Set the experiment's description (when it has none, or one an earlier platform wrote) and its Key metrics
    view; idempotent: what is already there is not written again."""
    experiment_id, tags = experiment.experiment_id, experiment.tags
    note = experiment_note(experiment_id)
    if tags.get(NOTE_TAG, "").strip() in ("", *PREVIOUS_NOTES):
        client.set_experiment_tag(experiment_id, NOTE_TAG, note)
    view = key_metrics_view_tag(int(experiment.creation_time or 0))
    if tags.get(KEY_METRICS_VIEW_TAG) != view:
        client.set_experiment_tag(experiment_id, KEY_METRICS_VIEW_TAG, view)


def describe_version(client: Any, run_id: str, name: str, version: int, alias: str) -> str:
    """What the MLflow UI shows for a registered model: the version's description (its run, alias, lineage and key
    metrics) and lineage tags copied from the run, the run's description naming the version, and a model
    description when the model has none. Returns the version's description."""
    run = client.get_run(run_id)
    tags, metrics = run.data.tags, run.data.metrics
    lineage = {key: tags[key] for key in LINEAGE_TAGS if tags.get(key)}
    shown = {key: metrics[key] for key in KEY_METRICS if key in metrics}
    lines = [f"Trained by run `{run.info.run_name}` ({run_id}); alias `{alias}` pointed here when it was registered.",
             ""]
    lines += [f"- {key}: {value}" for key, value in lineage.items()]
    if shown:
        lines += ["", "Metrics: " + ", ".join(f"{key} {value:.4f}" for key, value in shown.items())]
    description = "\n".join(lines).strip()
    client.update_model_version(name, str(version), description=description)
    for key, value in {**lineage, "sfp.run_id": run_id, "sfp.run_name": run.info.run_name}.items():
        client.set_model_version_tag(name, str(version), key, value)
    summary = ", ".join(f"{key} {value:.4f}" for key, value in shown.items())
    client.set_tag(run_id, NOTE_TAG, f"Registered as models:/{name}/{version} (alias `{alias}`)."
                   + (f" {summary}." if summary else ""))
    if not (client.get_registered_model(name).description or "").strip():
        arch = lineage.get("sfp.model.arch", "SlowFast")
        client.update_registered_model(name, description=(
            f"{arch} models trained by the SlowFast platform. Each version's description and tags hold its run, "
            "frame store, code and config hash, and its test metrics; the aliases point at the versions in use."))
    return description


def load_model(model_uri: str) -> Any:
    """Load a logged PyTorch model: `models:/<name>@<alias>`, `models:/<name>/<version>` or `runs:/...`."""
    import mlflow

    return mlflow.pytorch.load_model(model_uri, map_location="cpu")
