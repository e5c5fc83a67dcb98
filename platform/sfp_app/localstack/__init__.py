"""A local stack for development and tests: SeaweedFS (S3), a Ray head and an MLflow tracking server on 127.0.0.1.

`start_seaweedfs` gives tests a real S3 endpoint; `stack.up/down/status` (the `sfp stack` command) run all three
services for a laptop session. Importing this package starts nothing.
"""

from sfp_app.localstack.seaweedfs import SeaweedFS, start_seaweedfs

__all__ = ["SeaweedFS", "start_seaweedfs"]
