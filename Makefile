# The front door. Every target is a thin wrapper around the `sfp` command line.
#   make demo   set everything up, then run the whole platform on a synthetic dataset
#   make test   set everything up, then run the test suite
VENV ?= .venv
BIN := $(VENV)/bin
SFP := $(BIN)/sfp
CONFIG ?= configs/kinetics/slowfast_r50_8x8.yaml
DATASET ?= configs/datasets/kinetics400.yaml
PYTEST_ARGS ?=
# preprocess/train/evaluate run here, or as Ray jobs (`sfp jobs submit`) when a cluster is named: RAY_API_SERVER_ADDRESS
# or RAY_ADDRESS set, or CLUSTER=<launcher yaml> (its Jobs API tunnelled to JOBS_ADDRESS by `ray dashboard CLUSTER`).
CLUSTER ?=
JOBS_ADDRESS ?= $(if $(and $(CLUSTER),$(if $(RAY_API_SERVER_ADDRESS),,1)),http://127.0.0.1:8265)
JOBS := $(SFP) jobs
JOBS_FLAGS = $(if $(JOBS_ADDRESS),--address $(JOBS_ADDRESS))
RUN := $(if $(or $(RAY_ADDRESS),$(RAY_API_SERVER_ADDRESS),$(CLUSTER)),$(JOBS) submit $(JOBS_FLAGS) --,$(SFP))

.DEFAULT_GOAL := help
.PHONY: help setup demo ablation test test-all test-fast bench bench-model bench-loader bench-preprocess bench-train bench-precision gpu-check preprocess train evaluate finetune-ava predict jobs logs stop cluster-up cluster-down mlflow-ui up down status env clean

help: ## list the targets
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup: ## create .venv with the pinned dependencies and ffmpeg (idempotent)
	@scripts/setup.sh $(VENV)

demo: setup ## synthetic videos -> frame store -> SlowFast (Ray Train + DeepSpeed) -> MLflow registry
	$(SFP) demo

ablation: setup ## the paper's ablation on the demo's dataset: Slow-only, Fast-only, SlowFast, same budget -> MLflow
	$(SFP) experiment ablation $(ARGS)

test: setup ## the test suite (real Ray, SeaweedFS S3, MLflow) without the `extended` runs; CI runs this
	$(BIN)/python -m pytest -m "not extended" $(PYTEST_ARGS)

test-all: setup ## every test, including the long `extended` runs (ablation, scale, browser, AVA fine-tune)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup ## the tests that start no Ray cluster or server
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

preprocess: setup ## DATASET=configs/datasets/<name>.yaml: decode a dataset into a frame store (a Ray job on a cluster)
	$(RUN) preprocess $(DATASET) $(ARGS)

train: setup ## CONFIG=configs/kinetics/<recipe>.yaml: train, evaluate, register (a Ray job on a cluster)
	$(RUN) train $(CONFIG) $(ARGS)

evaluate: setup ## MODEL=models:/name@alias FRAMESTORE=uri: multi-view top-1/top-5 (a Ray job on a cluster)
	$(RUN) evaluate $(MODEL) --framestore $(FRAMESTORE) $(ARGS)

finetune-ava: setup ## CONFIG=configs/ava/<recipe>.yaml: fine-tune for AVA, frame mAP, register (a Ray job on a cluster)
	$(RUN) finetune-ava $(CONFIG) $(ARGS)

predict: setup ## MODEL=models:/name@alias VIDEO=file [BOXES=person_boxes.csv] [OUT=out.csv]: labels or AVA detections
	$(SFP) predict $(MODEL) $(VIDEO) $(if $(BOXES),--boxes $(BOXES)) $(if $(OUT),-o $(OUT)) $(ARGS)

jobs: setup ## the cluster's jobs with their status (RAY_API_SERVER_ADDRESS, or CLUSTER=)
	$(JOBS) list $(JOBS_FLAGS)

logs: setup ## JOB=raysubmit_...: a job's output, followed until it ends
	$(JOBS) logs $(JOB) --follow $(JOBS_FLAGS)

stop: setup ## JOB=raysubmit_...: stop a job
	$(JOBS) stop $(JOB) $(JOBS_FLAGS)

cluster-up: setup ## CLUSTER=infra/ray/cluster-aws.yaml (the default): start the cluster (ray up)
	$(BIN)/ray up -y $(or $(CLUSTER),infra/ray/cluster-aws.yaml)

cluster-down: setup ## CLUSTER=infra/ray/cluster-aws.yaml (the default): tear the cluster down (ray down)
	$(BIN)/ray down -y $(or $(CLUSTER),infra/ray/cluster-aws.yaml)

bench: bench-model bench-loader bench-preprocess bench-precision bench-train ## all benchmarks (ratios against a baseline in the same process)

bench-model: setup ## forward+backward clips/s: our SlowFast R50 vs PyTorchVideo's
	$(BIN)/python benchmarks/bench_model.py

bench-loader: setup ## training input clips/s per core: frame store vs PyAV on-the-fly decode vs the JPEG floor
	$(BIN)/python benchmarks/bench_loader.py $(ARGS)

bench-train: setup ## training clips/s of the real loop (Ray Train + DeepSpeed, 1 worker) from a frame store vs fed on-device
	$(BIN)/python benchmarks/bench_train.py $(ARGS)

bench-precision: setup ## bf16 autocast (the policy) and DeepSpeed bf16 against fp32: losses on the same batches
	$(BIN)/python benchmarks/bench_precision.py $(ARGS)

gpu-check: ## the device check on a GPU machine (no set-up: a GPU image's python3 when there is no .venv)
	scripts/gpu_check.sh $(ARGS)

bench-preprocess: setup ## preprocessing clips/s on the same cores: our Ray Data job vs the ffmpeg CLI's JPEG-per-frame
	$(BIN)/python benchmarks/bench_preprocess.py $(ARGS)

up: setup ## start the local stack on 127.0.0.1: Ray head (8265), SeaweedFS S3 (8333), MLflow server (5000)
	$(SFP) stack up $(ARGS)

down: setup ## stop exactly what `make up` started
	$(SFP) stack down $(ARGS)

status: setup ## health of the local stack's services (exit 1 unless all are healthy)
	$(SFP) stack status $(ARGS)

env: ## print the environment that points clients at the local stack: eval "$$(make -s env)"
	@$(SFP) stack env

mlflow-ui: setup ## open the MLflow UI on the local store (or MLFLOW_TRACKING_URI's server)
	@uri=$${MLFLOW_TRACKING_URI:-sqlite:///$${SFP_HOME:-$$HOME/.sfp}/mlflow/mlflow.db}; \
	 echo "MLflow UI: http://127.0.0.1:$${MLFLOW_PORT:-5000} (store: $$uri)"; \
	 $(BIN)/mlflow ui --backend-store-uri "$$uri" --host 127.0.0.1 --port $${MLFLOW_PORT:-5000}

clean: ## remove what the demo and local runs wrote (.sfp/)
	rm -rf .sfp
