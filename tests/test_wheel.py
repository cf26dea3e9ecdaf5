"""The built wheel works anywhere: installed into a fresh virtualenv and run from an empty
folder, ``atrous demo`` and ``atrous reproduce`` find their recipes inside the package and
write under the current folder.

The new environment reuses this one's installed dependencies (torch is large): a ``.pth``
line adds this environment's ``site-packages`` as a plain folder, so the ``.pth`` files
inside it, the editable install's ``__editable__*`` among them, are not run and the checkout
stays off the path.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel built from this checkout installed; its ``bin`` folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp / "dist"),
         str(ROOT)], cwd=tmp)  # fmt: skip
    wheels = list((tmp / "dist").glob("atrous-*.whl"))
    assert len(wheels) == 1, wheels
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)  # ensurepip: offline
    python = env_dir / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                  cwd=tmp).strip()  # fmt: skip
    ours = [p for p in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}
            if Path(p).is_dir()]  # fmt: skip
    (Path(purelib) / "reuse_test_env.pth").write_text("\n".join(ours) + "\n")
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         str(wheels[0])], cwd=tmp)  # fmt: skip
    return env_dir / "bin"


def clean_env(bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return {**env, "PATH": f"{bin_dir}:{env.get('PATH', '')}", "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_the_wheel_is_imported_from_the_venv_not_the_checkout(installed, tmp_path):
    code = ("import atrous, json, sys; from atrous.recipe.configs import recipe_names; "
            "print(json.dumps([atrous.__file__, sys.path, recipe_names()]))")  # fmt: skip
    out = run([str(installed / "python"), "-c", code], tmp_path, clean_env(installed))
    file, path, recipes = json.loads(out)
    assert Path(file).is_relative_to(installed.parent), file
    assert not any(Path(p).resolve() == ROOT for p in path if p), path
    assert {"demo", "reproduce", "own_data"} <= set(recipes)


@pytest.mark.slow
def test_demo_and_reproduce_run_from_an_empty_folder(installed, tmp_path):
    env = clean_env(installed)
    demo = [str(installed / "atrous"), "demo", "--quiet", "--set", "train.iterations=2",
            "--set", "data.synthetic_val_length=2"]  # fmt: skip
    assert "demo: mIOU" in run(demo, tmp_path, env)
    assert (tmp_path / "figures" / "demo_predictions.png").is_file()
    assert (tmp_path / "runs" / "demo" / "checkpoint.pt").is_file()
    reproduce = [str(installed / "atrous"), "reproduce", "tab1", "--budget", "quick", "--only",
                 "os8", "--quiet"]  # fmt: skip
    assert "1 new row(s)" in run(reproduce, tmp_path, env)
    rows = (tmp_path / "runs" / "reproduce-quick" / "small" / "tab1.csv").read_text().splitlines()
    assert len(rows) == 2 and "(installed)" in rows[1]
