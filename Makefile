# The front door. Every target is a thin wrapper around the `sfp` command line.
#   make demo   set everything up, then run the whole platform on a synthetic dataset
#   make test   set everything up, then run the test suite
VENV ?= .venv
BIN := $(VENV)/bin
SFP := $(BIN)/sfp
CONFIG ?= configs/kinetics/slowfast_r50_8x8.yaml
DATASET ?= configs/datasets/kinetics400.yaml
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup demo test test-fast bench bench-model preprocess train evaluate mlflow-ui up down status env clean

help: ## list the targets
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup: ## create .venv with the pinned dependencies and ffmpeg (idempotent)
	@scripts/setup.sh $(VENV)

demo: setup ## synthetic videos -> frame store -> SlowFast (Ray Train + DeepSpeed) -> MLflow registry
	$(SFP) demo

test: setup ## the whole test suite (real Ray, SeaweedFS S3, MLflow)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup ## the tests that start no Ray cluster or server
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

preprocess: setup ## DATASET=configs/datasets/<name>.yaml: decode a dataset into a frame store
	$(SFP) preprocess $(DATASET) $(ARGS)

train: setup ## CONFIG=configs/kinetics/<recipe>.yaml: train, evaluate, register
	$(SFP) train $(CONFIG) $(ARGS)

evaluate: setup ## MODEL=models:/name@alias FRAMESTORE=uri: multi-view top-1/top-5
	$(SFP) evaluate $(MODEL) --framestore $(FRAMESTORE) $(ARGS)

bench: bench-model ## all benchmarks (ratios against a baseline in the same process)

bench-model: setup ## forward+backward clips/s: our SlowFast R50 vs PyTorchVideo's
	$(BIN)/python benchmarks/bench_model.py

up: setup ## start the local stack on 127.0.0.1: Ray head (8265), SeaweedFS S3 (8333), MLflow server (5000)
	$(SFP) stack up $(ARGS)

down: setup ## stop exactly what `make up` started
	$(SFP) stack down $(ARGS)

status: setup ## health of the local stack's services (exit 1 unless all are healthy)
	$(SFP) stack status $(ARGS)

env: ## print the environment that points clients at the local stack: eval "$$(make -s env)"
	@$(SFP) stack env

mlflow-ui: setup ## open the MLflow UI on the local store (or MLFLOW_TRACKING_URI's server)
	@uri=$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/.sfp/mlflow/mlflow.db}; \
	 echo "MLflow UI: http://127.0.0.1:$${MLFLOW_PORT:-5000} (store: $$uri)"; \
	 $(BIN)/mlflow ui --backend-store-uri "$$uri" --host 127.0.0.1 --port $${MLFLOW_PORT:-5000}

clean: ## remove what the demo and local runs wrote (.sfp/)
	rm -rf .sfp
