"""The command line: the only module that prints or exits.

Every command is a pair: ``_add_<name>(subparsers, common)`` declares its
arguments and ``cmd_<name>(args)`` runs it and returns the exit code. Errors
are graphdsl's own (see :mod:`graphdsl.errors`); ``main`` prints them as one
message on stderr and maps them to the contract's exit codes
(0 done, 1 not converged or numeric failure, 2 wrong model or command line).
A Python traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import sys
import threading

from .errors import GraphdslError, NumericError, UsageError
from .text import did_you_mean, format_number, table

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


#: what looks like a number to a reader: a sign, then a digit or a point, or inf/nan
_NUMBERISH = re.compile(r"[-+](?:[0-9.].*|inf|infinity|nan)", re.I)


class _Parser(argparse.ArgumentParser):
    """argparse, but its complaints become our UsageError (one message, exit 2),
    and a negative number after an option is its value, not another option."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}",
                         hint=f"see `{self.prog} --help`")

    def parse_known_args(self, args=None, namespace=None):
        if args is not None:
            args = _join_negative_values(list(args))
        return super().parse_known_args(args, namespace)


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--target -1e5`` as ``--target=-1e5``: argparse takes a word starting
    with '-' for an option unless it is a plain integer or decimal, so
    ``-1e5`` and ``-inf`` would give "expected one argument" instead of
    reaching the number's own check.

    >>> _join_negative_values(["run", "m.bp", "--target", "-inf", "--json"])
    ['run', 'm.bp', '--target=-inf', '--json']
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return out + argv[i:]
        if (word.startswith("--") and "=" not in word and i + 1 < len(argv)
                and _NUMBERISH.fullmatch(argv[i + 1])):
            out.append(f"{word}={argv[i + 1]}")
            i += 2
            continue
        out.append(word)
        i += 1
    return out


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


# --- shared helpers -------------------------------------------------------------

def _registry(args):
    """The op registry for this command: built-ins, installed plugins and the
    --plugin modules, built once per command (every command honours --plugin)."""
    reg = getattr(args, "_registry", None)
    if reg is None:
        from .ops import default_registry

        reg = args._registry = default_registry(tuple(args.plugin or ()))
    return reg


def _load(args, text: str | None = None, *, data: bool = True):
    """The model of ``args.model`` (or of ``text``, named ``args.model``), with
    --set applied, and --data read unless ``data`` is False (the caller reads
    it once the options are checked)."""
    from .model import load, loads

    if text is None:
        model = load(args.model, registry=_registry(args))
    else:
        model = loads(text, name=args.model, registry=_registry(args))
    for warning in model.warnings:   # on stderr, so --json output stays clean
        _err(str(warning))
    if data and getattr(args, "data", None) is not None:
        model.set_data(args.data)
    for item in getattr(args, "set", None) or ():
        name, value = _parse_assignment(item)
        model.set_value(name, value)
    return model


def _parse_assignment(item: str) -> tuple[str, float]:
    name, sep, value = item.partition("=")
    name = name.strip()
    if not sep or not name:
        raise UsageError(f"--set expects NAME=VALUE, got '{item}'", hint="for example --set w=2.5")
    try:
        number = _number(value)
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"--set {name}: {e}", hint=f"for example --set {name}=2.5") from None
    return name, number


def _add_data(p):
    p.add_argument("--data", metavar="FILE.csv",
                   help="the values of the model's data columns: a CSV file whose header row "
                        "names the columns (.tsv: tab-separated)")


#: a number as a .bp file writes one (lark's NUMBER with an optional sign):
#: no '_' between digits, no hex, no inf or nan
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _number(text: str) -> float:
    """A finite number written as a model writes it; raises ArgumentTypeError
    (argparse's way to say "exit 2 with this message") otherwise.

    >>> _number("-1.5e3")
    -1500.0
    """
    word = text.strip()
    if not _NUMBER.fullmatch(word):
        try:
            v = float(word)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
        plain = format_number(v)
        raise argparse.ArgumentTypeError(
            f"'{text}' is not written as a model writes numbers: write {plain}")
    v = float(word)
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"'{text}' is too large for a float (over 1.8e308)")
    return v


def _positive(text: str) -> float:
    """A finite number above 0 (a learning rate, a tolerance)."""
    v = _number(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be greater than 0")
    return v


def _tolerance(text: str) -> float:
    """--tol: above 0. A run stops when |error| < TOL; no |error| is below 0, and
    an error of exactly 0 is luck, since floats carry about 16 digits."""
    v = _number(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(
            f"'{text}' must be greater than 0: the run stops when |error| < TOL, and an error "
            "of exactly 0 is out of reach, since floats carry about 16 significant digits "
            "(near 150 the error moves in steps of about 3e-14); use e.g. --tol 1e-12")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be 0 or more")
    return v


def _steps(text: str) -> int:
    """--max-iter: a whole number of steps, at least 1 (0 steps would only evaluate)
    and at most solve.MAX_ITER_LIMIT (every iteration is kept)."""
    from .solve import MAX_ITER_LIMIT

    v = _count(text)
    if v == 0:
        raise argparse.ArgumentTypeError(
            "0 allows no step towards the target; give 1 or more (the table always starts "
            "with iteration 0, the starting values)")
    if v > MAX_ITER_LIMIT:
        raise argparse.ArgumentTypeError(
            f"{v:,} is more than {MAX_ITER_LIMIT:,}: every iteration is kept for the table, "
            "the JSON and the report; a run that needs more steps needs another method or a "
            "larger --lr")
    return v


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one param name, e.g. --params b")
    return names


# --- run -----------------------------------------------------------------------

def _add_run_options(p, tolerance=_tolerance):
    """The options that say how to run a model (shared by run and report;
    ``tolerance`` reads --tol: report's takes a fit's 0 too)."""
    p.add_argument("--target", type=_number, help="the value the output should reach")
    p.add_argument("--method", default="split", choices=["split", "frozen", "gd"],
                   help="how params move (default: split)")
    p.add_argument("--params", type=_names, help="comma-separated params to adjust (default: all)")
    p.add_argument("--tol", type=tolerance, default=1e-4, help="stop when |error| < TOL (default 1e-4)")
    p.add_argument("--max-iter", type=_steps, default=100, help="at most this many steps (default 100)")
    p.add_argument("--lr", type=_positive, help="learning rate for gd and --minimize (default 0.1)")
    p.add_argument("--minimize", action="store_true", help="gradient descent on the output itself")
    p.add_argument("--stop-below", type=_number, help="with --minimize: stop once the output is below this")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="start from another param value")


def _target(model, args):
    """The target a run aims at: --target, else the model's own (none with --minimize)."""
    return args.target if args.target is not None else (None if args.minimize else model.target)


def _check_run_options(args) -> None:
    """The run options' checks that need no model; raises UsageError."""
    if args.lr is not None and args.method != "gd" and not args.minimize:
        raise UsageError(f"--lr has no effect with --method {args.method}",
                         hint="use --method gd or --minimize for a learning rate, or drop --lr")


def _solve(model, args):
    """Run ``model`` as the options of :func:`_add_run_options` say; returns the Trace.

    Raises UsageError for --lr with a method that has no learning rate."""
    _check_run_options(args)
    return model.solve(target=_target(model, args), method=args.method, params=args.params,
                       tol=args.tol, max_iter=args.max_iter,
                       lr=0.1 if args.lr is None else args.lr, minimize=args.minimize,
                       stop_below=args.stop_below)


def _add_run(sub, common):
    p = sub.add_parser("run", parents=[common], help="evaluate, differentiate, or solve for a target",
                       description="Forward and backward pass; with --target (or the model's "
                                   "own target) iterate until the output reaches it.")
    p.add_argument("model", help="the .bp model file")
    _add_run_options(p)
    _add_data(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (the contract's shape)")
    p.add_argument("--render", metavar="DIR",
                   help="also draw the run into DIR: start-*, iter-NNN-backward, end-* pictures")
    p.add_argument("--plot", metavar="FILE",
                   help="also draw the run (.svg/.png/.pdf): |error| per iteration; with one "
                        "moving param also the output against it, iterates marked")
    _add_lang(p)


def cmd_run(args) -> int:
    if args.plot:
        from .plot import prepare

        prepare(args.plot)  # a wrong extension or no matplotlib fails before the run
    if args.render:
        from .dot import check_folder

        check_folder(args.render)  # so does a --render folder that cannot be written
    model = _load(args)
    target = _target(model, args)
    if model.data_names and (args.plot or args.render):
        raise UsageError(f"run --{'plot' if args.plot else 'render'} draws a run, and a data "
                         f"model is trained by `graphdsl fit`",
                         hint=f"graphdsl fit {args.model} --plot FILE.svg draws its loss per epoch")
    if args.render:
        _check_picture_size(model, args)
    if args.plot and target is None and not args.minimize and len(model.check_params(args.params)) != 1:
        raise UsageError("run --plot draws a run, and without a target there is only one pass",
                         hint="give --target T or --minimize")
    trace = _solve(model, args)
    if args.json:
        _out(json.dumps(trace.to_json(), ensure_ascii=False, allow_nan=False))
    else:
        for line in format_trace(trace, _lang(args)):
            _out(line)
        if model.data_names and trace.iterations:
            _out("")
            _out(_samples_line(model))
    if args.render:
        _render_run(model, trace, args)
    if args.plot:
        _plot_run(args, trace, model)
    if trace.failure is not None:
        if args.debug and trace.failure.__traceback__ is not None:
            import traceback

            traceback.print_exception(trace.failure)
        _err(str(trace.failure))
        return EXIT_FAILED
    if not trace.ok:
        _err(f"error: {trace.message}")
        return EXIT_FAILED
    return EXIT_OK


def format_trace(trace, lang: str = "en") -> list[str]:
    """The run as lines of text: values and gradients, or one row per iteration.
    ``lang`` ("en" or "zh") picks the words (see :mod:`graphdsl.i18n`)."""
    f = format_number
    from .i18n import tr
    from .runtable import iteration_table, node_table, text_lines

    out = trace.output
    lines = []
    if trace.method is None:
        if trace.last is None:
            return lines
        lines.append(tr("output_of", lang, model=trace.model, out=out))
        lines.append("")
        lines += text_lines(node_table(trace), lang)
        return lines
    how = tr("minimise", lang, out=out) if trace.minimize else f"{out} → {f(trace.target)}"
    lines.append(tr("method_line", lang, model=trace.model, how=how, method=trace.method)
                 + (tr("lr", lang, lr=f(trace.lr)) if trace.lr is not None else ""))
    lines.append("")
    lines += text_lines(iteration_table(trace), lang)
    for it in trace.iterations:
        for p, why in it.skipped.items():
            lines.append(tr("skipped", lang, it=it.iteration, p=p, why=why.text(lang)))
    r = trace.result()
    vals = ", ".join(f"{k} = {f(v)}" for k, v in r["values"].items())
    lines.append("")
    n = r["iterations"]
    s = "s" if n != 1 else ""
    if trace.converged:
        lines.append(tr("converged_after", lang, n=n, s=s, values=vals)
                     + (tr("error_suffix", lang, e=f(r["error"])) if r["error"] is not None else ""))
        why = trace.stop.text(lang) if trace.stop is not None else None
        if why:
            lines.append(why)
    elif not trace.iterations:
        lines.append(tr("no_iteration", lang))
    else:
        lines.append(tr("not_converged_after", lang, n=n, s=s, values=vals))
    return lines


def _samples_line(model) -> str:
    """What a data model's single numbers were computed over."""
    data = model.data
    per = [n for n in model.compiled.named if n not in model.param_values
           and model.samples.per[model.compiled.index[n]]]
    line = f"over {data.n} sample{'s' if data.n != 1 else ''} ({data.origin})"
    if per:
        shown = ", ".join(per[:8]) + (" ..." if len(per) > 8 else "")
        line += f"; {shown} {'has' if len(per) == 1 else 'have'} one value per sample"
    return line


# --- fit -----------------------------------------------------------------------

def _add_fit(sub, common):
    p = sub.add_parser("fit", parents=[common], help="train the params on data (sgd, momentum, adam)",
                       description="Train the model's params on its data: each epoch goes through "
                                   "the samples in mini-batches and steps the params with the "
                                   "optimizer; one row per epoch with the loss, the params and "
                                   "their gradients over the whole data set.")
    p.add_argument("model", help="the .bp model file")
    _add_fit_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (run's shape, with epochs)")
    p.add_argument("--plot", metavar="FILE", help="also draw the loss per epoch and the data with the prediction (.svg/.png/.pdf)")
    p.add_argument("--render", metavar="DIR",
                   help="also draw the fit into DIR: start-*, epoch-NNN-backward, end-* pictures")
    p.add_argument("--every", metavar="K", type=_count,
                   help="with --render: draw every K-th epoch (default: every epoch up to 100 "
                        "pictures, evenly spaced beyond)")
    p.add_argument("--sample", metavar="K", type=_count,
                   help="with --render: the sample a data model's pictures show inside the plate "
                        "(the Kth data row of the CSV; default 1)")
    _add_lang(p)


def _add_fit_options(p):
    """How to fit a model (shared by fit and the notebook's ``%%bp fit``)."""
    _add_data(p)
    p.add_argument("--epochs", type=_count, default=100, help="at most this many epochs (default 100)")
    p.add_argument("--batch-size", type=_count, metavar="N",
                   help="samples per step (default: all of them, one step per epoch)")
    p.add_argument("--lr", type=_number, default=0.1, help="learning rate (default 0.1)")
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "momentum", "adam"],
                   help="how a step moves the params, as torch.optim does (default: sgd)")
    p.add_argument("--seed", type=_count, default=0, help="the order of the mini-batches (default 0)")
    p.add_argument("--tol", type=_number, default=1e-6,
                   help="converged when every |∂loss/∂param| is below TOL (default 1e-6)")
    p.add_argument("--params", type=_names, help="comma-separated params to train (default: all)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="start from another param value")


def _fit(model, args, **more):
    """Fit ``model`` as the options of :func:`_add_fit_options` say; returns the FitTrace."""
    return model.fit(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                     optimizer=args.optimizer, seed=args.seed, tol=args.tol, params=args.params,
                     **more)


def cmd_fit(args) -> int:
    if args.plot:
        from .plot import prepare

        prepare(args.plot)
    from .fit import check_options

    # every option before the model and its data are read
    check_options(args.epochs, args.batch_size, args.lr, args.optimizer, args.tol, args.seed)
    if args.render:
        from .dot import check_folder

        check_folder(args.render)
        if args.every == 0:
            raise UsageError("--every 0: give 1 or more (1 draws every epoch)")
    else:
        for option, value in (("--every", args.every), ("--sample", args.sample)):
            if value is not None:
                raise UsageError(f"{option} {value} says which pictures --render draws, and "
                                 "there is no --render", hint="add --render DIR, or drop "
                                 + option)
    model = _load(args)
    if args.sample is not None:
        from .onesample import sample_of

        sample_of(model, args.sample)
    if args.render:
        _check_picture_size(model, args)
    bar = None if args.json else _progress_bar()
    if bar is not None:
        with bar(args.epochs + 1, "fit", sys.stderr) as p:
            trace = _fit(model, args, on_epoch=lambda row, t: p.advance())
    else:
        trace = _fit(model, args)
    if args.json:
        _out(json.dumps(trace.to_json(), ensure_ascii=False, allow_nan=False))
    else:
        for line in format_fit(trace, _lang(args)):
            _out(line)
    if args.plot and trace.epochs:
        from .plot import fit_figure, save_figure

        save_figure(fit_figure(trace, model, lang=_lang(args)), args.plot, protect=(args.model,))
        _font_note(args)
        if not args.json:
            from .i18n import tr

            _out(tr("plot_written", _lang(args), path=args.plot))
    if args.render and trace.epochs:
        from . import render

        _render_frames(args, lambda **o: render.fit_frames(model, trace, every=args.every,
                                                           sample=args.sample or 1, **o))
    if trace.failure is not None:
        if args.debug and trace.failure.__traceback__ is not None:
            import traceback

            traceback.print_exception(trace.failure)
        _err(str(trace.failure))
        return EXIT_FAILED
    return EXIT_OK


def _progress_bar():
    """The progress bar of :mod:`graphdsl.progress` (it draws only on a terminal)."""
    from .progress import progress

    return progress


def format_fit(trace, lang: str = "en") -> list[str]:
    """A fit (a :class:`~graphdsl.trace.FitTrace`) as lines of text in ``lang``:
    one row per epoch (:func:`graphdsl.runtable.epoch_table`: the loss, the
    params and ∂loss/∂param over the whole data set), then how it ended."""
    from .i18n import tr
    from .runtable import epoch_table, text_lines

    f = format_number
    out, ps = trace.output, trace.params
    batch = (tr("full_batch", lang) if trace.batch_size >= trace.samples
             else tr("mini_batches", lang, size=trace.batch_size, seed=trace.seed))
    where = tr("fit_of", lang, data=trace.data) if trace.data else ""
    lines = [tr("fit_line", lang, model=trace.model, out=out, n=trace.samples,
                s="s" if trace.samples != 1 else "", where=where, optimizer=trace.optimizer,
                lr=f(trace.lr), batch=batch), ""]
    lines += text_lines(epoch_table(trace), lang)
    r = trace.result()
    vals = ", ".join(f"{k} = {f(v)}" for k, v in r["values"].items())
    n = r["epochs"]
    s = "s" if n != 1 else ""
    lines.append("")
    if trace.converged:
        worst = max((abs(trace.last.gradients[p]) for p in ps), default=0.0)
        lines.append(tr("fit_converged", lang, n=n, s=s, values=vals, out=out, worst=f(worst)))
    elif not trace.epochs:
        lines.append(tr("fit_no_epoch", lang))
    elif trace.status == "numeric":
        lines.append(tr("fit_numeric", lang, next=n + 1, values=vals, n=n))
    else:
        lines.append(tr("fit_not_converged", lang, n=n, s=s, values=vals))
    return lines


# --- render --------------------------------------------------------------------

def _add_render(sub, common):
    p = sub.add_parser("render", parents=[common], help="draw the model's graph (svg, png, pdf, dot)",
                       description="Draw the textbook's pictures with graphviz: the structure, "
                                   "the forward values, or the backward partials.")
    p.add_argument("model", help="the .bp model file")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="where to write (default: MODEL-VIEW.FORMAT here; - for stdout, svg/dot only)")
    p.add_argument("--view", default="structure",
                   choices=["structure", "forward", "backward", "tangent"],
                   help="what the picture shows (default: structure); tangent: forward mode's "
                        "∂node/∂PARAM in every node, from --wrt PARAM")
    p.add_argument("--ops", action="store_true", help="draw every primitive op and constant")
    p.add_argument("--wrt", metavar="NODE", help="highlight every path from the output to NODE "
                                                 "(with --view tangent: the param to start from)")
    p.add_argument("--format", choices=["svg", "png", "pdf", "dot"],
                   help="picture format (default: from -o's extension, else svg)")
    p.add_argument("--blank", action="store_true",
                   help="worksheet: leave computed values and partials blank")
    p.add_argument("--focus", metavar="NODE", help="draw only the neighbourhood of NODE")
    p.add_argument("--depth", type=_count, default=2,
                   help="with --focus: how many steps up and down (default 2)")
    p.add_argument("--force", action="store_true", help="draw a picture even when it is very big")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="draw at another param value")
    p.add_argument("--sample", metavar="K", type=_count,
                   help="a data model's forward/backward view: the numbers inside the plate are "
                        "sample K's, the Kth data row of the CSV (default 1); refused for the "
                        "structure view, which shows no numbers, and for a model without data")
    _add_data(p)
    _add_lang(p)


def cmd_render(args) -> int:
    from . import dot, render

    if args.depth != 2 and args.focus is None:
        raise UsageError("--depth needs --focus NODE", hint="for example --focus x --depth 1")
    model = _load(args)
    if args.sample is not None and not model.data_names:
        from .onesample import sample_of

        sample_of(model, args.sample)           # says why there is no sample to choose
    if args.sample is not None and args.view == "structure":
        raise UsageError(f"--sample {args.sample}: the structure view shows no numbers",
                         hint="--view forward or --view backward shows one sample's numbers "
                              "inside the plate")
    to_stdout = args.output == "-"
    if args.output and not to_stdout:
        fmt = dot.format_of(args.output, args.format)
    else:
        fmt = args.format or "svg"
    graph = render.build(model, args.view, ops=args.ops, wrt=args.wrt, blank=args.blank,
                         focus=args.focus, depth=args.depth, force=args.force, lang=_lang(args),
                         sample=args.sample)
    if to_stdout:
        if fmt == "dot":
            _out(graph.source.rstrip("\n"))
        elif fmt == "svg":
            sys.stdout.write(dot.to_svg(graph))
        else:
            raise UsageError(f"-o - writes text only; {fmt} is binary", hint=f"give a file: -o picture.{fmt}")
        return EXIT_OK
    path = args.output or dot.default_name(model.name, args.view, ops=args.ops, wrt=args.wrt,
                                           blank=args.blank, focus=args.focus,
                                           depth=args.depth if args.focus else None, fmt=fmt,
                                           sample=args.sample)
    dot.write(graph, path, fmt, protect=(args.model,))
    _out(f"wrote {path}")
    return EXIT_OK


def _render_run(model, trace, args) -> None:
    """run --render DIR: the run's pictures; a note on stderr (stdout may be JSON)."""
    from . import render

    _render_frames(args, lambda **o: render.run_frames(model, trace, **o))


def _check_picture_size(model, args) -> None:
    """--render DIR: a model too big to draw is refused before the run or the
    fit (its backward pictures, with a label on every edge, are the biggest),
    not after it."""
    from . import render

    try:
        render.build(model, "backward", blank=True, lang=_lang(args))
    except render.PictureTooBig as e:
        e.message = "--render: " + e.message
        e.hint = ("drop --render (every picture would be this big), or draw a part with "
                  "`graphdsl render MODEL --focus NODE`")
        raise
    except NumericError:
        return      # values outside an op's domain at the start: the run or fit says so


def _render_frames(args, frames) -> None:
    """--render DIR: the pictures ``frames(lang=...)`` makes, written into DIR
    (see :func:`graphdsl.dot.write_frames`); a note on stderr (stdout may be JSON)."""
    from . import dot, render

    from .progress import progress

    try:
        with progress(None, "pictures", sys.stderr) as bar:
            paths = dot.write_frames(lambda: frames(lang=_lang(args)), args.render,
                                     protect=(args.model,), progress=bar)
    except render.PictureTooBig as e:
        e.message = "--render: " + e.message
        e.hint = "draw a part with `graphdsl render MODEL --focus NODE`, or drop --render"
        raise
    from .i18n import tr

    _err(tr("pictures_written", _lang(args), n=len(paths), path=args.render))


def _add_lang(p):
    p.add_argument("--lang", choices=["en", "zh"],
                   help="language of the text: en or zh (default: from LANG/LC_ALL)")


def _lang(args) -> str:
    from .i18n import default_lang

    return getattr(args, "lang", None) or default_lang()


def _font_note(args) -> None:
    """Warn once that the Chinese of a PNG or PDF plot shows as boxes when no
    installed font has Chinese glyphs (graphdsl.plot.font_note)."""
    from .plot import font_note

    note = font_note(args.plot, _lang(args))
    if note:
        _err(f"warning: {note}")


def _plot_run(args, trace, model) -> None:
    from .i18n import tr
    from .plot import run_figure, save_figure

    if not trace.iterations:
        _err("warning: no iteration to plot")
        return
    save_figure(run_figure(trace, model, lang=_lang(args)), args.plot, protect=(args.model,))
    _font_note(args)
    if not args.json:
        _out(tr("plot_written", _lang(args), path=args.plot))


# --- explain -------------------------------------------------------------------

def _add_explain(sub, common):
    p = sub.add_parser("explain", parents=[common],
                       help="the chain rule, path by path, with numbers",
                       description="For each param (or --wrt P): every path from the output to "
                                   "it, each local partial as a rule and a number, the product "
                                   "along each path, the sum, and that the sum equals the "
                                   "reverse-mode gradient; a symbolic check by sympy.")
    p.add_argument("model", help="the .bp model file")
    p.add_argument("--wrt", metavar="PARAM", help="explain only ∂output/∂PARAM")
    p.add_argument("--mode", default="reverse", choices=["reverse", "forward"],
                   help="reverse (default): the paths from the output down; forward: each "
                        "node's tangent ∂node/∂PARAM pushed forwards, and what each mode costs")
    p.add_argument("--format", default="text", choices=["text", "markdown", "latex", "json"],
                   help="text (default), markdown, latex, or json (the data)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="explain at another value")
    p.add_argument("--sample", type=_count, metavar="K",
                   help="for a data model: write out sample K's chain rule path by path (K from 1: "
                        "the CSV's Kth data row, after the header; default 1)")
    _add_data(p)
    _add_lang(p)


def cmd_explain(args) -> int:
    if args.mode == "forward":
        from .forward import FORMATS, explain_forward as explain
    else:
        from .explain import FORMATS, explain

    model = _load(args)
    if model.data_names and args.mode == "forward":
        raise UsageError(f"explain --mode forward is not available for a data model: {model.name} "
                         "has one value per sample for its data columns",
                         hint="leave out --mode forward: reverse mode writes ∂loss/∂p as the sum "
                              "over the samples, with one sample (--sample K) path by path")
    if args.sample is not None and not model.data_names:
        from .onesample import sample_of

        sample_of(model, args.sample)           # says why there is no sample to choose
    if model.data_names:
        e = explain(model, wrt=args.wrt, sample=1 if args.sample is None else args.sample)
    else:
        e = explain(model, wrt=args.wrt)
    if args.format == "json":
        _out(json.dumps(e.to_dict(), ensure_ascii=False, allow_nan=False))
    else:
        sys.stdout.write(FORMATS[args.format](e, _lang(args)))
    return EXIT_OK if all(item.agrees for item in e.items) else EXIT_FAILED


# --- compare -------------------------------------------------------------------

def _add_compare(sub, common):
    p = sub.add_parser("compare", parents=[common],
                       help="run split, frozen and gd towards a target, side by side",
                       description="Run every method towards the same target and show "
                                   "iterations, final params, final error and whether each "
                                   "converged in one table; --plot draws |error| per iteration.")
    p.add_argument("model", help="the .bp model file")
    p.add_argument("--target", type=_number, help="the value the output should reach "
                                                  "(default: the model's own target)")
    p.add_argument("--params", type=_names, help="comma-separated params to adjust (default: all)")
    p.add_argument("--methods", type=_names, default=["split", "frozen", "gd"],
                   help="comma-separated methods (default: split,frozen,gd)")
    p.add_argument("--tol", type=_tolerance, default=1e-4, help="stop when |error| < TOL (default 1e-4)")
    p.add_argument("--max-iter", type=_steps, default=100, help="at most this many steps (default 100)")
    p.add_argument("--lr", type=_positive, default=0.1, help="learning rate for gd (default 0.1)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="start from another param value")
    p.add_argument("--plot", metavar="FILE", help="draw |error| per iteration per method (.svg/.png/.pdf)")
    _add_data(p)
    _add_lang(p)


def cmd_compare(args) -> int:
    f = format_number
    from .i18n import tr
    from .solve import METHODS

    lang = _lang(args)
    for m in args.methods:
        if m not in METHODS:
            raise UsageError(f"--methods: unknown method '{m}'", hint="use: " + ", ".join(METHODS))
    if args.plot:
        from .plot import prepare

        prepare(args.plot)
    model = _load(args)
    target = args.target if args.target is not None else model.target
    if target is None:
        raise UsageError("compare needs a target", hint="give --target T (e.g. --target 150)")
    traces = {m: model.solve(target=target, method=m, params=args.params, tol=args.tol,
                             max_iter=args.max_iter, lr=args.lr)
              for m in dict.fromkeys(args.methods)}
    first = next(iter(traces.values()))
    ps, out = first.params, first.output
    header = ([tr("method", lang), tr("iterations", lang)] + ps + [out, tr("final_error", lang),
              tr("converged", lang), tr("status", lang)])
    rows = []
    for m, t in traces.items():
        r = t.result()
        vals = r["values"]
        rows.append([m, str(r["iterations"])] + [f(vals.get(p)) for p in ps]
                    + [f(vals.get(out)), f(r["error"]), tr("yes" if t.converged else "no", lang),
                       t.status])
    _out(tr("compare_title", lang, model=model.name, out=out, target=f(float(target))))
    _out("")
    for line in table(header, rows):
        _out(line)
    _out("")
    done = {m: len(t.iterations) for m, t in traces.items() if t.converged}
    if done:
        best = min(done.values())
        _out(tr("compare_fewest", lang, methods=", ".join(m for m, n in done.items() if n == best),
                n=best))
    else:
        _out(tr("compare_none", lang))
    for m, t in traces.items():
        why = t.stop.text(lang) if t.stop is not None and not t.converged else None
        if why:
            _out(f"{m}: {why}")
        if m == "gd" and not t.converged and t.iterations:
            # gd's step is lr·error·∂out/∂p: the error shrinks only while lr·Σ(∂out/∂p)² < 2
            g2 = sum(t.iterations[0].gradients[p] ** 2 for p in ps)
            if g2 > 0:
                _out(tr("gd_hint", lang, g2=f(g2), lr=f"{1.0 / g2:.2g}", out=out))
    if args.plot:
        from .plot import compare_figure, save_figure

        save_figure(compare_figure(traces, lang=lang), args.plot, protect=(args.model,))
        _font_note(args)
        _out(tr("plot_written", lang, path=args.plot))
    return EXIT_OK if done else EXIT_FAILED


# --- check ---------------------------------------------------------------------

def _add_check(sub, common):
    p = sub.add_parser("check", parents=[common], help="parse and validate a model, nothing else")
    p.add_argument("model", help="the .bp model file")
    _add_data(p)


def cmd_check(args) -> int:
    model = _load(args)
    flat = model.flat   # the flat lists: counting needs no networkx graph
    named = sum(1 for n in flat.name if n is not None)
    ops = flat.kind.count("op")
    params = ", ".join(model.params) or "none"
    data = ""
    if model.data_names:
        data = "; data " + ", ".join(model.data_names)
        if args.data is not None or all(v is not None for v in model.flat.graph["data"].values()):
            data += f" ({model.data.n} samples)"
    _out(f"{model.name}: ok — params {params}{data}; {named} named nodes, {ops} ops; output "
         f"{model.output}" + (f"; target {model.target:g}" if model.target is not None else ""))
    return EXIT_OK


# --- ops -----------------------------------------------------------------------

def _add_ops(sub, common):
    p = sub.add_parser("ops", parents=[common],
                       help="list the registered ops and where each came from; --check tests them",
                       description="List every op (built-in, installed plugins, --plugin modules): "
                                   "name, arity, derivative rule and origin. With --check, test "
                                   "each op's partials against finite differences and sympy.")
    p.add_argument("names", nargs="*", metavar="NAME", help="only these ops (default: all)")
    p.add_argument("--check", action="store_true",
                   help="run the conformance check; exit 1 when an op fails it")


def cmd_ops(args) -> int:
    reg = _registry(args)
    if args.names:
        items = []
        for name in args.names:
            if name not in reg:

                notes = reg.unavailable(name)
                raise UsageError(f"no op named '{name}'", notes=notes,
                                 hint=did_you_mean(name, reg.names())
                                 or "`graphdsl ops` lists the ops there are")
            items.append((name, reg.get(name), reg.origin(name)))
    else:
        items = reg.items()
    problems = [p for p in reg.problems()
                if not args.names or any(f"'{n}'" in p.message for n in args.names)]
    if args.check:
        code = _check_ops(items)
        if problems:
            # an installed op that cannot be loaded fails its check too
            for problem in problems:
                _err(f"error: {problem.message}" + (f" ({problem.hint})" if problem.hint else ""))
            return EXIT_FAILED
    else:
        from .ops.check import derivative_rule

        rows = []
        for name, op, origin in items:
            rule = derivative_rule(op) or (f"({op.doc})" if op.doc else "-")
            rows.append([name, str(op.arity), rule, origin])
        for line in table(["op", "arity", "derivative", "origin"], rows, "lrll"):
            _out(line)
        code = EXIT_OK
    for problem in problems:
        _err(f"warning: {problem.message}" + (f" ({problem.hint})" if problem.hint else ""))
    return code


def _check_ops(items) -> int:
    """Print the conformance check of each op; EXIT_FAILED if any fails."""
    from .ops.check import check_op

    shown_per_kind = 2
    failed = []
    rows = []
    details = []
    for name, op, origin in items:
        r = check_op(op, origin)
        rows.append([name, "ok" if r.ok else "FAIL", str(len(r.points)), ", ".join(r.checks), origin])
        if not r.ok:
            failed.append(name)
            details.append(f"{name} ({origin}):")
            # the first two of each kind (finite differences, sympy, ...), not 14 alike
            shown = []
            for kind in dict.fromkeys(f.check for f in r.failures):
                shown += [f for f in r.failures if f.check == kind][:shown_per_kind]
            for f in shown:
                details.append(f"  {f.message}")
            if len(r.failures) > len(shown):
                more = len(r.failures) - len(shown)
                details.append(f"  ... and {more} more like these")
            for note in r.notes:
                details.append(f"  note: {note}")
    for line in table(["op", "check", "points", "checked", "origin"], rows, "llrll"):
        _out(line)
    if details:
        _out("")
        for line in details:
            _out(line)
    n = len(items)
    if failed:
        _err(f"error: {len(failed)} of {n} op{'s' if n != 1 else ''} failed the check: "
             + ", ".join(failed))
        return EXIT_FAILED
    _out("")
    _out(f"{n} op{'s' if n != 1 else ''} checked: all passed")
    return EXIT_OK


# --- report ----------------------------------------------------------------------

def _add_report(sub, common):
    p = sub.add_parser("report", parents=[common],
                       help="one self-contained HTML page that steps through a run or a fit",
                       description="Run the model (the same options as `run`), or fit a data "
                                   "model (the options of `fit`), and write one HTML "
                                   "file that needs nothing else: the model, the table, the "
                                   "picture of every iteration or epoch, the chain rule and the "
                                   "plots, stepped with buttons, a slider or the arrow keys.")
    p.add_argument("model", help="the .bp model file")
    _add_report_options(p)
    p.add_argument("-o", "--output", metavar="FILE.html",
                   help="the HTML file to write (default: MODEL-report.html here; - for stdout)")
    _add_lang(p)


def _add_report_options(p):
    """The options of a report's run or fit (shared by report and watch)."""
    _add_run_options(p, tolerance=_number)
    # which options were given decides what a model may not be asked (run's or fit's)
    p.set_defaults(method=None, tol=None, max_iter=None)
    _add_data(p)
    g = p.add_argument_group(
        "a data model's fit (as `graphdsl fit`)",
        "A data model is fitted instead of run: --params and --set apply to it too, --lr is its "
        "learning rate (default 0.1) and --tol its bound on every |∂loss/∂param| (default 1e-6); "
        "--target, --method, --max-iter, --minimize and --stop-below are refused.")
    g.add_argument("--epochs", type=_count, help="at most this many epochs (default 100)")
    g.add_argument("--batch-size", type=_count, metavar="N",
                   help="samples per step (default: all of them, one step per epoch)")
    g.add_argument("--optimizer", choices=["sgd", "momentum", "adam"],
                   help="how a step moves the params, as torch.optim does (default: sgd)")
    g.add_argument("--seed", type=_count, help="the order of the mini-batches (default 0)")
    g.add_argument("--sample", type=_count, metavar="K",
                   help="the sample (the CSV's data row, from 1) whose picture and chain rule "
                        "the page shows (default 1)")


#: report's options that only a run takes, and those that only a fit takes
RUN_ONLY = ("target", "method", "minimize", "stop_below", "max_iter")
FIT_ONLY = ("epochs", "batch_size", "optimizer", "seed", "sample")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _report_options(args, model) -> None:
    """Check report's options against the model (a data model is fitted, any
    other is run), before its data is read, and fill in the defaults of
    the one that applies. Raises UsageError for an option of the other."""
    if model.data_names:
        given = [_option(o) for o in RUN_ONLY if getattr(args, o) not in (None, False)]
        if given:
            raise UsageError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for a run, "
                             f"and {args.model} is a data model: its report shows a fit",
                             hint="give the fit's options instead: --epochs, --batch-size, --lr, "
                                  "--optimizer sgd|momentum|adam, --seed, --tol, --sample K")
        for name, default in (("epochs", 100), ("optimizer", "sgd"), ("seed", 0), ("sample", 1),
                              ("lr", 0.1), ("tol", 1e-6)):
            if getattr(args, name) is None:
                setattr(args, name, default)
        from .fit import check_options

        check_options(args.epochs, args.batch_size, args.lr, args.optimizer, args.tol, args.seed)
        return
    given = [_option(o) for o in FIT_ONLY if getattr(args, o) is not None]
    if given:
        raise UsageError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for the fit of "
                         f"a data model, and {args.model} has no data column: its report shows "
                         f"a run", hint="give the run's options instead: --target T, --method "
                                        "split|frozen|gd, --max-iter, --minimize")
    args.method = args.method or "split"
    args.max_iter = 100 if args.max_iter is None else args.max_iter
    if args.tol is not None and args.tol <= 0:     # what _tolerance says of run's --tol
        raise UsageError(f"--tol {format_number(args.tol)}: a run's --tol must be greater than 0: it "
                         "stops when |error| < TOL, and an error of exactly 0 is out of reach, "
                         "since floats carry about 16 significant digits",
                         hint="use e.g. --tol 1e-12")
    args.tol = 1e-4 if args.tol is None else args.tol


def _build_report(args, bar=None, plots: bool = True):
    """`watch`'s page: the report of the run, or of a data model's fit, that
    the options ask for: (Report, Trace or FitTrace). The options are checked
    afresh against the model as it is now (a save may add or remove its data
    columns). Raises the errors of loading, running and fitting the model."""
    from .report import build_report

    args = argparse.Namespace(**vars(args))
    model, trace = _report_subject(args, fit_progress=False)
    return build_report(model, trace, lang=_lang(args), progress=bar, plots=plots,
                        sample=args.sample or 1), trace


def _report_subject(args, fit_progress: bool = True):
    """What `report` shows: (model, its run's Trace), or for a data model
    (model, its fit's FitTrace), the fit's epochs counted on a progress line.
    The options are checked before the model's data is read. Raises the
    errors of loading, running and fitting the model."""
    from .report import check_sample

    model = _load(args, data=False)
    _report_options(args, model)
    if args.data is not None:
        model.set_data(args.data)
    if not model.data_names:
        return model, _solve(model, args)
    check_sample(model, args.sample)   # before the fit, which may take a while
    if not fit_progress:
        return model, _fit(model, args)
    with _progress_bar()(args.epochs + 1, "fit", sys.stderr) as p:
        trace = _fit(model, args, on_epoch=lambda row, t: p.advance())
    return model, trace


def cmd_report(args) -> int:
    from .progress import progress
    from .report import build_report

    model, trace = _report_subject(args)
    with progress(None, "report", sys.stderr) as bar:
        report = build_report(model, trace, lang=_lang(args), progress=bar,
                              sample=args.sample or 1)
    to_stdout = args.output == "-"  # as for render: the page on stdout, and nothing else there
    if to_stdout:
        sys.stdout.write(report.html)
        sys.stdout.flush()
    else:
        path = args.output or os.path.splitext(os.path.basename(args.model))[0] + "-report.html"
        size = report.write(path, protect=(args.model,))
    for note in report.notes:
        _err(f"warning: {note}")
    if not to_stdout:
        _out(f"wrote {path}: {report.iterations} {report.unit}"
             f"{'s' if report.iterations != 1 else ''}, {report.frames} picture"
             f"{'s' if report.frames != 1 else ''}, {size / 1024:.0f} KB")
    if trace.failure is not None:
        _err(str(trace.failure))
        return EXIT_FAILED
    if not trace.ok:
        _err(f"error: {trace.message}")
        return EXIT_FAILED
    return EXIT_OK


# --- watch -----------------------------------------------------------------------

def _add_watch(sub, common):
    p = sub.add_parser("watch", parents=[common],
                       help="a live page that shows the report and follows every save",
                       description="Serve the report of the model (a run, or a data model's "
                                   "fit, with report's options) on a local page "
                                   "(127.0.0.1 only) that updates itself within a second of "
                                   "every save of the model or its --data file; a mistake shows "
                                   "its message over the last good page. Ctrl-C stops it.")
    p.add_argument("model", help="the .bp model file")
    _add_report_options(p)
    p.add_argument("--port", type=_port, default=0,
                   help="the port to listen on (default: a free one, printed)")
    _add_lang(p)


def _check_watch_options(args) -> None:
    """The options a watch starts with, checked against the model as it is
    (as report checks them): a mistake there is the command line's, exit 2.
    A model that does not load yet is the page's to show, not a reason to stop."""
    a = argparse.Namespace(**vars(args))
    try:
        model = _load(a, data=False)
    except UsageError:
        raise
    except GraphdslError:
        return
    _report_options(a, model)
    if not model.data_names:
        _check_run_options(a)


def _port(text: str) -> int:
    v = _count(text)
    if v > 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port (0 to 65535)")
    return v


def cmd_watch(args) -> int:
    import time

    from .watch import LivePage

    for path, what in ((args.model, "a .bp model file"), (args.data, "the data file, a CSV")):
        if path is not None and not os.path.isfile(path):
            raise UsageError(f"no such file: {path}" if not os.path.exists(path)
                             else f"{path} is not a file", hint=f"give {what}")
    _check_watch_options(args)

    def build(bar, quick):
        # quick: the page without its plots first (matplotlib is most of a small report)
        report, trace = _build_report(args, bar, plots=not quick)
        what = trace.status if getattr(trace, "method", True) is not None else "one pass"
        n = report.iterations
        return report.html, f"{n} {report.unit}{'s' if n != 1 else ''}, {what}", report.notes

    def event(kind, text):
        # one line per save: the full message (with its caret) is on the page
        first = text.splitlines()[0] if text else ""
        if kind == "warning":
            _err(f"warning: {text}")
        else:
            _err(f"{time.strftime('%H:%M:%S')} "
                 + (f"updated: {text}" if kind == "built" else first))

    watched = [args.model] + ([args.data] if args.data is not None else [])
    live = LivePage(build, watched, port=args.port, lang=_lang(args), on_event=event,
                    title=os.path.basename(args.model)).start()
    _out(f"watching {args.model}: open {live.url} (Ctrl-C stops)")
    sys.stdout.flush()
    try:
        live.wait()
    except KeyboardInterrupt:   # Ctrl-C is how a watch ends: a clean stop, exit 0
        pass
    finally:
        live.stop()             # SIGTERM ends it too, as it ends every command (exit 143)
    _err("stopped")
    return EXIT_OK


# --- run for other front ends (the notebook's %%bp) -------------------------------

def run_parser(prog: str = "graphdsl run") -> argparse.ArgumentParser:
    """A parser of `run`'s options (and --plugin, --lang), no model argument;
    its complaints raise UsageError instead of exiting."""
    p = _Parser(prog=prog, add_help=True,
                description="Run a model as `graphdsl run` does: with --target (or the "
                            "model's own target) iterate until the output reaches it.")
    p.add_argument("--plugin", action="append", metavar="MODULE",
                   help="load the ops defined in MODULE (repeatable)")
    _add_run_options(p)
    _add_lang(p)
    return p


def fit_parser(prog: str = "graphdsl fit") -> argparse.ArgumentParser:
    """A parser of `fit`'s options (and --plugin, --lang), no model argument;
    its complaints raise UsageError instead of exiting."""
    p = _Parser(prog=prog, add_help=True,
                description="Fit a model as `graphdsl fit` does: train its params on its data.")
    p.add_argument("--plugin", action="append", metavar="MODULE",
                   help="load the ops defined in MODULE (repeatable)")
    _add_fit_options(p)
    _add_lang(p)
    return p


def fit_text(text: str, argv, name: str = "<cell>", prog: str = "%%bp fit"):
    """Parse ``argv`` with :func:`fit_parser`, build the model from ``text``
    and fit it as `graphdsl fit` would: returns (model, fit trace, lang).

    Raises UsageError for wrong options, the model's errors for a wrong
    model; a fit that fails numerically is in ``trace.failure``.

    >>> model, trace, lang = fit_text("data x = [1, 2]\\nparam w = 0\\nloss = mean((w*x - 2*x)^2)",
    ...                               ["--epochs", "200", "--lr", "0.2"])
    >>> trace.status, round(trace.result()["values"]["w"], 6)
    ('converged', 2.0)
    """
    args = fit_parser(prog).parse_args(list(argv))
    from .fit import check_options

    check_options(args.epochs, args.batch_size, args.lr, args.optimizer, args.tol, args.seed)
    args.model = name
    model = _load(args, text)
    return model, _fit(model, args), _lang(args)


def run_text(text: str, argv, name: str = "<cell>", prog: str = "%%bp"):
    """Parse ``argv`` with :func:`run_parser`, build the model from ``text``
    and run it as `graphdsl run` would: returns (model, trace, lang).

    Raises UsageError for wrong options, the model's errors for a wrong
    model; a run that fails numerically is in ``trace.failure``.

    >>> model, trace, lang = run_text("param b = 4\\ny = 2*b + 1", ["--target", "5"])
    >>> trace.status, trace.result()["values"]["b"]
    ('converged', 2.0)
    """
    args = run_parser(prog).parse_args(list(argv))
    args.model = name
    model = _load(args, text)
    return model, _solve(model, args), _lang(args)


# --- the dispatcher ---------------------------------------------------------------

COMMANDS = {
    "run": (_add_run, cmd_run),
    "fit": (_add_fit, cmd_fit),
    "render": (_add_render, cmd_render),
    "check": (_add_check, cmd_check),
    "ops": (_add_ops, cmd_ops),
    "explain": (_add_explain, cmd_explain),
    "compare": (_add_compare, cmd_compare),
    "report": (_add_report, cmd_report),
    "watch": (_add_watch, cmd_watch),
}


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--plugin", action="append", metavar="MODULE",
                        help="load the ops defined in MODULE (repeatable)")
    common.add_argument("--debug", action="store_true", help="show Python tracebacks")
    parser = _Parser(prog="graphdsl",
                     description="See backpropagation happen: parse, differentiate, solve "
                                 "and draw computation graphs written in .bp files.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add, _cmd in COMMANDS.values():
        add(sub, common)
    return parser


def _version() -> str:
    from . import __version__

    return f"graphdsl {__version__}"


class _Signalled(BaseException):
    """SIGTERM or SIGHUP arrived: the command unwinds (temporary files are
    removed on the way) and exits with 128 + the signal's number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, _frame):
    # a `dot` child does not die with graphdsl: end it before unwinding
    dot = sys.modules.get("graphdsl.dot")
    if dot is not None:
        dot.stop_children()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise _Signalled(signum)


@contextlib.contextmanager
def _signals_end_children():
    """While a command runs, SIGTERM, SIGINT and SIGHUP end graphdsl's `dot`
    children too; the handlers before it are put back afterwards (a test
    runner calls main() many times). A signal that was ignored stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {}
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
            before[sig] = signal.signal(sig, _on_signal)
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        dot = sys.modules.get("graphdsl.dot")
        if dot is not None:
            dot.allow_children()


def main(argv=None) -> int:
    """Entry point of the ``graphdsl`` console script; returns the exit code."""
    try:
        with _signals_end_children():
            return _main(argv)
    except _Signalled as e:
        _err(f"stopped by {signal.Signals(e.signum).name}")
        return 128 + e.signum


def _main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("GRAPHDSL_DEBUG") == "1"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if args.plugin:
            _registry(args)  # a --plugin that cannot load stops every command, not only some
        return COMMANDS[args.command][1](args)
    except GraphdslError as e:
        if debug:
            import traceback

            traceback.print_exc()
        _err(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): not our error to report
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except RecursionError:
        if debug:
            raise
        _err("error: the model is nested too deeply to process")
        return EXIT_USAGE
    except MemoryError:
        if debug:
            raise
        _err("error: not enough memory for this model")
        return EXIT_USAGE
    except Exception as e:  # the boundary: a bug (ours or a plugin's) still gets one message
        if debug:
            raise
        _err(f"internal error: {type(e).__name__}: {e}\n"
             f"   = help: this is a bug in graphdsl or in a plugin, not in your model; "
             f"rerun with --debug to see the traceback and report it")
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
