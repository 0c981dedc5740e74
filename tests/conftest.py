"""Shared fixtures: paths to the example models, a CLI runner that captures
stdout, stderr and the exit code in-process."""

from __future__ import annotations

import io
import shutil
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from graphdsl.ops import Op

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
#: the data chapter's example models and their data
REG = MODELS / "regression.bp"
REG_CSV = MODELS / "data" / "regression.csv"
NEURON = MODELS / "neuron.bp"
NEURON_CSV = MODELS / "data" / "neuron.csv"
XOR = MODELS / "xor.bp"


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*argv: str) -> Result:
    from graphdsl.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def linear_path():
    return MODELS / "linear.bp"


class Cube(Op):
    """The smallest plugin an op can be (name, arity, forward, partials): no symbol, no sympy
    form, no templates."""

    name = "cube"
    arity = 1

    def forward(self, x):
        return x ** 3

    def partials(self, x, out):
        return (3 * x * x,)


#: Debian's chromium, driven by playwright (never `playwright install`, which downloads a browser)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
