"""The MLflow UI of the stack's tracking server, in a real headless Chromium: the run trained by the cluster job is
found by name in its experiment's runs, next to the experiment's description that names the key metrics and links to
the experiment's Key metrics view (a saved view: MLflow keeps the runs table's columns per browser), which shows them
as the table's first columns, with the run's values; the run's page shows its description (the version it registered
and its key metrics' values); the registered model is on the models page, its page shows version and alias, and the
version's page shows its lineage (description and tags: run, frame store, commit, config hash). Screenshots go to
`test-artifacts/` (git-ignored). Needs Debian's `chromium` and `chromium-driver` (`make setup` installs them)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from sfp.tracking import NOTE_TAG, VIEW_METRICS, experiment_note, key_metrics_path, ui_address

pytestmark = [pytest.mark.slow, pytest.mark.extended]

WINDOW = (1400, 1000)
WIDE_WINDOW = (1920, 1080)  # the runs table draws only the columns in view: wide enough for all the key metrics
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)
PAGE_TIMEOUT_S = 90  # the UI is one large JavaScript bundle: slow to start on two busy cores


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra: make setup")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("chromium and chromium-driver are not installed (make setup installs them as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    session = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    session.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield session
    finally:
        session.quit()


@pytest.fixture(scope="module")
def artifacts_dir(repo_root: Path) -> Path:
    folder = repo_root / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder


def body_text(browser) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.TAG_NAME, "body").text


def wait_for(browser, condition, screenshot: Path):
    """Poll `condition(browser)` until it is truthy (-> its value) or the timeout (-> None); screenshot either way."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        ignored = (NoSuchElementException, StaleElementReferenceException)  # the page is still drawing
        return WebDriverWait(browser, PAGE_TIMEOUT_S, poll_frequency=1, ignored_exceptions=ignored).until(condition)
    except TimeoutException:
        return None  # the caller's assertion shows what the page held
    finally:
        browser.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 0


def shows(*expected: str):
    return lambda browser: all(item in body_text(browser) for item in expected)


def test_the_run_is_found_by_name_and_shows_its_results(browser, artifacts_dir, cluster_run, local_stack) -> None:
    from mlflow.tracking import MlflowClient
    from selenium.webdriver.common.by import By

    assert cluster_run.preprocess.code == 0, cluster_run.preprocess.out[-3000:]
    assert cluster_run.train.code == 0, cluster_run.train.out[-3000:]
    client = MlflowClient(local_stack.mlflow.tracking_uri, registry_uri=local_stack.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name(cluster_run.experiment)
    (run,) = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`sfp.run_name` = '{cluster_run.run_name}'"
    )

    browser.get(f"{local_stack.mlflow.tracking_uri}/#/experiments/{experiment.experiment_id}/runs")
    link = wait_for(browser, lambda b: b.find_element(By.LINK_TEXT, cluster_run.run_name),
                    artifacts_dir / "mlflow-ui-runs.png")
    assert link is not None, body_text(browser)[:2000]
    text = body_text(browser)
    assert cluster_run.experiment in text
    # the experiment's description, shown above its runs, names the key metrics and links to their view
    assert experiment.tags.get(NOTE_TAG) == experiment_note(experiment.experiment_id)
    assert all(metric in text for metric in ("test/top1", "val/top1", "train/clips_per_s")), text[:3000]
    link.click()
    note = run.data.tags[NOTE_TAG]  # "Registered as models:/<name>/1 (alias `...`). test/top1 0.xxxx, ..."
    assert note.startswith(f"Registered as models:/{cluster_run.model_name}/1 (alias `{cluster_run.alias}`)."), note
    metrics = [f"{key} {run.data.metrics[key]:.4f}" for key in ("test/top1", "val/top1", "train/clips_per_s")]
    assert all(metric in note for metric in metrics), note
    expected = (cluster_run.run_name, run.info.run_id, cluster_run.model_name, *metrics)
    wait_for(browser, shows(*expected), artifacts_dir / "mlflow-ui-run.png")
    text = body_text(browser)
    assert run.info.run_id in browser.current_url
    assert all(item in text for item in expected), text[:3000]


def ui_number(value: float) -> str:
    """A metric as the runs table shows it: JavaScript's shortest round-trip form (Python's, less a trailing `.0`)."""
    text = repr(float(value))
    return text.removesuffix(".0")


def metric_headers(browser) -> list[str]:
    """The runs table's metric columns, left to right, as their header cells name them (ag-grid: `col-id` is the
    column's key: metrics.`<name>`)."""
    from selenium.webdriver.common.by import By

    cells = browser.find_elements(By.CSS_SELECTOR, '.ag-header-cell[col-id^="metrics."]')
    return [cell.text.strip() for cell in sorted(cells, key=lambda cell: cell.location["x"])]


def metric_cells(browser, metric: str) -> list[str]:
    from selenium.webdriver.common.by import By

    cells = browser.find_elements(By.CSS_SELECTOR, f'.ag-cell[col-id="metrics.`{metric}`"]')
    return [cell.text.strip() for cell in cells]


def test_the_key_metrics_view_shows_them_as_columns(browser, artifacts_dir, cluster_run, local_stack) -> None:
    """The link that `sfp train` prints (and the experiment's description holds) opens the runs table with the key
    metrics as its first columns and the run's values in them (the table leaves out a metric no run has logged: a
    Kinetics run has no mAP) and the model it registered."""
    from mlflow.tracking import MlflowClient

    assert cluster_run.train.code == 0, cluster_run.train.out[-3000:]
    uri = local_stack.mlflow.tracking_uri
    client = MlflowClient(uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(cluster_run.experiment)
    (run,) = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`sfp.run_name` = '{cluster_run.run_name}'"
    )
    url = f"{ui_address(uri)}/{key_metrics_path(experiment.experiment_id)}"
    assert f"key metrics: {url}" in cluster_run.train.out, cluster_run.train.out[-3000:]
    shown = {metric: ui_number(run.data.metrics[metric]) for metric in ("test/top1", "val/top1", "train/clips_per_s")}
    logged = {key for other in client.search_runs([experiment.experiment_id]) for key in other.data.metrics}
    columns = [metric for metric in VIEW_METRICS if metric in logged]

    browser.set_window_size(*WIDE_WINDOW)
    try:
        browser.get(url)
        found = wait_for(browser, lambda b: metric_headers(b) == columns
                         and all(value in metric_cells(b, metric) for metric, value in shown.items()),
                         artifacts_dir / "mlflow-ui-runs-key-metrics.png")
        headers, text = metric_headers(browser), body_text(browser)
        values = {metric: metric_cells(browser, metric) for metric in VIEW_METRICS}
    finally:
        browser.set_window_size(*WINDOW)
    assert found, (headers, values, text[:3000])
    assert all(item in text for item in (cluster_run.run_name, cluster_run.model_name, "You're viewing a shared view")
               ), text[:3000]


def test_the_registered_model_shows_its_version_alias_and_lineage(browser, artifacts_dir, cluster_run,
                                                                  local_stack) -> None:
    from mlflow.tracking import MlflowClient

    assert cluster_run.preprocess.code == 0, cluster_run.preprocess.out[-3000:]
    assert cluster_run.train.code == 0, cluster_run.train.out[-3000:]
    browser.get(f"{local_stack.mlflow.tracking_uri}/#/models")
    wait_for(browser, shows(cluster_run.model_name), artifacts_dir / "mlflow-ui-models.png")
    assert cluster_run.model_name in body_text(browser), body_text(browser)[:2000]

    browser.get(f"{local_stack.mlflow.tracking_uri}/#/models/{cluster_run.model_name}")
    expected = (cluster_run.model_name, "Version 1", cluster_run.alias, "trained by the SlowFast platform")
    wait_for(browser, shows(*expected), artifacts_dir / "mlflow-ui-model.png")
    text = body_text(browser)
    assert all(item in text for item in expected), text[:2000]

    # the version's page: its lineage, as description and tags copied from the run
    client = MlflowClient(local_stack.mlflow.tracking_uri, registry_uri=local_stack.mlflow.tracking_uri)
    version = client.get_model_version(cluster_run.model_name, "1")
    assert version.tags["sfp.framestore.uri"] == cluster_run.framestore, version.tags
    lineage = ("sfp.framestore.uri", "sfp.framestore.manifest_sha256", "sfp.config_hash", "sfp.run_name")
    browser.get(f"{local_stack.mlflow.tracking_uri}/#/models/{cluster_run.model_name}/versions/1")
    expected = ("Trained by run", cluster_run.run_name, cluster_run.alias, cluster_run.framestore,
                *lineage, version.tags["sfp.config_hash"], version.run_id)
    wait_for(browser, shows(*expected), artifacts_dir / "mlflow-ui-model-version.png")
    text = body_text(browser)
    assert all(item in text for item in expected), text[:3000]
