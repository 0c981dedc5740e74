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
import json
import math
import os
import sys

from .errors import GraphdslError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but its complaints become our UsageError (one message, exit 2)."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}",
                         hint=f"see `{self.prog} --help`")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


# --- shared helpers -------------------------------------------------------------

def _load(args):
    from .model import load

    model = load(args.model, plugins=tuple(args.plugin or ()))
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
        number = float(value)
    except ValueError:
        raise UsageError(f"--set {name}: '{value.strip()}' is not a number",
                         hint=f"for example --set {name}=2.5") from None
    if not math.isfinite(number):
        raise UsageError(f"--set {name}: the value must be a finite number")
    return name, number


def _number(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be 0 or more")
    return v


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one param name, e.g. --params b")
    return names


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Plain aligned columns (numbers right-aligned), no colour, safe in any pipe."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    return lines


# --- run -----------------------------------------------------------------------

def _add_run_options(p):
    """The options that say how to run a model (shared by run and report)."""
    p.add_argument("--target", type=_number, help="the value the output should reach")
    p.add_argument("--method", default="split", choices=["split", "frozen", "gd"],
                   help="how params move (default: split)")
    p.add_argument("--params", type=_names, help="comma-separated params to adjust (default: all)")
    p.add_argument("--tol", type=_number, default=1e-4, help="stop when |error| < TOL (default 1e-4)")
    p.add_argument("--max-iter", type=_count, default=100, help="at most this many steps (default 100)")
    p.add_argument("--lr", type=_number, default=0.1, help="learning rate for gd and --minimize (default 0.1)")
    p.add_argument("--minimize", action="store_true", help="gradient descent on the output itself")
    p.add_argument("--stop-below", type=_number, help="with --minimize: stop once the output is below this")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="start from another param value")


def _solve(model, args):
    """Run ``model`` as the options of :func:`_add_run_options` say; returns the Trace."""
    target = args.target if args.target is not None else (None if args.minimize else model.target)
    return model.solve(target=target, method=args.method, params=args.params, tol=args.tol,
                       max_iter=args.max_iter, lr=args.lr, minimize=args.minimize,
                       stop_below=args.stop_below)


def _add_run(sub, common):
    p = sub.add_parser("run", parents=[common], help="evaluate, differentiate, or solve for a target",
                       description="Forward and backward pass; with --target (or the model's "
                                   "own target) iterate until the output reaches it.")
    p.add_argument("model", help="the .bp model file")
    _add_run_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (the contract's shape)")


def cmd_run(args) -> int:
    model = _load(args)
    trace = _solve(model, args)
    if args.json:
        _out(json.dumps(trace.to_json(), ensure_ascii=False, allow_nan=False))
    else:
        for line in format_trace(trace):
            _out(line)
    if trace.failure is not None:
        _err(str(trace.failure))
        return EXIT_FAILED
    if not trace.ok:
        _err(f"error: {trace.message}")
        return EXIT_FAILED
    return EXIT_OK


def format_trace(trace) -> list[str]:
    """The run as lines of text: values and gradients, or one row per iteration."""
    from .engine import format_number as f

    out = trace.output
    lines = []
    if trace.method is None:
        it = trace.last
        if it is None:
            return lines
        lines.append(f"{trace.model}: output {out}")
        lines.append("")
        rows = [[n, f(it.values[n]), f(it.gradients[n])] for n in it.values]
        lines += _table(["node", "value", f"∂{out}/∂node"], rows)
        return lines
    ps = trace.params
    header = ["iter"] + ps + [out]
    if not trace.minimize:
        header.append("error")
    header += [f"∂{out}/∂{p}" for p in ps] + [f"Δ{p}" for p in ps]
    rows = []
    for it in trace.iterations:
        row = [str(it.iteration)] + [f(it.values[p]) for p in ps] + [f(it.values[out])]
        if not trace.minimize:
            row.append(f(it.error))
        row += [f(it.gradients[p]) for p in ps]
        steps = it.steps or {}
        row += [f(steps[p]) if p in steps else ("skip" if p in it.skipped else "") for p in ps]
        rows.append(row)
    how = "minimise " + out if trace.minimize else f"{out} → {f(trace.target)}"
    lines.append(f"{trace.model}: {how}, method {trace.method}"
                 + (f", lr {f(trace.lr)}" if trace.lr is not None else ""))
    lines.append("")
    lines += _table(header, rows)
    for it in trace.iterations:
        for p, why in it.skipped.items():
            lines.append(f"iteration {it.iteration}: {p} skipped ({why})")
    r = trace.result()
    vals = ", ".join(f"{k} = {f(v)}" for k, v in r["values"].items())
    lines.append("")
    n = r["iterations"]
    if trace.converged:
        lines.append(f"converged after {n} iteration{'s' if n != 1 else ''}: {vals}"
                     + (f" (error {f(r['error'])})" if r["error"] is not None else ""))
        if trace.message:
            lines.append(trace.message)
    else:
        lines.append(f"not converged after {n} iteration{'s' if n != 1 else ''}: {vals}")
    return lines


# --- check ---------------------------------------------------------------------

def _add_check(sub, common):
    p = sub.add_parser("check", parents=[common], help="parse and validate a model, nothing else")
    p.add_argument("model", help="the .bp model file")


def cmd_check(args) -> int:
    model = _load(args)
    g = model.graph
    named = sum(1 for _n, d in g.nodes(data=True) if d["name"] is not None)
    ops = sum(1 for _n, d in g.nodes(data=True) if d["kind"] == "op")
    params = ", ".join(model.params) or "none"
    _out(f"{model.name}: ok — params {params}; {named} named nodes, {ops} ops; output {model.output}"
         + (f"; target {model.target:g}" if model.target is not None else ""))
    return EXIT_OK


# --- ops -----------------------------------------------------------------------

def _add_ops(sub, common):
    sub.add_parser("ops", parents=[common], help="list the registered ops and where each came from")


def cmd_ops(args) -> int:
    from .ops import default_registry
    from .ops.registry import plugin_problems

    reg = default_registry(tuple(args.plugin or ()))
    rows = [[name, str(op.arity), origin, op.doc or ""] for name, op, origin in reg.items()]
    for line in _table(["op", "arity", "origin", "what"], rows):
        _out(line)
    for problem in plugin_problems():
        _err(f"warning: {problem.message}")
    return EXIT_OK


# --- report ----------------------------------------------------------------------

def _add_report(sub, common):
    p = sub.add_parser("report", parents=[common],
                       help="one self-contained HTML page that steps through a run",
                       description="Run the model (the same options as `run`) and write one HTML "
                                   "file that needs nothing else: the model, the table, the "
                                   "backward view of every iteration, the chain rule and the "
                                   "plots, stepped with buttons, a slider or the arrow keys.")
    p.add_argument("model", help="the .bp model file")
    _add_run_options(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.html",
                   help="the HTML file to write")


def cmd_report(args) -> int:
    from .report import build_report

    model = _load(args)
    trace = _solve(model, args)
    report = build_report(model, trace)
    size = report.write(args.output, protect=(args.model,))
    for note in report.notes:
        _err(f"warning: {note}")
    _out(f"wrote {args.output}: {report.iterations} iteration"
         f"{'s' if report.iterations != 1 else ''}, {report.frames} picture"
         f"{'s' if report.frames != 1 else ''}, {size / 1024:.0f} KB")
    if trace.failure is not None:
        _err(str(trace.failure))
        return EXIT_FAILED
    if not trace.ok:
        _err(f"error: {trace.message}")
        return EXIT_FAILED
    return EXIT_OK


# --- the dispatcher ---------------------------------------------------------------

COMMANDS = {
    "run": (_add_run, cmd_run),
    "check": (_add_check, cmd_check),
    "ops": (_add_ops, cmd_ops),
    "report": (_add_report, cmd_report),
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


def main(argv=None) -> int:
    """Entry point of the ``graphdsl`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("GRAPHDSL_DEBUG") == "1"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
