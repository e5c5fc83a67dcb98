"""The MLflow UI of the stack's tracking server, in a real headless Chromium: the run trained by the cluster job is
found by name in its experiment's runs, next to the experiment's description that names the key metrics (MLflow keeps
the runs table's columns per browser); the run's page shows its description (the version it registered and its key
metrics' values); the registered model is on the models page, its page shows version and alias, and the version's
page shows its lineage (description and tags: run, frame store, commit, config hash). Screenshots go to
`test-artifacts/` (git-ignored). Needs Debian's `chromium` and `chromium-driver` (`make setup` installs them)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from sfp.tracking import EXPERIMENT_NOTE, NOTE_TAG

pytestmark = [pytest.mark.slow, pytest.mark.extended]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
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
    from selenium.common.exceptions import NoSuchElementException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(browser, PAGE_TIMEOUT_S, poll_frequency=1, ignored_exceptions=(NoSuchElementException,)
                             ).until(condition)
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
    # the experiment's description, shown above its runs, names the key metrics to add as columns
    assert experiment.tags.get(NOTE_TAG) == EXPERIMENT_NOTE
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
