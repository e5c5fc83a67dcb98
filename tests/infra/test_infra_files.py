"""The deployment files under infra/: they validate, name one image each, reference recipes that exist, and
hold no credential."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
APP_DIR = "/opt/sfp"  # where the platform image holds the repository (WORKDIR of infra/docker/Dockerfile)

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
MLFLOW_PIN = next(d.split("==")[1] for d in PROJECT["dependencies"] if d.startswith("mlflow=="))
PLATFORM_IMAGE = f"slowfast-platform:{PROJECT['version']}"  # documented in infra/README.md
MLFLOW_IMAGE = f"sfp-mlflow:{MLFLOW_PIN}"
RAY_MANIFESTS = sorted((INFRA / "kuberay").glob("*.yaml"))
MLFLOW_MANIFESTS = sorted((INFRA / "mlflow" / "k8s").glob("*.yaml"))
RAYJOBS = {path.stem: path for path in RAY_MANIFESTS if path.stem.startswith("rayjob-")}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def walk(node: Any, key: str) -> Iterator[Any]:
    """Every value stored under `key`, at any depth."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                yield value
            yield from walk(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, key)


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [container for group in walk(doc, "containers") for container in group]


def test_the_files_the_docs_promise_exist() -> None:
    expected = {
        "docker/Dockerfile",
        "ray/cluster-aws.yaml",
        "kuberay/raycluster.yaml",
        "kuberay/rayjob-preprocess.yaml",
        "kuberay/rayjob-pretrain.yaml",
        "kuberay/rayjob-finetune-ava.yaml",
        "mlflow/docker-compose.yaml",
        "mlflow/k8s/deployment.yaml",
        "mlflow/k8s/service.yaml",
        "mlflow/mlflow-entrypoint.sh",
        "iam/sfp-ray-node.json",
        "iam/sfp-ray-head.json",
        "iam/sfp-mlflow.json",
        "iam/trust-ec2.json",
        "README.md",
    }
    assert {name for name in expected if not (INFRA / name).is_file()} == set()


# --- Ray cluster launcher ------------------------------------------------------------------------------------


def test_cluster_config_validates_against_rays_schema() -> None:
    import ray.autoscaler
    from ray.autoscaler._private.util import validate_config

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    config = yaml.safe_load((INFRA / "ray" / "cluster-aws.yaml").read_text())

    jsonschema.validate(config, schema)
    validate_config(config)  # Ray's own check: the schema plus the fields `ray up` requires


# What the network tests compare against. Network cards per instance type (EC2 User Guide, "Network cards"; the
# EFA layout for several cards: docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-acc-inst-types.html).
EFA_NETWORK_CARDS = {"p5.48xlarge": 32, "p5e.48xlarge": 32, "p5en.48xlarge": 16, "p4d.24xlarge": 4}
GPU_INSTANCES = {"p5.48xlarge", "p5e.48xlarge", "p5en.48xlarge", "p4d.24xlarge", "g5.48xlarge"}
MIN_GPU_NODES = 16  # 128 GPUs: the upper end of what the cluster files are designed for
SUBNET, SECURITY_GROUP, PLACEMENT_GROUP = "<SUBNET_ID>", "<SECURITY_GROUP_ID>", "sfp-efa"
DLAMI_PARAMETER = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
# The oldest NVIDIA driver each CUDA major version runs on (NVIDIA, "CUDA Compatibility", minor version compatibility).
MIN_DRIVER_FOR_CUDA = {11: 450, 12: 525, 13: 580}


def cluster_config() -> dict[str, Any]:
    return yaml.safe_load((INFRA / "ray" / "cluster-aws.yaml").read_text())


def image_cuda_major() -> int:
    """The CUDA major version of the platform image's base, which must agree with the CUDA of the locked torch."""
    dockerfile = (INFRA / "docker" / "Dockerfile").read_text()
    (cuda,) = re.findall(r"^ARG CUDA_IMAGE=nvidia/cuda:(\d+)\.\d+", dockerfile, re.M)
    (runtime,) = re.findall(r"^nvidia-cuda-runtime(?:-cu\d+)?==(\d+)\.", (REPO / "requirements.lock").read_text(), re.M)
    assert int(cuda) == int(runtime), "the image's CUDA and the locked torch's CUDA runtime disagree"
    return int(cuda)


def test_cluster_config_has_a_head_cpu_spot_workers_and_8_gpu_workers() -> None:
    config = cluster_config()
    types = config["available_node_types"]
    instance = {name: node["node_config"]["InstanceType"] for name, node in types.items()}

    assert config["provider"]["type"] == "aws"
    assert instance[config["head_node_type"]].startswith("m6i.")
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}
    assert instance["cpu-preprocess"] == "c6i.16xlarge"
    assert types["cpu-preprocess"]["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    assert {name: instance[name] for name in types if name.startswith("gpu-")} == {
        "gpu-h100x8": "p5.48xlarge",
        "gpu-h200x8": "p5e.48xlarge",
        "gpu-h200x8-en": "p5en.48xlarge",
        "gpu-a100x8": "p4d.24xlarge",
        "gpu-a10gx8": "g5.48xlarge",
    }
    assert all("InstanceMarketOptions" not in types[name]["node_config"] for name in types if name.startswith("gpu-"))
    for name, node in types.items():
        assert node["node_config"]["IamInstanceProfile"]["Name"].startswith("sfp-ray-"), name
        if name != config["head_node_type"]:
            assert 0 == node["min_workers"] < node["max_workers"] <= config["max_workers"], name


def test_cluster_config_allows_16_nodes_of_each_efa_type_next_to_the_cpu_nodes() -> None:
    config = cluster_config()
    types = config["available_node_types"]
    efa_types = [name for name, node in types.items() if node["node_config"]["InstanceType"] in EFA_NETWORK_CARDS]

    assert len(efa_types) == len(EFA_NETWORK_CARDS)
    assert {name: types[name]["max_workers"] for name in efa_types if types[name]["max_workers"] < MIN_GPU_NODES} == {}
    assert config["max_workers"] >= MIN_GPU_NODES + types["cpu-preprocess"]["max_workers"]


def test_efa_node_types_put_an_efa_on_every_network_card_in_one_placement_group() -> None:
    from ray.autoscaler._private.aws.config import _configure_from_network_interfaces

    config = cluster_config()
    for name, node in config["available_node_types"].items():
        node_config = node["node_config"]
        cards = EFA_NETWORK_CARDS.get(node_config["InstanceType"])
        if cards is None:
            assert "NetworkInterfaces" not in node_config and "Placement" not in node_config, name
            continue
        interfaces = node_config["NetworkInterfaces"]
        layout = [(i["NetworkCardIndex"], i["DeviceIndex"], i["InterfaceType"]) for i in interfaces]
        # AWS's layout: ENA at card 0 / device 0, EFA-only at card 0 / device 1, EFA-only at device 0 of other cards
        assert layout == [(0, 0, "interface"), (0, 1, "efa-only")] + [(c, 0, "efa-only") for c in range(1, cards)]
        assert {(i["SubnetId"], tuple(i["Groups"])) for i in interfaces} == {(SUBNET, (SECURITY_GROUP,))}, name
        assert node_config["Placement"] == {"GroupName": PLACEMENT_GROUP}, name
        options = node["docker"]["worker_run_options"]
        assert "--ulimit memlock=-1:-1" in options and any(o.startswith("--device=/dev/infiniband") for o in options)

    # Ray's own handling of NetworkInterfaces (what `ray up` runs first) accepts them and finds the one subnet
    configured = _configure_from_network_interfaces(config)
    for name, node in configured["available_node_types"].items():
        if "NetworkInterfaces" in node["node_config"]:
            assert set(node["node_config"]["SubnetIds"]) == {SUBNET}, name


def test_the_whole_cluster_is_in_one_subnet_one_security_group_and_private_addresses() -> None:
    config = cluster_config()
    provider = config["provider"]

    assert "," not in provider.get("availability_zone", "")  # one subnet is one availability zone
    assert provider["use_internal_ips"] is True  # EC2 gives no public IPv4 to an instance with several interfaces
    for name, node in config["available_node_types"].items():
        node_config = node["node_config"]
        interfaces = node_config.get("NetworkInterfaces", [])
        subnets = set(node_config.get("SubnetIds", [])) | {i["SubnetId"] for i in interfaces}
        groups = set(node_config.get("SecurityGroupIds", [])) | {g for i in interfaces for g in i["Groups"]}
        assert (subnets, groups) == ({SUBNET}, {SECURITY_GROUP}), name


def test_every_node_boots_the_dlami_and_gpu_nodes_refuse_a_driver_the_images_cuda_cannot_use() -> None:
    config = cluster_config()
    min_driver = MIN_DRIVER_FOR_CUDA[image_cuda_major()]
    cluster_text = (INFRA / "ray" / "cluster-aws.yaml").read_text()
    (stated,) = set(re.findall(rf"CUDA {image_cuda_major()} needs\s+(?:#\s+)?NVIDIA driver (\d+) or later", cluster_text))

    assert int(stated) == min_driver
    assert f"NVIDIA driver >= {min_driver}" in (INFRA / "README.md").read_text()
    for name, node in config["available_node_types"].items():
        assert node["node_config"]["ImageId"] == f"resolve:ssm:{DLAMI_PARAMETER}", name
        if node["node_config"]["InstanceType"] in GPU_INSTANCES:
            commands = node["initialization_commands"]
            assert "nvidia-smi --query-gpu=driver_version" in commands[0], name
            assert re.search(rf"-ge {min_driver}\b", commands[0]) and "exit 1" in commands[0], name
            assert commands[1:] == config["initialization_commands"], name  # and then what every node does


def test_the_image_carries_libfabric_and_the_ofi_nccl_plugin_with_the_efa_settings() -> None:
    dockerfile = (INFRA / "docker" / "Dockerfile").read_text()
    platform_stage = dockerfile.split(" AS mlflow-server")[0]
    env = dict(re.findall(r"^\s*(?:ENV\s+)?([A-Z_]+)=(\S+?)\s*\\?$", platform_stage, re.M))

    assert re.search(r"^ARG EFA_INSTALLER_VERSION=\d+\.\d+\.\d+$", platform_stage, re.M)
    assert "efa-installer.amazonaws.com/aws-efa-installer-${EFA_INSTALLER_VERSION}.tar.gz" in platform_stage
    assert "./efa_installer.sh -y" in platform_stage and "--skip-kmod" in platform_stage
    assert {"/opt/amazon/efa/lib", "/opt/amazon/ofi-nccl/lib"} <= set(env["LD_LIBRARY_PATH"].split(":"))
    assert (env["FI_PROVIDER"], env["FI_EFA_USE_DEVICE_RDMA"], env["FI_EFA_FORK_SAFE"]) == ("efa", "1", "1")
    assert env["NCCL_SOCKET_IFNAME"].startswith("^") and "lo" in env["NCCL_SOCKET_IFNAME"].lstrip("^").split(",")


# --- Kubernetes manifests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", RAY_MANIFESTS + MLFLOW_MANIFESTS, ids=lambda p: str(p.relative_to(INFRA)))
def test_manifest_has_the_fields_kubernetes_requires(path: Path) -> None:
    docs = documents(path)
    assert docs
    for doc in docs:
        assert doc["apiVersion"] == "v1" or re.fullmatch(r"[\w.-]+/v\d\w*", doc["apiVersion"])
        assert isinstance(doc.get("kind"), str)
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "sfp"
        for container in containers(doc):
            assert container["name"] and container["image"], container


def test_raycluster_has_a_head_and_cpu_and_gpu_worker_groups() -> None:
    (cluster,) = documents(INFRA / "kuberay" / "raycluster.yaml")
    spec = cluster["spec"]
    groups = {group["groupName"]: group for group in spec["workerGroupSpecs"]}

    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    assert spec["rayVersion"] == next(d.split("==")[1] for d in PROJECT["dependencies"] if d.startswith("ray["))
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert set(groups) == {"cpu-preprocess", "gpu-h100x8", "gpu-h200x8", "gpu-h200x8-en", "gpu-a100x8", "gpu-a10gx8"}
    for name, group in groups.items():
        assert 0 == group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], name
        (worker,) = containers(group)
        gpus = worker["resources"]["limits"].get("nvidia.com/gpu", 0)
        assert gpus == (0 if name == "cpu-preprocess" else 8), name
        assert worker["resources"]["requests"] == worker["resources"]["limits"], name
        assert ("tolerations" in group["template"]["spec"]) == (gpus > 0), name  # CPU pods stay off GPU nodes


def test_raycluster_pods_get_every_efa_of_their_node_shared_memory_and_ephemeral_storage() -> None:
    (cluster,) = documents(INFRA / "kuberay" / "raycluster.yaml")
    spec = cluster["spec"]
    pods = [("head", spec["headGroupSpec"])] + [(g["groupName"], g) for g in spec["workerGroupSpecs"]]

    for name, group in pods:
        pod = group["template"]["spec"]
        (container,) = pod["containers"]
        limits = container["resources"]["limits"]
        instance = pod.get("nodeSelector", {}).get("node.kubernetes.io/instance-type")
        assert limits.get("vpc.amazonaws.com/efa") == EFA_NETWORK_CARDS.get(instance), name
        assert limits["ephemeral-storage"].endswith("Gi"), name
        volumes = {v["name"]: v for v in pod["volumes"]}
        (shm,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/dev/shm"]
        assert volumes[shm["name"]]["emptyDir"]["medium"] == "Memory", name
        if instance in EFA_NETWORK_CARDS:
            assert group["maxReplicas"] >= MIN_GPU_NODES, name


def test_raycluster_states_its_head_fault_tolerance() -> None:
    text = (INFRA / "kuberay" / "raycluster.yaml").read_text()
    (cluster,) = documents(INFRA / "kuberay" / "raycluster.yaml")
    options = cluster["spec"].get("gcsFaultToleranceOptions")

    if options is not None:
        assert options["redisAddress"], "GCS fault tolerance needs its Redis"
    else:  # a decision, written where the next reader looks
        assert re.search(r"^# No GCS fault tolerance \(spec\.gcsFaultToleranceOptions.*\), on purpose\.", text, re.M)


@pytest.mark.parametrize("stage", ["preprocess", "pretrain", "finetune-ava"])
def test_rayjob_runs_its_stage_on_the_raycluster(stage: str) -> None:
    (job,) = documents(RAYJOBS[f"rayjob-{stage}"])
    (cluster,) = documents(INFRA / "kuberay" / "raycluster.yaml")
    command = {"preprocess": "preprocess", "pretrain": "train", "finetune-ava": "finetune-ava"}[stage]

    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    assert job["spec"]["entrypoint"].startswith(f"sfp {command} --config {APP_DIR}/configs/")
    # the entrypoint is a command line our CLI accepts, naming a recipe that exists in the repository
    from sfp_app.cli.main import build_parser

    arguments = build_parser().parse_args(job["spec"]["entrypoint"].split()[1:])
    assert arguments.command == command
    assert containers(job["spec"]["submitterPodTemplate"])


def test_ray_pods_get_mlflow_credentials_from_a_secret() -> None:
    (cluster,) = documents(INFRA / "kuberay" / "raycluster.yaml")
    for container in containers(cluster):
        env = {item["name"]: item for item in container["env"]}
        assert env["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow.sfp.svc.cluster.local:5000"
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "sfp-mlflow-client"


def test_mlflow_deployment_takes_every_credential_from_secrets() -> None:
    (deployment,) = documents(INFRA / "mlflow" / "k8s" / "deployment.yaml")
    (service,) = documents(INFRA / "mlflow" / "k8s" / "service.yaml")
    (container,) = containers(deployment)
    env = {item["name"]: item for item in container["env"]}

    secrets = ("MLFLOW_DB_USER", "MLFLOW_DB_PASSWORD", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY")
    for name in secrets:
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] in {"sfp-mlflow-db", "sfp-mlflow-auth"}
    assert "mlflow.sfp.svc.cluster.local:5000" in env["MLFLOW_ALLOWED_HOSTS"]["value"].split(",")
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    assert (service["metadata"]["name"], service["spec"]["ports"][0]["port"]) == ("mlflow", 5000)


def test_compose_runs_postgres_and_the_mlflow_image_with_file_secrets() -> None:
    compose = yaml.safe_load((INFRA / "mlflow" / "docker-compose.yaml").read_text())
    services = compose["services"]

    assert services["mlflow"]["image"] == MLFLOW_IMAGE
    assert re.fullmatch(r"postgres:\d+", services["postgres"]["image"])
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
    assert services["mlflow"]["environment"]["MLFLOW_DB_PASSWORD_FILE"].startswith("/run/secrets/")
    assert services["mlflow"]["ports"] == ["127.0.0.1:5000:5000"]
    assert all(secret["file"].startswith("./secrets/") for secret in compose["secrets"].values())
    assert "secrets/" in (INFRA / "mlflow" / ".gitignore").read_text().split()


# --- images --------------------------------------------------------------------------------------------------


def named_images() -> dict[str, set[str]]:
    """Every image each deployment file names."""
    images: dict[str, set[str]] = {}
    cluster = yaml.safe_load((INFRA / "ray" / "cluster-aws.yaml").read_text())
    images["ray/cluster-aws.yaml"] = {
        value for key in ("image", "head_image", "worker_image") for value in walk(cluster["docker"], key)
    } | set(walk(cluster["available_node_types"], "worker_image"))
    for path in RAY_MANIFESTS + MLFLOW_MANIFESTS:
        images[str(path.relative_to(INFRA))] = {c["image"] for doc in documents(path) for c in containers(doc)}
    return images


def test_every_ray_file_names_the_platform_image_and_mlflow_files_the_mlflow_image() -> None:
    images = named_images()
    ray_files = {name: found for name, found in images.items() if not name.startswith("mlflow/")}
    mlflow_files = {name: found for name, found in images.items() if name.startswith("mlflow/")}

    assert {name: found for name, found in ray_files.items() if found - {PLATFORM_IMAGE}} == {}
    assert {name: found for name, found in mlflow_files.items() if found - {MLFLOW_IMAGE}} == {}
    assert images["ray/cluster-aws.yaml"] == {PLATFORM_IMAGE}
    assert images["kuberay/raycluster.yaml"] == {PLATFORM_IMAGE}
    assert images["mlflow/k8s/deployment.yaml"] == {MLFLOW_IMAGE}
    # the launcher pulls from ECR and tags the image with exactly this name
    cluster_text = (INFRA / "ray" / "cluster-aws.yaml").read_text()
    assert f'docker tag "$registry/{PLATFORM_IMAGE}" {PLATFORM_IMAGE}' in cluster_text


def test_the_image_names_are_the_ones_the_dockerfile_builds_and_the_readme_documents() -> None:
    dockerfile = (INFRA / "docker" / "Dockerfile").read_text()
    readme = (INFRA / "README.md").read_text()

    assert f"-t {PLATFORM_IMAGE} ." in dockerfile and f"--target mlflow-server -t {MLFLOW_IMAGE} ." in dockerfile
    assert re.search(r"^FROM \S+ AS platform$", dockerfile, re.M)
    assert re.search(r"^FROM \S+ AS mlflow-server$", dockerfile, re.M)
    assert f"`{PLATFORM_IMAGE}`" in readme and f"`{MLFLOW_IMAGE}`" in readme
    assert f"WORKDIR {APP_DIR}\n" in dockerfile and "COPY configs ./configs" in dockerfile
    assert "-c /tmp/constraints.txt" in dockerfile and "COPY requirements.lock" in dockerfile


def test_every_path_the_dockerfile_copies_exists() -> None:
    dockerfile = (INFRA / "docker" / "Dockerfile").read_text()
    sources = [
        source
        for line in dockerfile.splitlines()
        if line.startswith("COPY ")
        for source in [word for word in line.split()[1:] if not word.startswith("--")][:-1]
    ]
    assert "requirements.lock" in sources
    assert [source for source in sources if not (REPO / source).exists()] == []


# --- recipes -------------------------------------------------------------------------------------------------

CONFIG_PATH = re.compile(r"(?:/opt/sfp/)?(configs/[\w./-]+\.ya?ml)")


def referenced_configs() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(INFRA.rglob("*")):
        if path.is_file():
            paths = set(CONFIG_PATH.findall(path.read_text(errors="replace")))
            if paths:
                found[str(path.relative_to(INFRA))] = paths
    return found


def test_every_recipe_the_infra_files_reference_exists_in_the_repo() -> None:
    references = referenced_configs()
    jobs = {f"kuberay/{path.name}" for path in RAYJOBS.values()}

    assert jobs <= set(references), "each RayJob names its recipe"
    assert {
        "configs/datasets/kinetics400.yaml",
        "configs/kinetics/slowfast_r50_8x8.yaml",
        "configs/ava/slowfast_r50_8x8.yaml",
    } <= set().union(*references.values())
    missing = {name: sorted(p for p in paths if not (REPO / p).is_file()) for name, paths in references.items()}
    assert {name: paths for name, paths in missing.items() if paths} == {}


def test_the_pipeline_stages_meet_in_the_same_frame_stores() -> None:
    """Each recipe reads the frame store that its dataset's preprocessing job writes."""

    def load(path: str) -> dict[str, Any]:
        return yaml.safe_load((REPO / path).read_text())

    kinetics = load("configs/datasets/kinetics400.yaml")["output"]["uri"]
    ava = load("configs/datasets/ava_v2.2.yaml")["output"]["uri"]
    recipes = sorted((REPO / "configs" / "kinetics").glob("*.yaml"))

    assert recipes and {p.name: load(str(p.relative_to(REPO)))["data"]["framestore"] for p in recipes} == {
        p.name: kinetics for p in recipes
    }
    ava_data = load("configs/ava/slowfast_r50_8x8.yaml")["data"]
    assert ava_data["framestore"] == ava
    assert ava_data["val_framestore"] == ava.replace("/train-", "/val-")  # README: the same YAML with the val CSV


# --- buckets and the IAM policies ----------------------------------------------------------------------------

S3_BUCKET = re.compile(r"s3://([a-z0-9][a-z0-9.-]*[a-z0-9])")  # `s3://<bucket>` placeholders do not match
IAM_POLICIES = sorted((INFRA / "iam").glob("*.json"))


def statements(path: Path) -> list[dict[str, Any]]:
    policy = json.loads(path.read_text())
    assert policy["Version"] == "2012-10-17"
    return [
        {**s, "Action": [s["Action"]] if isinstance(s["Action"], str) else s["Action"],
         "Resource": [s["Resource"]] if isinstance(s.get("Resource"), str) else s.get("Resource", [])}
        for s in policy["Statement"]
    ]


def granted_buckets(path: Path) -> set[str]:
    """Buckets the policy lets its role list and read and write objects in."""
    allowed: dict[str, set[str]] = {}
    for statement in statements(path):
        assert statement["Effect"] == "Allow"
        for resource in statement["Resource"]:
            if resource.startswith("arn:aws:s3:::"):
                allowed.setdefault(resource.removeprefix("arn:aws:s3:::"), set()).update(statement["Action"])
    return {
        bucket
        for bucket, actions in allowed.items()
        if "/" not in bucket
        and "s3:ListBucket" in actions
        and {"s3:GetObject", "s3:PutObject"} <= allowed.get(f"{bucket}/*", set())
    }


def named_buckets() -> dict[str, set[str]]:
    """Every s3:// bucket named in configs/ and infra/, by file."""
    found: dict[str, set[str]] = {}
    for root in (REPO / "configs", INFRA):
        for path in sorted(root.rglob("*")):
            if path.is_file():
                names = set(S3_BUCKET.findall(path.read_text(errors="replace")))
                if names:
                    found[str(path.relative_to(REPO))] = names
    return found


def test_every_bucket_named_in_configs_and_infra_is_granted_by_the_iam_policies() -> None:
    granted = set().union(*(granted_buckets(path) for path in IAM_POLICIES))
    named = named_buckets()

    assert named and {name: found - granted for name, found in named.items() if found - granted} == {}


def test_one_set_of_bucket_names_the_local_stack_and_the_cloud_share() -> None:
    from sfp_app.localstack.stack import StackConfig

    policies = {path.stem: granted_buckets(path) for path in IAM_POLICIES}

    assert policies == {"sfp-mlflow": {"sfp-mlflow"}, "sfp-ray-head": set(), "sfp-ray-node": {"sfp-data"}, "trust-ec2": set()}
    assert set().union(*policies.values()) == set(StackConfig().buckets)
    assert set().union(*named_buckets().values()) == set(StackConfig().buckets)
    assert StackConfig().mlflow_artifacts_destination.startswith("s3://sfp-mlflow/")


def test_the_iam_policies_name_no_wildcard_bucket_and_the_head_passes_only_the_node_role() -> None:
    for path in IAM_POLICIES:
        for statement in statements(path):
            s3_actions = [a for a in statement["Action"] if a.startswith("s3:")]
            assert not s3_actions or all(r.startswith("arn:aws:s3:::sfp-") for r in statement["Resource"]), path.name
            assert "*" not in statement["Action"] and "s3:*" not in statement["Action"], path.name
    (pass_role,) = [s for s in statements(INFRA / "iam" / "sfp-ray-head.json") if "iam:PassRole" in s["Action"]]
    assert {r.rsplit("/", 1)[1] for r in pass_role["Resource"]} == {"sfp-ray-node"}


# --- credentials ---------------------------------------------------------------------------------------------

CREDENTIAL_PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(r"(?i)aws_secret_access_key\s*[:=]\s*['\"]?[A-Za-z0-9/+=]{20,}"),
    "literal password": re.compile(r"(?im)^[\s-]*[\w.-]*password\s*[:=][ \t]*['\"]?(?![$<{\s'\"]|valueFrom|$)\S+"),
    "password in a URL": re.compile(r"://[^/\s:@$]+:(?![$<{])[^@\s/]+@"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "long literal secret or token": re.compile(
        r"(?i)(?:secret|token)[\w-]*\s*[:=][ \t]*['\"]?(?![$<{/.])[A-Za-z0-9/+=_-]{32,}"
    ),
}


def credential_findings(text: str) -> list[str]:
    return [name for name, pattern in CREDENTIAL_PATTERNS.items() if pattern.search(text)]


@pytest.mark.parametrize(
    "text",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "  password: hunter22",
        "POSTGRES_PASSWORD: mlflow",
        "postgresql://mlflow:hunter22@db:5432/mlflow",
        "-----BEGIN RSA PRIVATE KEY-----",
        "RAY_AUTH_TOKEN=0123456789abcdef0123456789abcdef",
    ],
)
def test_the_credential_check_catches(text: str) -> None:
    assert credential_findings(text)


@pytest.mark.parametrize(
    "text",
    [
        "password: ${POSTGRES_PASSWORD}",
        'password: "${POSTGRES_PASSWORD}"',
        "POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password",
        "- name: MLFLOW_DB_PASSWORD\n  valueFrom:",
        "secretKeyRef: {name: sfp-mlflow-db, key: password}",
        'backend="postgresql://${MLFLOW_DB_USER}:${quoted_password}@${MLFLOW_DB_HOST}"',
        "--from-literal=password=\"$(openssl rand -hex 24)\"",
    ],
)
def test_the_credential_check_lets_references_pass(text: str) -> None:
    assert credential_findings(text) == []


@pytest.mark.parametrize(
    "path", sorted(p for p in INFRA.rglob("*") if p.is_file()), ids=lambda p: str(p.relative_to(INFRA))
)
def test_no_credential_literal_in_infra(path: Path) -> None:
    assert credential_findings(path.read_text(errors="replace")) == []


# --- the MLflow entrypoint -----------------------------------------------------------------------------------


def test_mlflow_entrypoint_reads_secret_files_and_keeps_the_password_off_the_command_line(tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    record = tmp_path / "record.json"
    (fake_bin / "mlflow").write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "ini = open(os.environ['MLFLOW_AUTH_CONFIG_PATH']).read()\n"
        f"json.dump({{'argv': sys.argv[1:], 'env': dict(os.environ), 'ini': ini}}, open({str(record)!r}, 'w'))\n"
    )
    (fake_bin / "mlflow").chmod(0o755)
    (fake_bin / "python").symlink_to(sys.executable)
    password_file = tmp_path / "db_password"
    password_file.write_text("p@ss/w:rd")
    env = {
        "PATH": f"{fake_bin}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),  # where the entrypoint writes its auth ini
        "MLFLOW_DB_HOST": "db.internal",
        "MLFLOW_DB_USER": "mlflow",
        "MLFLOW_DB_PASSWORD_FILE": str(password_file),
        "MLFLOW_ARTIFACTS_DESTINATION": "s3://sfp-mlflow/artifacts",
        "MLFLOW_ALLOWED_HOSTS": "mlflow.example.com",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "k",
    }
    subprocess.run(["sh", str(INFRA / "mlflow" / "mlflow-entrypoint.sh")], env=env, check=True, timeout=30)
    seen = json.loads(record.read_text())

    uri = "postgresql://mlflow:p%40ss%2Fw%3Ard@db.internal:5432/mlflow"
    assert seen["env"]["MLFLOW_BACKEND_STORE_URI"] == uri
    assert f"database_uri = {uri}" in seen["ini"]
    assert not any("p@ss" in arg or "p%40ss" in arg for arg in seen["argv"])
    assert seen["argv"][:1] == ["server"]
    assert seen["argv"][seen["argv"].index("--allowed-hosts") + 1] == "mlflow.example.com"
    assert seen["argv"][seen["argv"].index("--app-name") + 1] == "basic-auth"
    assert seen["env"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert oct(os.stat(seen["env"]["MLFLOW_AUTH_CONFIG_PATH"]).st_mode & 0o777) == "0o600"


def test_mlflow_entrypoint_refuses_to_start_without_a_database_password(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "MLFLOW_DB_HOST": "db", "MLFLOW_DB_USER": "mlflow"}
    result = subprocess.run(
        ["sh", str(INFRA / "mlflow" / "mlflow-entrypoint.sh")], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "MLFLOW_DB_PASSWORD" in result.stderr


def test_the_ava_finetune_recipe_validates_and_starts_from_the_pretrain_jobs_model() -> None:
    from sfp.config import load_config
    from sfp_train.ava.recipe import AvaRecipe
    from sfp_train.recipe import TrainRecipe

    ava = load_config(AvaRecipe, REPO / "configs" / "ava" / "slowfast_r50_8x8.yaml")
    kinetics = load_config(TrainRecipe, REPO / "configs" / "kinetics" / "slowfast_r50_8x8.yaml")
    assert ava.init.from_model == f"models:/{kinetics.registry.model_name}@{kinetics.registry.alias}"
    assert ava.model.task == "detection"
    assert ava.model.model_copy(update={"task": "classification"}) == kinetics.model
