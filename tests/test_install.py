"""`pip install .` in a fresh venv works from any directory: the grammar and the
report's page files ship inside the wheel, and the console script runs the seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile

from conftest import MODELS, ROOT


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert p.returncode == 0, (cmd, p.stdout, p.stderr)
    return p


def test_wheel_installs_into_a_fresh_venv_and_runs_anywhere(tmp_path):
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(ROOT)])
    (wheel,) = wheels.glob("graphdsl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "graphdsl/grammars/graphdsl.lark" in names
    for asset in ("report.css", "report.js", "report.html"):   # the HTML report's page
        assert f"graphdsl/assets/{asset}" in names
    assert not any(n.startswith("tests/") for n in names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    # graphdsl's dependencies come from this test's environment (no download),
    # graphdsl itself only from the wheel.
    site = run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    with open(os.path.join(site, "deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    where = run([str(py), "-c", "import graphdsl; print(graphdsl.__file__)"], cwd=elsewhere, env=env)
    assert where.stdout.startswith(str(venv))
    p = run([str(venv / "bin" / "graphdsl"), "run", str(MODELS / "linear.bp"), "--target", "150",
             "--json"], cwd=elsewhere, env=env)
    d = json.loads(p.stdout)
    assert d["converged"] and d["iterations"][0]["gradients"]["b"] == 63.0
    # the report's style, script and template come from the installed package
    run([str(venv / "bin" / "graphdsl"), "report", str(MODELS / "linear.bp"), "--target", "150",
         "-o", "page.html"], cwd=elsewhere, env=env)
    page = (elsewhere / "page.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<style>\n:root {" in page
    assert "window.graphdslReport" in page and 'id="graphdsl-data"' in page
