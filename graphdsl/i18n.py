"""The words graphdsl prints in English and in Chinese (the course is Chinese).

One table, ``MESSAGES``: key -> (English, Chinese). :func:`tr` picks one and
fills in its ``{fields}``; :func:`default_lang` reads the locale. Translated:
``explain``, ``compare``, ``run``'s table and summary, the HTML report's own
words (``r_*``), the pictures' titles and captions (``v_*``) and the plots'
words (``p_*``); error messages stay English (they are searched for on the web).

>>> tr("converged_after", "zh", n=3, s="", values="b = 3.9")
'3 次迭代后收敛：b = 3.9'
>>> default_lang({"LANG": "zh_CN.UTF-8"}), default_lang({"LANG": "C.UTF-8"})
('zh', 'en')
"""

from __future__ import annotations

import os
import string

from .text import format_number

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
    "no_iteration": ("stopped before the first iteration could be computed",
                     "第一次迭代还没算完就停止了"),
    "skip": ("skip", "跳过"),
    "grad_node": ("∂{out}/∂node", "∂{out}/∂节点"),
    # why a run ended or a param skipped a step (graphdsl.trace.Reason: the key is
    # "why_" + its code); English is byte-for-byte the JSON's "message" and "skipped".
    # {x!n} is a number as the tables print it (text.format_number)
    "why_below": ("{out} = {value:.6g} is below {limit:g}", "{out} = {value:.6g} 低于 {limit:g}"),
    "why_gradient_small": ("every |∂{out}/∂p| is below {tol:g}", "每个 |∂{out}/∂p| 都小于 {tol:g}"),
    "why_diverging": ("|error| grew {n} iterations in a row (now {error:.6g}): the run is diverging",
                      "|误差| 连续 {n} 次迭代增大（现在为 {error:.6g}）：运行正在发散"),
    "why_diverging_gd": ("|error| grew {n} iterations in a row (now {error:.6g}): the run is "
                         "diverging; try a smaller --lr",
                         "|误差| 连续 {n} 次迭代增大（现在为 {error:.6g}）：运行正在发散；"
                         "试试更小的 --lr"),
    "why_max_iter": ("no convergence after {n} iteration{s} (error {error:.6g})",
                     "{n} 次迭代后仍未收敛（误差 {error:.6g}）"),
    "why_max_iter_minimize": ("no convergence after {n} iteration{s} (largest |∂{out}/∂p| = "
                              "{gradient:.6g})",
                              "{n} 次迭代后仍未收敛（最大的 |∂{out}/∂p| = {gradient:.6g}）"),
    "why_zero_partials": ("every partial ∂{out}/∂p is 0 at iteration {iteration}: no param can "
                          "move {out} towards the target",
                          "第 {iteration} 次迭代时每个偏导数 ∂{out}/∂p 都为 0："
                          "没有参数能让 {out} 向目标移动"),
    "why_infinite_step": ("the step for {p} at iteration {iteration} is not a finite number "
                          "(∂{out}/∂{p} = {partial!n}, error {error!n})",
                          "第 {iteration} 次迭代时 {p} 的步长不是有限数"
                          "（∂{out}/∂{p} = {partial!n}，误差 {error!n}）"),
    "why_infinite_step_minimize": ("the step for {p} at iteration {iteration} is not a finite "
                                   "number (∂{out}/∂{p} = {partial!n})",
                                   "第 {iteration} 次迭代时 {p} 的步长不是有限数"
                                   "（∂{out}/∂{p} = {partial!n}）"),
    "why_stalled": ("iteration {iteration} is back at the params of iteration {again}: the steps no "
                    "longer move the params beyond rounding (floats carry about 16 significant "
                    "digits), so the run would repeat itself for ever (|error| = {error:.6g})",
                    "第 {iteration} 次迭代回到了第 {again} 次迭代的参数：步长已小于舍入误差"
                    "（浮点数约有 16 位有效数字），参数不再变化，运行会永远重复下去"
                    "（|误差| = {error:.6g}）"),
    "why_stalled_minimize": ("iteration {iteration} is back at the params of iteration {again}: the "
                             "steps no longer move the params beyond rounding (floats carry about 16 "
                             "significant digits), so the run would repeat itself for ever (largest "
                             "|∂{out}/∂p| = {gradient:.6g})",
                             "第 {iteration} 次迭代回到了第 {again} 次迭代的参数：步长已小于舍入误差"
                             "（浮点数约有 16 位有效数字），参数不再变化，运行会永远重复下去"
                             "（最大的 |∂{out}/∂p| = {gradient:.6g}）"),
    "why_cycling": ("iteration {iteration} is back at the params of iteration {again}: the run goes "
                    "round a cycle of {period} steps and would repeat it for ever",
                    "第 {iteration} 次迭代回到了第 {again} 次迭代的参数：运行在 {period} 步的循环中"
                    "打转，会永远重复下去"),
    # the engine's own message (an error message, English in both) and where it happened
    "why_numeric": ("{detail} (iteration {iteration})", "{detail}（第 {iteration} 次迭代）"),
    "why_zero_partial": ("∂{out}/∂{p} = 0: no split step can move {p}",
                         "∂{out}/∂{p} = 0：split 的步长无法移动 {p}"),
    # a fit's end (FitTrace.stop); "gradient-small" is shared with --minimize
    "why_max_epochs": ("no convergence after {n} epoch{s} (largest |∂{out}/∂p| = {gradient:.6g}, "
                       "--tol {tol:g})",
                       "{n} 轮后仍未收敛（最大的 |∂{out}/∂p| = {gradient:.6g}，--tol {tol:g}）"),
    "why_numeric_epoch": ("{detail} (epoch {epoch})", "{detail}（第 {epoch} 轮）"),
    "why_numeric_step": ("{detail} (epoch {epoch}, step {step})",
                         "{detail}（第 {epoch} 轮，第 {step} 步）"),
    # fit
    "epoch": ("epoch", "轮"),
    "fit_line": ("{model}: fit {out} over {n} sample{s}{where} · {optimizer}, lr {lr}, {batch}",
                 "{model}：用 {n} 个样本{where}训练 {out} · {optimizer}，学习率 {lr}，{batch}"),
    "fit_of": (" of {data}", "（{data}）"),
    "full_batch": ("full batch", "全批量"),
    "mini_batches": ("mini-batches of {size}, seed {seed}", "小批量 {size}，种子 {seed}"),
    "fit_converged": ("converged after {n} epoch{s}: {values} (largest |∂{out}/∂p| {worst})",
                      "{n} 轮后收敛：{values}（最大的 |∂{out}/∂p| 为 {worst}）"),
    "fit_no_epoch": ("stopped before the first epoch could be computed", "第一轮还没算完就停止了"),
    "fit_numeric": ("stopped during epoch {next}: {values} at the end of epoch {n}",
                    "在第 {next} 轮中停止：第 {n} 轮结束时 {values}"),
    "fit_not_converged": ("not converged after {n} epoch{s}: {values}",
                          "{n} 轮后未收敛：{values}"),
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
    "pictures_written": ("wrote {n} pictures to {path}", "已将 {n} 张图写入 {path}"),
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
    "rules_left_out": ("rules left out: {why}", "省略了部分求导规则：{why}"),
    "no_sympy": ("sympy is not installed: rules are shown as numbers only and the symbolic check is skipped "
                 "(install it with: pip install 'graphdsl[explain]')",
                 "未安装 sympy：局部偏导数只显示数值，且跳过符号验证"
                 "（安装：pip install 'graphdsl[explain]'）"),
    # explain of a data model: the sum over the samples
    "s_title": ("{model}: how reverse mode gets ∂{out}/∂p, sample by sample",
                "{model}：反向传播如何逐个样本求出 ∂{out}/∂p"),
    "s_at_values": ("at {values}: {out} = {value}, over {n} samples",
                    "在 {values} 时：{out} = {value}，共 {n} 个样本"),
    "s_intro": ("∂{out}/∂p is a sum over the samples: each sample adds its own chain rule, through its own "
                "copy of the per-sample nodes.\nSample {k} ({where}: {data}) is written out path by path.",
                "∂{out}/∂p 是对各样本的求和：每个样本经由它自己那一份逐样本节点，贡献自己的链式法则。\n"
                "下面逐条路径写出样本 {k}（{where}：{data}）。"),
    "s_inline": ("inline in the model", "模型中内联的数据"),
    "s_caller": ("from the caller", "调用者给出的数据"),
    "s_given": ("∂{out}/∂{node} = {g} is given: a total over all {n} samples, since {node} is used again per "
                "sample; a path of one sample starts from it instead of passing through it.",
                "∂{out}/∂{node} = {g} 是给定的：它是全部 {n} 个样本的总和，因为 {node} 又被逐样本使用；"
                "单个样本的路径从它出发，而不是经过它。"),
    "s_n_paths": ("{n} path{s} from {out} to {p} at sample {k}:", "样本 {k} 中从 {out} 到 {p} 共 {n} 条路径："),
    "s_no_path": ("no path of a sample leads from {out} to {p}: every sample adds 0.",
                  "没有经过样本的路径从 {out} 通向 {p}：每个样本的贡献都是 0。"),
    "s_many": ("{n} paths lead from {out} to {p} at sample {k}, more than {limit}: as reverse mode does, "
               "sample {k}'s chain rule goes node by node from {out}, each node v getting "
               "∂{out}/∂v = Σ ∂{out}/∂c·∂c/∂v over the nodes c that use v (at sample {k}):",
               "样本 {k} 中从 {out} 到 {p} 共有 {n} 条路径，超过 {limit} 条：与反向传播一样，"
               "样本 {k} 的链式法则从 {out} 开始逐个节点计算，每个节点 v 得到 "
               "∂{out}/∂v = Σ ∂{out}/∂c·∂c/∂v（c 为使用 v 的节点，取样本 {k} 处的值）："),
    "s_part": ("sample {k}'s part of ∂{out}/∂{p}", "样本 {k} 对 ∂{out}/∂{p} 的贡献"),
    "s_where": ("where, at sample {k} ({n_name} = {n}):", "其中，在样本 {k} 处（{n_name} = {n}）："),
    "s_direct": ("direct part: {v}, along the paths from {out} to {p} that meet no sample (such as a "
                 "penalty + {p}^2)",
                 "直接部分：{v}，来自从 {out} 到 {p} 且不经过任何样本的路径（例如惩罚项 + {p}^2）"),
    "s_sum": ("summed over the {n} samples: {line}", "对 {n} 个样本求和：{line}"),
    "s_term": ("sample {k}", "样本 {k}"),
    "s_term_direct": ("direct", "直接部分"),
    "s_engine_agrees": ("reverse mode (the engine): ∂{out}/∂{p} = {g} — equal to the sum over the samples ✓",
                        "反向传播（引擎）：∂{out}/∂{p} = {g} —— 与对各样本的求和相等 ✓"),
    "s_engine_differs": ("reverse mode (the engine): ∂{out}/∂{p} = {g} — DIFFERS from the sum over the "
                         "samples {s} ✗",
                         "反向传播（引擎）：∂{out}/∂{p} = {g} —— 与对各样本的求和 {s} 不相等 ✗"),
    "s_engine_unchecked": ("reverse mode (the engine): ∂{out}/∂{p} = {g}; not checked sample by sample: {why}",
                           "反向传播（引擎）：∂{out}/∂{p} = {g}；未逐个样本验证：{why}"),
    "s_part_differs": ("sample {k}'s paths add up to {s}, but its part by reverse mode is {v} ✗",
                       "样本 {k} 的各路径之和为 {s}，但反向传播给出的该样本贡献为 {v} ✗"),
    "s_symbolic": ("symbolic check (sympy), {out} written over all {n} samples: ∂{out}/∂{p} = {v}",
                   "符号验证（sympy），把 {out} 写成全部 {n} 个样本的表达式：∂{out}/∂{p} = {v}"),
    # explain --mode forward
    "fwd_title": ("{model}: how forward mode gets ∂{out}/∂p, one pass per param",
                  "{model}：前向模式如何求出 ∂{out}/∂p，每个参数一遍"),
    "fwd_intro": ("forward mode, one pass per param p: each node's tangent ∂node/∂p, in the graph's order,\n"
                  "is the sum over its statement's inputs of local partial × the input's tangent.",
                  "前向模式，每个参数 p 一遍：按图的顺序，每个节点的切向量 ∂节点/∂p\n"
                  "等于其语句各输入的局部偏导数与该输入切向量的乘积之和。"),
    "fwd_from": ("from {p}:", "从 {p} 出发："),
    "fwd_seed": ("seed: {seeds}", "种子：{seeds}"),
    "fwd_independent": ("{nodes} does not depend on {p}: its tangent is 0, and the pass skips it.",
                        "{nodes} 不依赖于 {p}：切向量为 0，这一遍跳过。"),
    "fwd_independents": ("{nodes} do not depend on {p}: their tangents are 0, and the pass skips them.",
                         "{nodes} 不依赖于 {p}：切向量为 0，这一遍跳过。"),
    "fwd_omitted": ("… {n} more steps like these …", "……另有 {n} 步同样的计算……"),
    "fwd_step_differs": ("the sum {s} DIFFERS from the engine's tangent {v} ✗",
                         "求和结果 {s} 与引擎的切向量 {v} 不相等 ✗"),
    "fwd_agrees": ("forward mode: ∂{out}/∂{p} = {t}; reverse mode (the engine): ∂{out}/∂{p} = {g} — equal ✓",
                   "前向模式：∂{out}/∂{p} = {t}；反向传播（引擎）：∂{out}/∂{p} = {g} —— 相等 ✓"),
    "fwd_differs": ("forward mode: ∂{out}/∂{p} = {t}; reverse mode (the engine): ∂{out}/∂{p} = {g} — DIFFERENT ✗",
                    "前向模式：∂{out}/∂{p} = {t}；反向传播（引擎）：∂{out}/∂{p} = {g} —— 不相等 ✗"),
    "cost_title": ("what each mode costs on this model, in multiply-adds of the chain rule (the value "
                   "pass, the same for both, is not counted):",
                   "两种模式在这个模型上的代价，以链式法则的乘加次数计（两者相同的求值一遍不计）："),
    "cost_forward": ("forward mode: {n} pass{s}, one per param ({each}): {total}",
                     "前向模式：{n} 遍，每个参数一遍（{each}）：{total}"),
    "cost_reverse": ("reverse mode: {n} backward pass for every param at once: {total}",
                     "反向传播：{n} 遍反向，一次得到所有参数：{total}"),
    "cost_reverse_cheaper": ("reverse mode is the cheap way here: forward mode needs {r}× its work, and "
                             "every param more adds a forward pass while reverse mode keeps one.",
                             "这里反向传播更省：前向模式需要它的 {r} 倍工作量；每多一个参数，"
                             "前向模式就多一遍，而反向传播始终只要一遍。"),
    "cost_forward_cheaper": ("forward mode is the cheaper here ({r}× reverse mode's work).",
                             "这里前向模式更省（是反向传播工作量的 {r} 倍）。"),
    "cost_same": ("both modes need the same work here.", "这里两种模式的工作量相同。"),
    "cost_jacobian": ("the Jacobian of {out}'s inputs {inputs} ({m} × {n}): forward mode "
                      "{n} pass{s}, {ft}; reverse mode {m} passes, one per input ({each}), {rt}: {verdict}",
                      "{out} 的输入 {inputs} 的雅可比矩阵（{m} × {n}）：前向模式 {n} 遍，{ft}；"
                      "反向传播 {m} 遍，每个输入一遍（{each}），{rt}：{verdict}"),
    "jac_forward": ("forward mode is the cheap way here: each pass gives every input's tangent at once, "
                    "where reverse mode needs a pass per input — with fewer params than outputs the "
                    "comparison turns around.",
                    "这里前向模式更省：每一遍同时得到所有输入的切向量，而反向传播每个输入要一遍"
                    "——参数比输出少时，比较结果就反过来了。"),
    "jac_reverse": ("reverse mode is still the cheaper.", "反向传播仍然更省。"),
    "jac_same": ("the same work.", "工作量相同。"),
    # the HTML report's own words (graphdsl report --lang)
    # graphdsl watch's page (around the report, which has its own words)
    "w_title": ("graphdsl watch: {name}", "graphdsl 实时页面：{name}"),
    "w_watching": ("watching {name}", "正在跟随 {name}"),
    "w_first": ("building the first page…", "正在生成第一页…"),
    "w_kept": ("The last good page is shown dimmed below; fix the model and save it to try again.",
               "下方变暗的是上一次正确的页面；改正模型并保存后会重新生成。"),
    "w_building": ("building…", "正在生成…"),
    "w_left": ("about {t} left", "约剩 {t}"),
    "w_updated": ("updated {time}", "{time} 已更新"),
    "w_lost": ("connection lost: is graphdsl watch still running?",
               "连接已断开：graphdsl watch 还在运行吗？"),
    "r_title": ("graphdsl report: {name}", "graphdsl 报告：{name}"),
    "r_sub": ("{headline}. Result: {ending}: {final}.", "{headline}。结果：{ending}，{final}。"),
    "r_sub_nothing": ("{headline}. Result: {ending}.", "{headline}。结果：{ending}。"),
    "r_how_evaluated": ("output {out}, no target: one forward and one backward pass",
                        "输出 {out}，没有目标：一次前向、一次反向传播"),
    "r_how_minimise": ("minimise {out}, gradient descent", "最小化 {out}，梯度下降"),
    "r_how_target": ("{out} → {target}, method {method}", "{out} → {target}，方法 {method}"),
    "r_converged": ("converged after {n} iteration{s}", "{n} 次迭代后收敛"),
    "r_evaluated": ("one forward and one backward pass (no target)",
                    "一次前向、一次反向传播（没有目标）"),
    "r_not_converged": ("not converged after {n} iteration{s}: {why}", "{n} 次迭代后未收敛：{why}"),
    "r_nav": ("step through the run", "逐步查看这次运行"),
    "r_first": ("« First", "« 第一步"),
    "r_prev": ("◀ Previous", "◀ 上一步"),
    "r_next": ("Next ▶", "下一步 ▶"),
    "r_last": ("Last »", "最后一步 »"),
    "r_slider": ("iteration", "迭代"),
    "r_keys": ("Keys:", "按键："),
    "r_noscript": ("JavaScript is off: this page shows iteration 0; the table below has every iteration.",
                   "JavaScript 已关闭：本页只显示第 0 次迭代；下面的表格列出了每一次迭代。"),
    "r_frame": ("backward view: values, gradients and local partials",
                "反向视图：值、梯度和局部偏导数"),
    "r_h_explain": ("The chain rule at this iteration", "本次迭代的链式法则"),
    "r_h_forward": ("Forward mode at this iteration", "本次迭代的前向模式"),
    "r_fwd_param": ("tangents ∂node/∂p from the param p =", "从参数 p 出发的切向量 ∂节点/∂p，p ="),
    "r_h_table": ("Every iteration", "每一次迭代"),
    "r_table": ("table of every iteration", "每一次迭代的表格"),
    "r_h_plots": ("Plots", "图表"),
    "r_h_source": ("The model", "模型"),
    "r_of": ("iteration {i} of {n}", "迭代 {i} / {n}"),
    # iterations count from 0, so "of {n}" names the last one: "共 {n} 次" would be one short
    "r_heading": ("Iteration {i} of {n}", "迭代 {i} / {n}"),
    "r_where": ("Iteration {i} / {n}", "迭代 {i} / {n}"),
    "r_showing": ("Showing {label}", "正在显示：{label}"),
    "r_no_iteration": ("no iteration", "没有迭代"),
    "r_start": (" (start)", "（起点）"),
    "r_end": (" (last)", "（最后）"),
    "r_error_is": ("error = {out} − target = {e}", "误差 = {out} − 目标 = {e}"),
    "r_kind": ("({kind})", "（{kind}）"),
    "r_param": ("param", "参数"),
    "r_held": ("param, held", "参数，不变"),
    "r_output": ("output", "输出"),
    "r_skipped": ("skipped: {why}", "跳过：{why}"),
    "r_caption": ("values, gradients and steps at iteration {i}", "第 {i} 次迭代的值、梯度和步长"),
    "step_node": ("step Δ", "步长 Δ"),
    "r_next_move": ("next: {moves}", "下一步：{moves}"),
    "r_current": ("current", "当前"),
    "r_show": ("show iteration {i}", "显示第 {i} 次迭代"),
    "r_empty_run": ("The run has no iteration.", "这次运行没有迭代。"),
    "r_no_frame": ("No picture for this iteration.", "这次迭代没有图。"),
    "r_no_panel": ("This iteration is not shown in full: the page has pictures, values and the chain "
                   "rule for {m} evenly spaced iterations. The table below has every iteration.",
                   "这次迭代没有完整显示：本页只为均匀选取的 {m} 次迭代给出图、值和链式法则。"
                   "下面的表格列出了每一次迭代。"),
    "r_no_plot": ("No plot in this report.", "本报告没有图表。"),
    "r_plot_minimise": ("{out} per iteration", "每次迭代的 {out}"),
    "r_plot_error": ("|error| per iteration (log scale)", "每次迭代的 |误差|（对数坐标）"),
    "r_plot_curve": ("; {out} as a function of {p}, with the iterates marked, and its derivative",
                     "；{out} 作为 {p} 的函数（标出了每次迭代的点）及其导数"),
    "r_plot_ring": ("; the red ring marks the current iteration", "；红圈标出当前迭代"),
    # the HTML report of a fit (graphdsl report MODEL --data FILE.csv): its own words
    "rf_title": ("graphdsl report of a fit: {name}", "graphdsl 训练报告：{name}"),
    "rf_headline": ("fit {out} over {n} sample{s}{where} · {optimizer}, lr {lr}, {batch}",
                    "在 {n} 个样本{where}上训练 {out} · {optimizer}，学习率 {lr}，{batch}"),
    "rf_converged": ("converged after {n} epoch{s}", "{n} 轮后收敛"),
    "rf_not_converged": ("not converged after {n} epoch{s}: {why}", "{n} 轮后未收敛：{why}"),
    "rf_stopped": ("stopped during epoch {n}: {why}", "第 {n} 轮中途停止：{why}"),
    "rf_no_epoch": ("stopped before the first epoch could be computed: {why}",
                    "第一轮还没算完就停止了：{why}"),
    "rf_nav": ("step through the fit", "逐轮查看这次训练"),
    "rf_slider": ("epoch", "轮次"),
    "rf_noscript": ("JavaScript is off: this page shows epoch 0; the table below has every epoch.",
                    "JavaScript 已关闭：本页只显示第 0 轮；下面的表格列出了每一轮。"),
    "rf_frame": ("plate picture, backward view: inside the box one sample's values and "
                 "contributions, on the params the total ∂loss/∂param",
                 "板块图，反向：框内是一个样本的值和贡献，参数上是 ∂loss/∂参数 的总和"),
    "rf_h_explain": ("The chain rule over the samples at this epoch", "本轮对样本求和的链式法则"),
    "rf_h_table": ("Every epoch", "每一轮"),
    "rf_table": ("table of every epoch", "每一轮的表格"),
    "rf_of": ("epoch {i} of {n}", "第 {i} 轮 / 共 {n} 轮"),
    "rf_heading": ("Epoch {i} of {n}", "第 {i} 轮 / 共 {n} 轮"),
    "rf_at": ("Epoch {i} / {n}", "轮次 {i} / {n}"),
    "rf_none": ("no epoch", "没有轮次"),
    "rf_loss_is": ("{out} over all {n} samples = {loss}", "{out}（全部 {n} 个样本）= {loss}"),
    "rf_caption": ("values and gradients at epoch {i}, over the whole data set",
                   "第 {i} 轮的值和梯度（整个数据集）"),
    "rf_next": ("the next epoch ({k} step{s}, {batch}) moves {moves}",
                "下一轮（{k} 步，{batch}）：{moves}"),
    "rf_show": ("show epoch {i}", "显示第 {i} 轮"),
    "rf_empty": ("The fit has no epoch.", "这次训练没有轮次。"),
    "rf_no_frame": ("No picture for this epoch.", "这一轮没有图。"),
    "rf_no_panel": ("This epoch is not shown in full: the page has pictures, values and the chain "
                    "rule for {m} evenly spaced epochs. The table below has every epoch.",
                    "这一轮没有完整显示：本页只为均匀选取的 {m} 轮给出图、值和链式法则。"
                    "下面的表格列出了每一轮。"),
    "rf_plot": ("left: {out} on the whole data set per epoch (log scale when every value is "
                "positive); the red ring marks the current epoch",
                "左：每一轮整个数据集上的 {out}（全为正时用对数坐标）；红圈标出当前轮次"),
    "rf_plot_curve": ("; right: the data and {pred} at the current epoch (dashed: the start), "
                      "sample {k} ringed in black",
                      "；右：数据和当前轮次的 {pred}（虚线：起点），黑圈是第 {k} 个样本"),
    "rf_plot_boundary": ("; right: the samples by {t} and where {pred} = {level} at the current "
                         "epoch, sample {k} ringed in black",
                         "；右：按 {t} 着色的样本，以及当前轮次 {pred} = {level} 的分界线，"
                         "黑圈是第 {k} 个样本"),
    # the pictures' titles and captions (graphdsl render --lang, run --render)
    "v_structure": ("structure", "结构"),
    "v_forward": ("forward", "前向"),
    "v_backward": ("backward", "反向"),
    "v_ops": ("ops", "运算"),
    "v_plate_n": ("i = 1 … {n}: each of the {n} samples", "i = 1 … {n}：{n} 个样本中的每一个"),
    "v_plate_one": ("i = 1: the one sample", "i = 1：唯一的样本"),
    "v_plate": ("each sample i (one value per sample)", "每个样本 i（每个样本一个值）"),
    "v_tangent": ("tangents (forward mode)", "切向量（前向模式）"),
    "v_tangent_along": (": forward mode, one pass from {p} along the highlighted edges",
                        "：前向模式，从 {p} 出发沿高亮的边走一遍"),
    "v_iteration": ("iteration {i}", "第 {i} 次迭代"),
    "v_error": ("error {e}", "误差 {e}"),
    "v_next_step": ("next step: ", "下一步："),
    "v_many_paths": (" (more than {n} paths; the highlighted edges carry them all)",
                     "（超过 {n} 条路径；高亮的边包含了全部路径）"),
    "v_no_path": (" = 0: no path leads from {p} to {out}", " = 0：没有从 {p} 通向 {out} 的路径"),
    "v_more_input": ("… {n} more input", "… 另有 {n} 个输入"),
    "v_more_inputs": ("… {n} more inputs", "… 另有 {n} 个输入"),
    "v_along": (" along the highlighted edges", "（沿高亮的边）"),
    "v_used_by": ("… used by {n} more", "… 另有 {n} 处使用"),
    # a data model's pictures at one sample (render --sample K, a fit's epochs)
    "v_plate_k": ("sample {k} of {n}: this sample's values",
                  "第 {k} 个样本（共 {n} 个）：这个样本的值"),
    "v_plate_k_grad": ("sample {k} of {n}: ∂{out}/∂node for this sample's copy of each node",
                       "第 {k} 个样本（共 {n} 个）：每个节点在这个样本上的 ∂{out}/∂node"),
    "v_sample_adds": ("sample {k} adds {v}", "第 {k} 个样本贡献 {v}"),
    "v_wrt_sample": (" (sample {k}'s chain rule)", "（第 {k} 个样本的链式法则）"),
    "v_wrt_sample_given": (" at sample {k}: not written edge by edge here, since an edge on the way "
                           "mixes this sample's part with a total over all samples (a reduction's "
                           "result used again per sample, or a statement with a mean and a term "
                           "of its own); `graphdsl explain --sample {k}` writes this sample's part "
                           "path by path",
                           "（第 {k} 个样本）：这里不逐条边写出，因为途中有一条边把这个样本的部分与全部样本的总和混在一起"
                           "（某个归约的结果又被逐样本使用，或一个语句里既有 mean 又有自己的项）；"
                           "`graphdsl explain --sample {k}` 逐条路径写出这个样本的部分"),
    "v_wrt_sample_none": (" at sample {k}: no path through this sample's nodes reaches {p}, so it "
                          "adds nothing",
                          "（第 {k} 个样本）：经过这个样本的节点的路径都到不了 {p}，所以它什么也不加"),
    "v_wrt_total": ("over all {n} samples: ∂{out}/∂{p} = {v}, the sum of every sample's chain rule",
                    "全部 {n} 个样本：∂{out}/∂{p} = {v}，即每个样本的链式法则之和"),
    "v_wrt_total_direct": ("over all {n} samples: ∂{out}/∂{p} = {v}, what every sample adds plus "
                           "{d} that comes through no sample (counted once)",
                           "全部 {n} 个样本：∂{out}/∂{p} = {v}，即每个样本的贡献之和，加上不经过任何样本的 {d}"
                           "（只计一次）"),
    "v_epoch": ("epoch {i}", "第 {i} 轮"),
    # the plots' words (graphdsl.plot: run/compare/fit --plot, the report's and the
    # notebook's plots); English is byte-for-byte what the plots drew before --lang
    "p_iteration": ("iteration", "迭代"),
    "p_epoch": ("epoch", "轮次"),
    "p_run_title": ("{model}: {goal}, method {method}", "{model}：{goal}，方法 {method}"),
    "p_minimise": ("minimise {out}", "最小化 {out}"),
    "p_minimised": ("{out} (minimised)", "{out}（最小化）"),
    "p_abs_error": ("|error| = |{out} − target|", "|误差| = |{out} − 目标|"),
    "p_diverges": ("{method} diverges: |error| reaches {worst:.3g}",
                   "{method} 发散：|误差| 达到 {worst:.3g}"),
    "p_error_zero": ("error 0", "误差 0"),
    "p_tol": ("tol {tol:g}", "容差 {tol:g}"),
    "p_target": ("target {target:g}", "目标 {target:g}"),
    "p_step_split": ("step: the tangent down to the target", "步长：沿切线到目标"),
    "p_step_frozen": ("step: the first slope, kept, down to the target",
                      "步长：沿保持不变的第一次斜率到目标"),
    "p_iterates": ("iterates", "迭代点"),
    "p_curve_one": ("{out} as a function of {p}", "{out} 作为 {p} 的函数"),
    "p_curve": ("{out} as a function of {p}; the iterates {p}₀, {p}₁, …",
                "{out} 作为 {p} 的函数；迭代点 {p}₀、{p}₁、…"),
    "p_compare_run": ("{method}: {n} iterations, {state}", "{method}：{n} 次迭代，{state}"),
    "p_compare_title": ("{model}: {out} → {target:g}, |error| per iteration",
                        "{model}：{out} → {target:g}，每次迭代的 |误差|"),
    # a run's status in compare's legend (Trace.status: the key is "p_state_" + it)
    "p_state_converged": ("converged", "已收敛"),
    "p_state_numeric": ("numeric failure", "数值失败"),
    "p_state_diverging": ("diverging", "发散"),
    "p_state_max_iter": ("max-iter reached", "达到最大迭代次数"),
    "p_state_stopped": ("stopped", "已停止"),
    "p_optimizer": ("{optimizer}, lr {lr:g}", "{optimizer}，学习率 {lr:g}"),
    "p_loss_axis": ("{out} (all {n} samples)", "{out}（全部 {n} 个样本）"),
    "p_full_batch": ("full batch", "全批量"),
    "p_batch": ("batch {size}", "批量 {size}"),
    "p_loss_title": ("{model}: {out} per epoch ({batch})", "{model}：每轮的 {out}（{batch}）"),
    "p_not_finite": ("the next value is not finite", "下一个值不是有限数"),
    "p_data_title": ("the data and the prediction", "数据和预测"),
    "p_no_roles": ("cannot draw the data with the prediction:\n{why}", "无法画出数据和预测：\n{why}"),
    "p_no_epoch": ("the fit has no epoch", "这次训练没有轮次"),
    # why no role fits (graphdsl.samples.find_roles; English is byte-for-byte its reason);
    # a plot wraps text only at spaces, so a long Chinese line breaks at a \n of its own
    "p_why_labels": ("{target} has {n} distinct values, not two labels: no decision boundary to draw",
                     "{target} 有 {n} 个不同的值，不是两个标签：画不出决策边界"),
    "p_why_columns": ("{pred} depends on {n} data columns: too many to draw",
                      "{pred} 依赖 {n} 个数据列：太多，画不出来"),
    "p_why_reduced": ("{pred} depends on a mean or sum over all the samples, so it is not a curve "
                      "of its own inputs: there is no data plot to draw",
                      "{pred} 依赖于对全部样本的 mean 或 sum，\n所以它不是自身输入的曲线：没有数据图可画"),
    "p_why_none": ("no named per-sample prediction that depends on the params and on every data "
                   "column but one (the target): name it, e.g. pred = w*x + b",
                   "没有一个有名字的逐样本预测同时依赖参数和除一列（目标）以外的所有数据列：\n"
                   "给它起个名字，例如 pred = w*x + b"),
    "p_data": ("data ({n} samples)", "数据（{n} 个样本）"),
    "p_data_some": ("data ({k:,} of {n:,} samples shown)", "数据（显示 {n:,} 个样本中的 {k:,} 个）"),
    "p_some": (" ({k:,} of {n:,} shown)", "（显示 {n:,} 个中的 {k:,} 个）"),
    "p_epoch_n": ("epoch {i}", "第 {i} 轮"),
    "p_epoch_start": ("epoch {i} (start)", "第 {i} 轮（起点）"),
    "p_curves_title": ("{pred} against the data: the start, epochs between, the end",
                       "{pred} 与数据对照：起点、中间几轮、终点"),
    "p_boundary": ("boundary: {note}", "分界线：{note}"),
    "p_never_crosses": ("{pred} never crosses {level:g} here: no boundary in view",
                        "{pred} 在这里从不越过 {level:g}：视野内没有分界线"),
    "p_classifier_title": ("the samples by {t}, and where {note} after epoch {epoch}",
                           "按 {t} 着色的样本，以及第 {epoch} 轮后 {note} 的位置"),
    "p_sample": ("sample {k}", "第 {k} 个样本"),
    "p_current": ("{pred} at the current epoch", "当前轮次的 {pred}"),
    "p_current_title": ("{pred} against the data at the current epoch", "当前轮次的 {pred} 与数据对照"),
    "p_no_cross_at": ("{pred} does not cross {level:g} here at epoch {epoch}: no boundary in view",
                      "第 {epoch} 轮时 {pred} 在这里不越过 {level:g}：视野内没有分界线"),
    "p_boundary_title": ("the samples by {t}; {note} at the current epoch",
                         "按 {t} 着色的样本；当前轮次 {note} 的位置"),
}


class _Words(string.Formatter):
    """str.format plus one conversion: ``{x!n}`` is ``format_number(x)``."""

    def convert_field(self, value, conversion):
        if conversion == "n":
            return format_number(value)
        return super().convert_field(value, conversion)


_WORDS = _Words()


def tr(key: str, lang: str = "en", **fields) -> str:
    """The message ``key`` in ``lang`` ("en" or "zh") with ``fields`` filled in.

    Raises KeyError for an unknown key (a programming error, caught by the tests).
    """
    en, zh = MESSAGES[key]
    text = zh if lang == "zh" else en
    if not fields:
        return text
    if text is en and fields.get("n") == 1:    # a data set of one sample, in English
        text = text.replace("{n} samples", "{n} sample")
    return _WORDS.format(text, **fields) if "!n}" in text else text.format(**fields)


#: the reasons whose status says it all: no sentence
_SILENT = ("reached", "evaluated")


def reason_text(reason, lang: str = "en") -> str | None:
    """The sentence for a :class:`graphdsl.trace.Reason` (its ``code`` and
    ``fields``) in ``lang``, or None for a reason that needs none. A count
    ``n`` gets its plural ending in English.

    Raises KeyError for a code with no sentence (a programming error).

    >>> from graphdsl.trace import Reason
    >>> reason_text(Reason("max-iter", {"n": 3, "error": 0.25}), "en")
    'no convergence after 3 iterations (error 0.25)'
    """
    if reason.code in _SILENT:
        return None
    fields = dict(reason.fields)
    if "n" in fields:
        fields["s"] = "s" if fields["n"] != 1 else ""
    return tr("why_" + reason.code.replace("-", "_"), lang, **fields)


def default_lang(environ=None) -> str:
    """"zh" when the locale (LC_ALL, then LC_MESSAGES, then LANG) starts with zh, else "en"."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"
