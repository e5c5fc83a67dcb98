"""The application layer of the SlowFast platform: the `sfp` command line, Ray job submission, the local stack
(SeaweedFS, a Ray head, MLflow) and the demo and ablation pipelines.

It imports the shared layer (`sfp`) and both pipelines (`sfp_preprocess`, `sfp_train`); nothing imports it but the
console script and the tests. Importing this package does nothing beyond defining names.
"""
