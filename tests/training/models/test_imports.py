"""The model package is pure PyTorch: it imports nothing of the platform, and what every Ray Data worker imports
(`packing`, the builders) does not load the counts or the presets."""

import json
import subprocess
import sys
from pathlib import Path

import sfp_train.models

SCRIPT = """
import importlib, json, sys
loaded = {}
for step, module in [("packing", "sfp_train.models.packing"), ("builders", "sfp_train.models.slowfast"),
                     ("package", "sfp_train.models")]:
    importlib.import_module(module)
    loaded[step] = sorted(name for name in sys.modules if name.startswith(("sfp", "sfp_train.models.")))
for name in MODULES:
    importlib.import_module(name)
loaded["every module"] = sorted(name for name in sys.modules if name == "sfp" or name.startswith("sfp."))
print(json.dumps(loaded))
"""


def test_packing_and_the_builders_load_neither_the_platform_nor_the_summary_nor_the_presets():
    package = Path(sfp_train.models.__file__).parent
    modules = sorted(f"sfp_train.models.{path.stem}" for path in package.glob("*.py") if path.stem != "__init__")
    assert {"sfp_train.models.summary", "sfp_train.models.presets", "sfp_train.models.pytorchvideo_import"} <= set(
        modules
    )
    output = subprocess.run(
        [sys.executable, "-c", f"MODULES = {modules!r}\n{SCRIPT}"], capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(output)
    for step in ("packing", "builders", "package"):
        assert not {"sfp", "sfp_train.models.summary", "sfp_train.models.presets"} & set(loaded[step]), step
        assert not [name for name in loaded[step] if name.startswith("sfp.")], step
    assert "sfp_train.models.packing" in loaded["packing"] and "sfp_train.models.slowfast" in loaded["builders"]
    assert loaded["every module"] == []  # not even the summary, the presets or the PyTorchVideo key mapping


def test_the_model_section_is_as_strict_as_every_other_section():
    import pytest
    from pydantic import ValidationError

    from sfp.config import StrictModel
    from sfp_train.models import ModelConfig

    assert ModelConfig.model_config == StrictModel.model_config
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ModelConfig(depht=50)
