"""A preprocessing job as an MLflow run, through `sfp.tracking` (the one module that talks to MLflow).

The run is found again by the output URI, so a resumed job continues the same run. It holds the job's config as
params, the summary as metrics, and as artifacts the frame store's manifest and errors table, the summary text and
the data-quality picture.
"""

from __future__ import annotations

import hashlib
import posixpath
import tempfile
from pathlib import Path
from typing import Any, Sequence

from sfp import storage, tracking
from sfp.config import flatten
from sfp.framestore import ClipRecord
from sfp.framestore.schema import ERRORS_FILE, MANIFEST_FILE
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.quality import save_quality_report
from sfp_preprocess.summary import PreprocessSummary


def run_name(output_uri: str, version: int = 1) -> str:
    """`preprocess-<store folder>-<hash of the URI>`, `-v<version>` for an append: the same output and version, the
    same run (each append is a run of its own: its params differ from the first job's)."""
    location = storage.parse_uri(output_uri)
    digest = hashlib.sha1(location.uri.encode()).hexdigest()[:8]
    name = f"preprocess-{posixpath.basename(location.path) or 'store'}-{digest}"
    return name if version == 1 else f"{name}-v{version}"


class JobRun:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    @classmethod
    def start(cls, config: PreprocessConfig, source: dict[str, Any], *, rows: int, shards: int,
              version: int = 1) -> "JobRun":
        """`version`: the store version the job commits (1, or an append's)."""
        tags = {
            "sfp.stage": "preprocess",
            "sfp.framestore.uri": config.output.uri,
            "sfp.framestore.version": str(version),
            "sfp.source.sha256": str(source["sha256"]),
        }
        run_id = tracking.start_or_resume_run(config.tracking, run_name(config.output.uri, version), tags=tags)
        params = flatten(config.model_dump(mode="json", exclude={"tracking"}))
        tracking.log_params(run_id, {**params, "plan.rows": rows, "plan.shards": shards})
        return cls(run_id)

    def finish(
        self, config: PreprocessConfig, summary: PreprocessSummary, records: Sequence[ClipRecord], over_budget: bool
    ) -> None:
        store = config.output.uri
        tracking.log_metrics(self.run_id, summary.metrics(), step=0)
        tracking.log_text(self.run_id, summary.manifest.to_json(), f"framestore/{MANIFEST_FILE}")
        tracking.log_text(self.run_id, "\n".join(summary.lines()) + "\n", "summary.txt")
        with tempfile.TemporaryDirectory(prefix="sfp-run-") as folder:
            errors = Path(folder) / ERRORS_FILE
            errors.write_bytes(storage.read_bytes(storage.join_uri(store, summary.manifest.tables["errors"])))
            tracking.log_artifact(self.run_id, errors, "framestore")
            picture = save_quality_report(
                Path(folder) / "data_quality.png", summary.sources, records, summary.errors_by_stage
            )
            tracking.log_artifact(self.run_id, picture)
        tracking.end_run(self.run_id, "FAILED" if over_budget else "FINISHED")

    def fail(self) -> None:
        tracking.end_run(self.run_id, "FAILED")
