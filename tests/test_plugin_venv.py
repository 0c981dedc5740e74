"""The worked example plugin (examples/graphdsl-extra-ops), pip-installed for
real into a virtual environment of this test's own, then used from a .bp
model through that environment's `graphdsl` command with no other step.

Offline and fast: the venv is made without pip, and a .pth file lends it the
site-packages of the environment running the tests (graphdsl's dependencies,
pip, and hatchling, the build backend, from the `test` extra). graphdsl itself
and the plugin are then built and installed into the venv by pip with
`--no-index --no-deps --no-build-isolation`: nothing is downloaded.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import hatchling
import lark
import networkx
import pip
import sympy

from conftest import ROOT
from graphdsl.ops.builtin import BUILTIN_OPS

EXAMPLE = ROOT / "examples" / "graphdsl-extra-ops"


def _run(cmd, env, cwd, check=True):
    r = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True,
                       timeout=300)
    if check:
        assert r.returncode == 0, f"{cmd}\n{r.stdout}\n{r.stderr}"
    return r


def test_example_plugin_installed_into_a_venv_is_usable_from_a_model(tmp_path):
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "GRAPHDSL_NO_ENTRY_POINTS", "VIRTUAL_ENV")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    _run([sys.executable, "-m", "venv", "--without-pip", venv], env, tmp_path)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / "python"
    purelib = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        env, tmp_path).stdout.strip())
    lent = sorted({str(Path(m.__file__).resolve().parent.parent)
                   for m in (lark, networkx, pip, hatchling, sympy)})
    (purelib / "_lent_by_the_test.pth").write_text("\n".join(lent) + "\n", encoding="utf-8")

    _run([py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-build-isolation",
          "--ignore-installed", "--no-cache-dir", ROOT, EXAMPLE], env, tmp_path)
    where = _run([py, "-c", "import graphdsl, graphdsl_extra_ops; "
                            "print(graphdsl.__file__); print(graphdsl_extra_ops.__file__)"],
                 env, tmp_path).stdout.split()
    assert all(Path(p).resolve().is_relative_to(venv.resolve()) for p in where), where

    graphdsl = bindir / "graphdsl"
    model = tmp_path / "softplus.bp"
    model.write_text("param x = 0.5\ny = softplus(x)\ntarget 2\n", encoding="utf-8")

    # one forward and backward pass: ln(1 + e^0.5) and its derivative, the sigmoid
    r = _run([graphdsl, "run", model, "--target", "0.974", "--max-iter", "1", "--json"], env, tmp_path,
             check=False)
    first = json.loads(r.stdout)["iterations"][0]
    assert math.isclose(first["values"]["y"], math.log1p(math.exp(0.5)), rel_tol=1e-12)
    assert math.isclose(first["gradients"]["x"], 1 / (1 + math.exp(-0.5)), rel_tol=1e-12)

    # solved towards the model's own target: softplus(x) = 2 at x = ln(e² - 1)
    r = _run([graphdsl, "run", model, "--json"], env, tmp_path)
    result = json.loads(r.stdout)
    assert result["converged"] is True
    assert math.isclose(result["result"]["values"]["x"], math.log(math.e ** 2 - 1), rel_tol=1e-4)

    # graphdsl ops says where each op came from
    r = _run([graphdsl, "ops"], env, tmp_path)
    rows = {line.split()[0]: line for line in r.stdout.splitlines()[2:]}
    for name, cls in (("softplus", "Softplus"), ("leaky_relu", "LeakyRelu"), ("gelu", "Gelu")):
        assert rows[name].endswith(f"package graphdsl-extra-ops 0.1.0, entry point {name} = "
                                   f"graphdsl_extra_ops.ops:{cls}"), rows[name]
    assert "∂/∂x = exp(x)/(exp(x) + 1)" in rows["softplus"]
    assert rows["exp"].endswith("built-in")

    # the plugin's ops pass the conformance check there
    r = _run([graphdsl, "ops", "--check", "softplus", "leaky_relu", "gelu"], env, tmp_path)
    assert "3 ops checked: all passed" in r.stdout

    # and the deliberately wrong op does not
    r = _run([graphdsl, "ops", "--check", "--plugin", EXAMPLE.parent / "broken_ops.py"], env,
             tmp_path, check=False)
    assert r.returncode == 1
    assert "gaussian: ∂/∂x at (x = -2.3): partials gives -0.0231921" in r.stdout
    assert r.stderr.strip() == f"error: 1 of {len(BUILTIN_OPS) + 4} ops failed the check: gaussian"

    # control: with installed plugins turned off, the same model does not know softplus
    r = _run([graphdsl, "run", model], {**env, "GRAPHDSL_NO_ENTRY_POINTS": "1"}, tmp_path,
             check=False)
    assert r.returncode == 2 and "unknown function 'softplus'" in r.stderr
