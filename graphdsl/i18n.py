"""The words graphdsl prints in English and in Chinese (the course is Chinese).

One table, ``MESSAGES``: key -> (English, Chinese). :func:`tr` picks one and
fills in its ``{fields}``; :func:`default_lang` reads the locale. Only
``explain``, ``compare`` and ``run``'s table and summary are translated;
error messages stay English (they are searched for on the web).

>>> tr("converged_after", "zh", n=3, s="", values="b = 3.9")
'3 次迭代后收敛：b = 3.9'
>>> default_lang({"LANG": "zh_CN.UTF-8"}), default_lang({"LANG": "C.UTF-8"})
('zh', 'en')
"""

from __future__ import annotations

import os

LANGS = ("en", "zh")

MESSAGES: dict[str, tuple[str, str]] = {
    # run's table and summary (English is byte-for-byte what cli.format_trace printed)
    "node": ("node", "节点"),
    "value": ("value", "值"),
    "iter": ("iter", "迭代"),
    "error": ("error", "误差"),
    "output_of": ("{model}: output {out}", "{model}：输出 {out}"),
    "minimise": ("minimise {out}", "最小化 {out}"),
    "method_line": ("{model}: {how}, method {method}", "{model}：{how}，方法 {method}"),
    "lr": (", lr {lr}", "，学习率 {lr}"),
    "skipped": ("iteration {it}: {p} skipped ({why})", "第 {it} 次迭代：跳过 {p}（{why}）"),
    "converged_after": ("converged after {n} iteration{s}: {values}",
                        "{n} 次迭代后收敛：{values}"),
    "error_suffix": (" (error {e})", "（误差 {e}）"),
    "not_converged_after": ("not converged after {n} iteration{s}: {values}",
                            "{n} 次迭代后未收敛：{values}"),
    # compare
    "method": ("method", "方法"),
    "iterations": ("iterations", "迭代次数"),
    "final_error": ("final error", "最终误差"),
    "converged": ("converged", "收敛"),
    "status": ("status", "状态"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "compare_title": ("{model}: {out} → {target}, methods side by side",
                      "{model}：{out} → {target}，各方法对比"),
    "compare_fewest": ("fewest iterations: {methods} ({n})", "迭代次数最少：{methods}（{n} 次）"),
    "compare_none": ("no method converged", "没有方法收敛"),
    "gd_hint": ("gd: each step is lr·error·∂{out}/∂p; at the start Σ(∂{out}/∂p)² = {g2}, so the error "
                "shrinks only when lr < 2/{g2} — try --lr {lr}",
                "gd：每一步为 lr·误差·∂{out}/∂p；起点处 Σ(∂{out}/∂p)² = {g2}，只有 lr < 2/{g2} 时误差才会减小"
                "——试试 --lr {lr}"),
    "plot_written": ("plot written to {path}", "图已写入 {path}"),
    # explain
    "explain_title": ("{model}: how reverse mode gets ∂{out}/∂p, path by path",
                      "{model}：反向传播如何逐条路径求出 ∂{out}/∂p"),
    "at_values": ("at {values}: {out} = {value}", "在 {values} 时：{out} = {value}"),
    "no_params": ("(the model has no param)", "（模型没有参数）"),
    "local_partials": ("local partials (the statement view's edges):",
                       "局部偏导数（语句视图中的边）："),
    "n_paths": ("{n} path{s} from {out} to {p}:", "从 {out} 到 {p} 共 {n} 条路径："),
    "no_path": ("{out} does not depend on {p}: there is no path from {out} to {p}, so ∂{out}/∂{p} = 0.",
                "{out} 不依赖于 {p}：从 {out} 到 {p} 没有路径，所以 ∂{out}/∂{p} = 0。"),
    "where": ("where:", "其中："),
    "absent": ("the path through {input} is absent: {input} does not depend on {p} ({input} = {expr}), "
               "so no path goes {route} → … → {p}; ∂{input}/∂{p} = 0 identically and the branch "
               "{node} → {input} adds nothing (∂{node}/∂{input}·∂{input}/∂{p} = {dq}·0).",
               "经过 {input} 的路径不存在：{input} 不依赖于 {p}（{input} = {expr}），"
               "所以没有路径 {route} → … → {p}；∂{input}/∂{p} 恒为 0，分支 {node} → {input} 没有贡献"
               "（∂{node}/∂{input}·∂{input}/∂{p} = {dq}·0）。"),
    "zero_path": ("the path {path} exists but contributes 0 here: {factors} at these values.",
                  "路径 {path} 存在，但在这些取值下贡献为 0：{factors}。"),
    "engine_agrees": ("reverse mode (the engine): ∂{out}/∂{p} = {g} — equal to the sum of the paths ✓",
                      "反向传播（引擎）：∂{out}/∂{p} = {g} —— 与各路径之和相等 ✓"),
    "engine_differs": ("reverse mode (the engine): ∂{out}/∂{p} = {g} — DIFFERS from the sum of the paths {s} ✗",
                       "反向传播（引擎）：∂{out}/∂{p} = {g} —— 与各路径之和 {s} 不相等 ✗"),
    "engine_agrees_nodes": ("reverse mode (the engine): ∂{out}/∂{p} = {g} — equal to the node-by-node sum ✓",
                            "反向传播（引擎）：∂{out}/∂{p} = {g} —— 与逐节点求和的结果相等 ✓"),
    "engine_differs_nodes": ("reverse mode (the engine): ∂{out}/∂{p} = {g} — DIFFERS from the node-by-node sum {s} ✗",
                             "反向传播（引擎）：∂{out}/∂{p} = {g} —— 与逐节点求和的结果 {s} 不相等 ✗"),
    "too_many_paths": ("{n} paths lead from {out} to {p}, more than {limit}: listing them would repeat the same "
                       "products over and over. Reverse mode never lists paths; it goes node by node from {out}, "
                       "giving each node v the sum ∂{out}/∂v = Σ ∂{out}/∂c·∂c/∂v over the nodes c that use v, "
                       "so every path is counted once without being listed:",
                       "从 {out} 到 {p} 共有 {n} 条路径，超过 {limit} 条：逐条列出会一再重复相同的乘积。"
                       "反向传播从不列出路径，而是从 {out} 开始逐个节点计算："
                       "每个节点 v 得到 ∂{out}/∂v = Σ ∂{out}/∂c·∂c/∂v（c 为使用 v 的节点），"
                       "这样每条路径都被计算一次而无需列出："),
    "symbolic": ("symbolic check (sympy): {out} = {expr}", "符号验证（sympy）：{out} = {expr}"),
    "symbolic_d": ("∂{out}/∂{p} = {expr} = {v}", "∂{out}/∂{p} = {expr} = {v}"),
    "symbolic_agrees": ("equal to the chain rule's {s} ✓", "与链式法则的结果 {s} 相等 ✓"),
    "symbolic_differs": ("DIFFERS from the chain rule's {s} ✗", "与链式法则的结果 {s} 不相等 ✗"),
    "symbolic_unavailable": ("symbolic check skipped: {why}", "跳过符号验证：{why}"),
    "no_sympy": ("sympy is not installed: rules are shown as numbers only and the symbolic check is skipped "
                 "(install it with: pip install 'graphdsl[explain]')",
                 "未安装 sympy：局部偏导数只显示数值，且跳过符号验证"
                 "（安装：pip install 'graphdsl[explain]'）"),
}


def tr(key: str, lang: str = "en", **fields) -> str:
    """The message ``key`` in ``lang`` ("en" or "zh") with ``fields`` filled in.

    Raises KeyError for an unknown key (a programming error, caught by the tests).
    """
    en, zh = MESSAGES[key]
    text = zh if lang == "zh" else en
    return text.format(**fields) if fields else text


def default_lang(environ=None) -> str:
    """"zh" when the locale (LC_ALL, then LC_MESSAGES, then LANG) starts with zh, else "en"."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"
