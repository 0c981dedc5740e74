"""graphdsl fit: the optimizers (against torch.optim, or torch's documented
update rules written out), the epochs and mini-batches, the trace, the CLI's
table, JSON, plot and exit codes, and the example models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import graphdsl
from graphdsl.fit import fit

from conftest import MODELS, REG, REG_CSV

NEURON_TEXT = (MODELS / "neuron.bp").read_text()


def small_data(n=40, seed=1):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    label = (x1 + 0.5 * x2 + 0.3 * rng.normal(size=n) > 0).astype(float)
    return x1, x2, label


def neuron(x1, x2, label):
    return graphdsl.loads(NEURON_TEXT, "neuron.bp").set_data(x1=x1, x2=x2, label=label)


def batches(n, bs, epochs, seed):
    """The order fit promises: default_rng(seed).permutation(n) each epoch."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(n) if bs < n else np.arange(n)
        yield [order[s:s + bs] for s in range(0, n, bs)]


def neuron_grad(p, x1, x2, label):
    """∂ mean logistic loss / ∂(w1, w2, b), written out by hand."""
    z = p[0] * x1 + p[1] * x2 + p[2]
    s = 1 / (1 + np.exp(-z))
    d = (s - label) / len(x1)
    return np.array([np.dot(d, x1), np.dot(d, x2), d.sum()])


def by_hand(name, lr, x1, x2, label, bs, epochs, seed):
    """torch.optim's documented update rules (SGD, SGD with momentum 0.9, Adam)."""
    p = np.zeros(3)
    buf = m = v = None
    t = 0
    for epoch in batches(len(x1), bs, epochs, seed):
        for idx in epoch:
            g = neuron_grad(p, x1[idx], x2[idx], label[idx])
            t += 1
            if name == "sgd":
                p = p - lr * g
            elif name == "momentum":
                buf = g if buf is None else 0.9 * buf + g
                p = p - lr * buf
            else:
                m = 0.1 * g if m is None else 0.9 * m + 0.1 * g
                v = 0.001 * g * g if v is None else 0.999 * v + 0.001 * g * g
                mhat, vhat = m / (1 - 0.9 ** t), v / (1 - 0.999 ** t)
                p = p - lr * mhat / (np.sqrt(vhat) + 1e-8)
    return p


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("bs", [None, 7])
def test_optimizers_follow_torchs_documented_rules(name, bs):
    x1, x2, label = small_data()
    t = fit(neuron(x1, x2, label), epochs=5, lr=0.1, optimizer=name, batch_size=bs, seed=4,
            tol=0.0)
    want = by_hand(name, 0.1, x1, x2, label, bs or len(x1), 5, 4)
    got = [t.result()["values"][q] for q in ("w1", "w2", "b")]
    assert got == pytest.approx(want.tolist(), rel=1e-12, abs=1e-14)
    assert t.steps == 5 * math.ceil(len(x1) / (bs or len(x1)))


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_optimizers_agree_with_torch_optim(name):
    torch = pytest.importorskip("torch")
    x1, x2, label = small_data()
    bs, epochs, seed, lr = 8, 4, 2, 0.05
    t = fit(neuron(x1, x2, label), epochs=epochs, lr=lr, optimizer=name, batch_size=bs,
            seed=seed, tol=0.0)
    X1, X2, Y = (torch.tensor(a, dtype=torch.float64) for a in (x1, x2, label))
    w1, w2, b = (torch.zeros((), dtype=torch.float64, requires_grad=True) for _ in range(3))
    opt = {"sgd": lambda ps: torch.optim.SGD(ps, lr=lr),
           "momentum": lambda ps: torch.optim.SGD(ps, lr=lr, momentum=0.9),
           "adam": lambda ps: torch.optim.Adam(ps, lr=lr)}[name]([w1, w2, b])
    for epoch in batches(len(x1), bs, epochs, seed):
        for idx in epoch:
            i = torch.tensor(idx)
            p = torch.sigmoid(w1 * X1[i] + w2 * X2[i] + b)
            loss = torch.mean(-(Y[i] * torch.log(p) + (1 - Y[i]) * torch.log(1 - p)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    got = [t.result()["values"][q] for q in ("w1", "w2", "b")]
    assert got == pytest.approx([w1.item(), w2.item(), b.item()], rel=1e-12, abs=1e-14)


def test_each_row_is_measured_on_the_whole_data_set():
    x1, x2, label = small_data()
    m = neuron(x1, x2, label)
    t = fit(m, epochs=3, lr=0.5, batch_size=5, tol=0.0)
    assert [e.epoch for e in t.epochs] == [0, 1, 2, 3]
    for e in t.epochs:
        p = np.array([e.values["w1"], e.values["w2"], e.values["b"]])
        g = neuron_grad(p, x1, x2, label)
        assert [e.gradients[q] for q in ("w1", "w2", "b")] == pytest.approx(g.tolist(), rel=1e-10)
        again = graphdsl.loads(NEURON_TEXT).set_data(x1=x1, x2=x2, label=label)
        again.set(w1=p[0], w2=p[1], b=p[2])
        assert e.loss == pytest.approx(again.forward()["loss"], rel=1e-12)
    # the model's own params are left as they were
    assert m.param_values == {"w1": 0.0, "w2": 0.0, "b": 0.0}


def test_the_same_seed_gives_the_same_fit_and_another_seed_another():
    x1, x2, label = small_data()
    a = fit(neuron(x1, x2, label), epochs=3, batch_size=4, seed=1, tol=0.0).to_json()
    b = fit(neuron(x1, x2, label), epochs=3, batch_size=4, seed=1, tol=0.0).to_json()
    c = fit(neuron(x1, x2, label), epochs=3, batch_size=4, seed=2, tol=0.0).to_json()
    assert a == b and a["result"] != c["result"]


def test_fit_stops_when_the_largest_gradient_is_below_tol():
    t = fit(graphdsl.load(REG, data=REG_CSV), epochs=500, tol=1e-3)
    last = t.last
    assert t.converged and t.status == "converged"
    assert max(abs(last.gradients[p]) for p in ("w", "b")) < 1e-3
    prev = t.epochs[-2]
    assert max(abs(prev.gradients[p]) for p in ("w", "b")) >= 1e-3


def test_a_fit_that_blows_up_is_a_numeric_failure_with_the_rows_so_far():
    t = fit(graphdsl.load(REG, data=REG_CSV), epochs=500, lr=5.0)
    assert t.status == "numeric" and not t.converged and len(t.epochs) > 3
    assert all(math.isfinite(e.loss) for e in t.epochs)
    assert "smaller --lr" in t.failure.hint and "epoch" in t.failure.message
    json.dumps(t.to_json(), allow_nan=False)     # every number in the JSON is finite


def test_a_domain_error_in_a_mini_batch_step_ends_the_fit_with_its_rows():
    # the first row is fine (w = 1); a later one-sample step drives w below 0, where the
    # single-number sqrt raises: fit keeps the rows so far instead of letting it escape
    m = graphdsl.loads("data x = [1, 2, 3, 4]\nparam w = 1\nloss = sqrt(mean(w*x))\noutput loss")
    t = fit(m, epochs=5, lr=10, batch_size=1)
    assert t.status == "numeric" and not t.converged and len(t.epochs) == 1
    assert "square root" in t.failure.message and "step" in t.failure.message


def test_options_are_checked():
    m = graphdsl.load(REG, data=REG_CSV)
    for bad, match in [(dict(optimizer="rmsprop"), "unknown optimizer"),
                       (dict(lr=0.0), "--lr must be a positive number"),
                       (dict(batch_size=0), "--batch-size must be"),
                       (dict(epochs=-1), "--epochs must be"),
                       (dict(tol=-1.0), "--tol must be")]:
        with pytest.raises(graphdsl.UsageError, match=match):
            fit(m, **bad)


def test_a_model_without_data_is_trained_on_its_output():
    m = graphdsl.load(MODELS / "gd_square.bp")
    t = m.fit(epochs=200, lr=0.3, optimizer="sgd", tol=1e-6)
    assert t.converged and abs(t.result()["values"][m.params[0]]) < 1e-5


# --- the examples ---------------------------------------------------------------------------

def test_xor_trains_below_0_01_from_its_fixed_start():
    m = graphdsl.load(MODELS / "xor.bp")
    t = m.fit(optimizer="adam", lr=0.05, epochs=300, tol=1e-3)
    assert t.converged and t.last.loss < 0.01
    trained = {k: v for k, v in t.result()["values"].items() if k in m.params}
    out = graphdsl.load(MODELS / "xor.bp").set(**trained).forward()["out"]
    assert np.abs(out - np.array([0, 1, 1, 0])).max() < 0.1


def test_neuron_example_separates_its_clouds():
    m = graphdsl.load(MODELS / "neuron.bp", data=MODELS / "data" / "neuron.csv")
    t = m.fit(lr=1.0, epochs=500)
    assert t.converged
    r = t.result()["values"]
    p = graphdsl.load(MODELS / "neuron.bp", data=MODELS / "data" / "neuron.csv").set(
        w1=r["w1"], w2=r["w2"], b=r["b"]).forward()["p"]
    accuracy = ((p > 0.5) == (m.data.columns["label"] == 1)).mean()
    assert accuracy > 0.85


def test_the_data_files_are_made_by_their_script(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_data", MODELS / "data" / "make_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "HERE", str(tmp_path))
    mod.regression()
    mod.neuron()
    for name in ("regression.csv", "neuron.csv"):
        assert (tmp_path / name).read_bytes() == (MODELS / "data" / name).read_bytes()


# --- the command line ---------------------------------------------------------------------

def test_cli_fit_prints_one_row_per_epoch_and_converges(cli):
    r = cli("fit", REG, "--data", REG_CSV)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == (f"{REG}: fit loss over 100 samples of {REG_CSV} · sgd, lr 0.1, full batch")
    assert lines[2].split() == ["epoch", "loss", "w", "b", "∂loss/∂w", "∂loss/∂b"]
    rows = [l.split() for l in lines[4:] if l and l[0].isdigit()]
    assert [int(row[0]) for row in rows] == list(range(len(rows)))
    assert lines[-1].startswith(f"converged after {len(rows) - 1} epochs: w = ")
    assert r.err == ""


def test_cli_fit_in_chinese_has_the_same_cells_and_its_own_words(cli):
    en = cli("fit", REG, "--data", REG_CSV, "--epochs", "4", "--lang", "en")
    zh = cli("fit", REG, "--data", REG_CSV, "--epochs", "4", "--lang", "zh")
    assert en.code == zh.code == 1
    en_lines, zh_lines = en.out.splitlines(), zh.out.splitlines()
    assert zh_lines[0] == f"{REG}：用 100 个样本（{REG_CSV}）训练 loss · sgd，学习率 0.1，全批量"
    assert zh_lines[2].split() == ["轮", "loss", "w", "b", "∂loss/∂w", "∂loss/∂b"]
    rows = [l.split() for l in en_lines[4:-2] if l and l[0].isdigit()]
    assert len(rows) == 5 and rows == [l.split() for l in zh_lines[4:-2] if l and l[0].isdigit()]
    assert zh_lines[-1].startswith("4 轮后未收敛：w = ") and "epoch" not in zh.out


def test_a_fit_says_why_it_ended_as_data():
    m = graphdsl.load(REG, data=REG_CSV)
    t = fit(m, epochs=2)
    assert t.stop.code == "max-epochs" and t.stop.fields["n"] == 2
    assert t.message == t.stop.text("en") == t.failure.message
    assert t.stop.text("zh").startswith("2 轮后仍未收敛")
    done = fit(m, epochs=2000, lr=0.5, tol=1e-3)
    assert done.stop.code == "gradient-small" and done.message == "every |∂loss/∂p| is below 0.001"
    bad = fit(graphdsl.loads("data x = [1, 2]\nparam w = 1\nloss = mean(log(w*x))"), lr=10)
    assert bad.stop.code in ("numeric-epoch", "numeric-step")
    assert bad.message == str(bad.failure.message) and "epoch" in bad.message
    assert "轮" in bad.stop.text("zh")


def test_cli_fit_render_draws_start_every_kth_epoch_and_end(cli, tmp_path):
    out = tmp_path / "frames"
    r = cli("fit", REG, "--data", REG_CSV, "--epochs", "7", "--render", out, "--every", "3",
            "--sample", "3", "--json")
    assert r.code == 1 and json.loads(r.out)["status"] == "max-epochs"
    names = sorted(p.name for p in out.iterdir())
    assert names == [".graphdsl-frames.json", "end-backward.svg", "end-forward.svg",
                     "epoch-000-backward.svg", "epoch-003-backward.svg", "epoch-006-backward.svg",
                     "epoch-007-backward.svg", "start-backward.svg", "start-forward.svg",
                     "start-structure.svg"]
    assert "wrote 9 pictures" in r.err
    # the pictures are the fit's: epoch 3's params, sample 3 (the CSV's third data row) in the plate
    t = fit(graphdsl.load(REG, data=REG_CSV), epochs=7)
    from graphdsl.text import format_number

    svg = (out / "epoch-003-backward.svg").read_text()
    assert "epoch 3" in svg and "sample 3 of 100" in svg
    assert f"w = {format_number(t.epochs[3].values['w'])}" in svg
    x3 = REG_CSV.read_text().splitlines()[3].split(",")[0]
    assert f"= {format_number(float(x3))}" in svg
    # a shorter fit into the same folder leaves no frame of the longer one behind
    r = cli("fit", REG, "--data", REG_CSV, "--epochs", "2", "--render", out, "--every", "3")
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("epoch")) == [
        "epoch-000-backward.svg", "epoch-002-backward.svg"]


def test_cli_fit_render_of_a_model_too_big_to_draw_is_refused_before_the_fit(cli, tmp_path):
    n = 300
    model = tmp_path / "wide.bp"
    model.write_text("\n".join(["data x = [1, 2, 3]", "data y = [2, 4, 6]"]
                               + [f"param w{i} = 0.01" for i in range(n)]
                               + [f"h{i} = tanh(w{i}*x)" for i in range(n)]
                               + ["pred = " + " + ".join(f"h{i}" for i in range(n)),
                                  "loss = mean((pred - y)^2)"]) + "\n")
    r = cli("fit", model, "--epochs", "2", "--render", tmp_path / "frames")
    assert r.code == 2 and r.out == "" and "--render: the picture would have" in r.err
    assert "drop --render" in r.err and not (tmp_path / "frames").exists()


def test_cli_fit_render_says_what_it_wrote_in_chinese(cli, tmp_path):
    r = cli("fit", MODELS / "xor.bp", "--epochs", "2", "--render", tmp_path / "f", "--lang", "zh")
    assert "已将 8 张图写入" in r.err and "wrote" not in r.err


@pytest.mark.parametrize("argv, says", [
    (["--sample", "2"], "there is no --render"),
    (["--every", "2"], "there is no --render"),
    (["--render", "{out}", "--every", "0"], "give 1 or more"),
    (["--render", "{out}", "--sample", "101"], "the data has 100 samples"),
    (["--render", "{out}", "--sample", "0"], "the data has 100 samples"),
])
def test_cli_fit_render_mistakes_write_nothing(cli, tmp_path, argv, says):
    out = tmp_path / "frames"
    r = cli("fit", REG, "--data", REG_CSV, *[a.format(out=out) for a in argv])
    assert r.code == 2 and says in r.err and "Traceback" not in r.err
    assert not out.exists() and r.out == ""


def test_cli_fit_json_is_runs_shape_with_epochs(cli):
    r = cli("fit", REG, "--data", REG_CSV, "--epochs", "3", "--batch-size", "32", "--json",
            "--optimizer", "adam", "--seed", "5")
    assert r.code == 1                                 # 3 epochs do not converge
    d = json.loads(r.out)
    assert list(d) == ["model", "output", "target", "method", "params", "data", "samples",
                       "optimizer", "lr", "batch_size", "seed", "tol", "converged", "epochs",
                       "result", "status", "message"]
    assert d["status"] == "max-epochs" and d["method"] == "adam" and d["batch_size"] == 32
    assert [e["epoch"] for e in d["epochs"]] == [0, 1, 2, 3]
    assert set(d["epochs"][0]) == {"epoch", "loss", "values", "gradients"}
    assert d["result"]["epochs"] == 3 and d["result"]["values"]["loss"] == d["epochs"][-1]["loss"]
    assert "error: no convergence after 3 epochs" in r.err


def test_cli_fit_plot(cli, tmp_path):
    out = tmp_path / "loss.svg"
    r = cli("fit", REG, "--data", REG_CSV, "--plot", out)
    assert r.code == 0 and out.read_text().startswith("<?xml")
    assert "loss per epoch" in out.read_text()
    r = cli("fit", REG, "--data", REG_CSV, "--plot", tmp_path / "loss.gif")
    assert r.code == 2 and "cannot tell the plot format" in r.err


def test_cli_fit_numeric_failure_exits_1_with_the_sample(cli, tmp_path):
    p = tmp_path / "m.bp"
    p.write_text("data x\nparam w = 1\nloss = mean(log(w*x))\n")
    d = tmp_path / "d.csv"
    d.write_text("x\n1\n2\n-3\n")
    r = cli("fit", p, "--data", d)
    assert r.code == 1
    assert "log(-3) in statement 'loss'" in r.err and f"sample 3 (line 4 of {d})" in r.err
    assert "(epoch 0)" in r.err and "Traceback" not in r.err


def test_cli_usage_errors_exit_2(cli, tmp_path):
    r = cli("fit", REG)
    assert r.code == 2 and "have no values" in r.err and "--data FILE.csv" in r.err
    r = cli("fit", REG, "--data", tmp_path / "none.csv")
    assert r.code == 2 and "no such file" in r.err
    r = cli("fit", MODELS / "linear.bp", "--data", REG_CSV)
    assert r.code == 2 and "declares no data columns" in r.err
    r = cli("fit", REG, "--data", REG_CSV, "--optimizer", "rmsprop")
    assert r.code == 2


def test_cli_run_evaluates_a_data_model_once(cli):
    r = cli("run", REG, "--data", REG_CSV)
    assert r.code == 0, r.err
    assert "loss" in r.out and "∂loss/∂node" in r.out
    assert f"over 100 samples ({REG_CSV}); x, y, pred have one value per sample" in r.out
    j = json.loads(cli("run", REG, "--data", REG_CSV, "--json").out)
    assert set(j["iterations"][0]["values"]) == {"w", "b", "loss"} and j["status"] == "evaluated"
    r = cli("run", REG, "--data", REG_CSV, "--target", "0")
    assert r.code == 2 and "graphdsl fit" in r.err


def test_render_structure_and_check_work_on_a_data_model(cli, tmp_path):
    r = cli("render", REG, "-o", tmp_path / "r.dot")
    assert r.code == 0 and "pred" in (tmp_path / "r.dot").read_text()
    r = cli("check", REG, "--data", REG_CSV)
    assert r.code == 0 and "data x, y (100 samples)" in r.out
    r = cli("check", REG)
    assert r.code == 0 and "data x, y;" in r.out


def test_cli_run_on_a_data_model_that_fails_names_the_sample(cli, tmp_path):
    p = tmp_path / "m.bp"
    p.write_text("data x = [1, -1]\nparam w = 1\nloss = mean(sqrt(w*x))\n")
    r = cli("run", p)
    assert r.code == 1 and "sqrt(-1) in statement 'loss'" in r.err
    assert "at sample 2 (inline in the model)" in r.err
    j = json.loads(cli("run", p, "--json").out)
    assert j["status"] == "numeric" and "sample 2" in j["message"]


def test_fit_advances_a_progress_bar_once_per_epoch_and_never_with_json(cli, monkeypatch):
    import graphdsl.cli as cli_mod

    calls = []

    class Bar:
        def __init__(self, total, label, stream):
            calls.append(("open", total, label))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            calls.append(("close",))

        def advance(self):
            calls.append(("advance",))

    monkeypatch.setattr(cli_mod, "_progress_bar", lambda: Bar)
    r = cli("fit", REG, "--data", REG_CSV, "--epochs", "5")
    assert r.code == 1
    assert calls[0] == ("open", 6, "fit") and calls[-1] == ("close",)
    assert calls.count(("advance",)) == 6          # epochs 0 to 5
    calls.clear()
    cli("fit", REG, "--data", REG_CSV, "--epochs", "5", "--json")
    assert calls == []


def test_a_sum_over_samples_that_overflows_names_its_statement():
    m = graphdsl.load(REG, data=REG_CSV)
    t = fit(m, lr=1e5, epochs=50)
    assert t.status == "numeric"
    msg = str(t.failure)
    assert "mean over the 100 samples in statement 'loss' is inf" in msg
    assert "beyond the largest float" in msg and "regression.bp:7:8" in msg


def test_values_whose_checksum_overflows_are_not_a_failure():
    """Each value is finite; only the evaluator's quick check (a sum of every
    value) overflows: no error, and the loss is the exact one."""
    m = graphdsl.loads("data x = [1e308, 1e308]\nparam w = 1\nh = w*x\nloss = mean(h/1e10)")
    r = m.samples.evaluate(m.param_values, m.data)
    assert r.values["loss"] == pytest.approx(1e298) and r.gradients["w"] == pytest.approx(1e298)
