"""`sfp` is the shared layer: it imports neither pipeline (`sfp_train`, `sfp_preprocess`) nor the application
(`sfp_app`), neither in its source (module level or inside functions) nor when every module of it is imported."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import sfp

SFP_DIR = Path(sfp.__file__).resolve().parent
ABOVE = ("sfp_train", "sfp_preprocess", "sfp_app")


def sfp_modules() -> list[str]:
    names = []
    for path in sorted(SFP_DIR.rglob("*.py")):
        parts = path.relative_to(SFP_DIR.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def imported_names(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_no_sfp_module_imports_a_pipeline_or_the_application_anywhere_in_its_source():
    found = {str(path.relative_to(SFP_DIR)): name for path in SFP_DIR.rglob("*.py") for name in imported_names(path)
             if name.split(".")[0] in ABOVE}
    assert found == {}
    assert len(list(SFP_DIR.rglob("*.py"))) >= 15  # the walk saw the package (framestore/ included)


def test_the_walk_would_see_a_function_level_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from sfp_train.recipe import TrainRecipe\n    import sfp_preprocess.job\n")
    assert imported_names(module) == ["sfp_train.recipe", "sfp_preprocess.job"]


def test_importing_every_sfp_module_loads_no_pipeline():
    modules = sfp_modules()
    assert {"sfp.config", "sfp.tracking", "sfp.raycluster", "sfp.framestore", "sfp.console"} <= set(modules)
    script = ("import importlib, json, sys\n"
              f"for name in {modules!r}:\n    importlib.import_module(name)\n"
              "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                       check=True).stdout)
    assert "sfp" in loaded
    assert [name for name in ABOVE if name in loaded] == []
