"""The fast path of loading: a lexer of our own feeding a plain LALR loop that
runs on Lark's own parse table and calls Lark's own rule callbacks.

Lark's lexer makes a token object for every piece of text (spaces and
parentheses included) and its LALR driver is written for every grammar and
every kind of use, so together they were about 80% of loading. Here the text
is cut by one compiled regular expression, the alternatives of Lark's
terminals in Lark's own order (the order its lexer tries them in), and the
tokens go to a loop over the same parse table, which hands each rule's
children to the transformer of :mod:`graphdsl.parser` shaped as Lark's tree
builder shapes them (see :func:`_reducer`). A token object is made only for the
terminals a rule keeps (names, numbers, operators); parentheses, commas and
newlines are only states of the loop. The rule that newlines inside
brackets do not end a statement is the post-lexer's, applied in the loop from
the terminals the post-lexer names.

The fast path answers only for text it takes whole. Lark's contextual lexer
would cut valid text the same way: a terminal accepted in the parser's state
is the one Lark's lexer for that state picks too, since that lexer tries a
subset of the same alternatives in the same order. At the first thing it does
not take (a character no terminal matches, a token the state does not accept,
an exception from a callback) it raises, and :func:`graphdsl.parser.parse`
parses the text again with Lark itself, whose errors make the messages: every
message stays what it was, byte for byte.

>>> from graphdsl.parser import get_parser
>>> fast = FastParser(get_parser())
>>> z = fast.parse("param w = 3\\nz = (2*w\\n + 1)")[1]
>>> z.expr.op, z.expr.args[1]
('add', Num(value=1.0, line=3, column=4))
"""

from __future__ import annotations

import operator
import re

from lark.lexer import Token


class NotTaken(Exception):
    """The fast path does not take this text: parse it with Lark (which says why)."""


# what the loop does with each kind of piece of text
_IGNORE, _IGNORE_NL, _TOKEN, _NEWLINE, _LPAR, _RPAR, _SEMI, _ERROR = range(8)


def _reducer(rule, transformer):
    """What makes the value of ``rule`` from its children's values, as Lark's
    tree builder with the inline ``transformer`` does (lark.parse_tree_builder:
    terminals it filters out are dropped, a rule whose name starts with ``_``
    is a list spliced into its parent, ``[optional]`` parts missing give None,
    a ``?rule`` left with one child is that child, and every other rule is the
    transformer's method of the rule's alias or name); None where the rule
    passes its one child on unchanged. Raises :class:`NotTaken` for anything
    else (a rule that would make a Tree, a method with Lark's v_args).
    """
    exp = rule.expansion
    opts = rule.options
    if opts.keep_all_tokens or getattr(opts, "template_source", None):
        raise NotTaken("a rule that keeps all tokens or comes from a template")
    empty = opts.empty_indices
    if empty:
        nones = [len(ones) for ones in "".join(str(int(b)) for b in empty).split("0")]
    else:
        nones = [0] * (len(exp) + 1)
    include, pending = [], 0
    for i, sym in enumerate(exp):
        pending += nones[i]
        if not (sym.is_term and sym.filter_out):
            include.append((i, not sym.is_term and sym.name.startswith("_"), pending))
            pending = 0
    trailing = pending + nones[len(exp)]
    name = str(rule.origin.name)
    single = opts.expand1 and not rule.alias
    if single and trailing == 0 and len(include) == 1 and not include[0][1] and not include[0][2]:
        # a `?rule` always left with one child: that child
        if len(exp) == 1:
            return None
        return operator.itemgetter(include[0][0])
    if name.startswith("_"):
        build = None                      # a list, spliced into the parent
    else:
        build = getattr(transformer, rule.alias or name, None)
        if build is None or getattr(build, "visit_wrapper", None) is not None:
            raise NotTaken(f"the rule {name} would make a tree")
    plain = trailing == 0 and len(include) == len(exp) and not any(e or n for _, e, n in include)
    if plain and not single and build is not None:
        return build

    def reduce(children):
        filtered = []
        for i, splice, n in include:
            if n:
                filtered += [None] * n
            if splice:
                if filtered:
                    filtered += children[i]
                else:  # the list of a left-recursive rule grows in place, as in Lark
                    filtered = children[i]
            else:
                filtered.append(children[i])
        if trailing:
            filtered += [None] * trailing
        if build is None:
            return filtered
        if single and len(filtered) == 1:
            return filtered[0]
        return build(filtered)
    return reduce


class FastParser:
    """Lark's LALR tables and callbacks, driven from a lexer of our own.

    Built from the :class:`lark.Lark` instance of :func:`graphdsl.parser.get_parser`
    (an LALR parser with a contextual lexer and the bracket-newline post-lexer).
    Raises :class:`NotTaken` at construction when that parser is not of the
    shape this loop knows, and from :meth:`parse` for text it does not take.
    """

    def __init__(self, lark):
        frontend = lark.parser
        inner = frontend.parser.parser          # lark.parsers.lalr_parser._Parser
        table = inner.parse_table
        if any(isinstance(k, str) for k in inner.callbacks):
            raise NotTaken("the grammar has callbacks for terminals")
        lexer = getattr(frontend.lexer, "lexer", frontend.lexer)
        root = getattr(lexer, "root_lexer", lexer)
        root.scanner  # builds Lark's own callbacks for terminals, if any
        if root.callback or lark.options.lexer_callbacks:
            raise NotTaken("the lexer has callbacks")
        if len(table.start_states) != 1:
            raise NotTaken("more than one start rule")
        (start,) = table.start_states.values()
        (self.end_state,) = table.end_states.values()
        self.start_state = start
        post = lark.options.postlex
        if post is None or not all(hasattr(post, a) for a in ("opening", "closing", "separator")) \
                or tuple(post.always_accept) != ("_NL",):
            raise NotTaken("a post-lexer of another kind")

        # One regular expression: Lark's terminals in the order its lexers try
        # them, then any one character (which no terminal took: an error).
        terminals = list(root.terminals)
        ignore = set(root.ignore_types)
        newline = set(root.newline_types)
        kept = set()
        rules = {}
        for row in table.states.values():
            for action, arg in row.values():
                if action.name == "Reduce":
                    rules[id(arg)] = arg
        for rule in rules.values():
            for sym in rule.expansion:
                if sym.is_term and not sym.filter_out:
                    kept.add(sym.name)
        pattern = "|".join(f"({t.pattern.to_regexp()})" for t in terminals) + r"|([\s\S])"
        self.regex = re.compile(pattern, root.g_regex_flags)
        if self.regex.groups != len(terminals) + 1:
            raise NotTaken("a terminal's pattern has groups of its own")
        # per group number (m.lastindex): (what to do, terminal name, make a token?)
        kinds = [None]
        for t in terminals:
            name = t.name
            if name in ignore:
                kind = _IGNORE_NL if name in newline else _IGNORE
            elif name == "_NL":
                kind = _NEWLINE
            elif name in post.opening:
                kind = _LPAR
            elif name in post.closing:
                kind = _RPAR
            elif name == post.separator:
                kind = _SEMI
            else:
                kind = _TOKEN
            kinds.append((kind, str(name), name in kept, name in newline))
        kinds.append((_ERROR, None, False, False))
        self.kinds = kinds

        # The table as plain ints: >= 0 shift to that state, < 0 reduce by rule ~n.
        order = list(rules.values())
        number = {id(r): i for i, r in enumerate(order)}
        self.states = {}
        for state, row in table.states.items():
            # plain str keys: Lark's are Tokens, whose == is written in Python
            self.states[state] = {str(sym): (arg if action.name == "Shift" else ~number[id(arg)])
                                  for sym, (action, arg) in row.items()}
        # per rule: (children, the rule's name, what makes its value, or None
        # where the rule passes its one child on)
        transformer = lark.options.transformer
        self.rules = [(len(rule.expansion), str(rule.origin.name), _reducer(rule, transformer))
                      for rule in order]

    def parse(self, text: str):
        """The statements of ``text``, as Lark with the same callbacks gives them.

        Raises :class:`NotTaken` (or whatever a callback raises) for text the
        fast path does not take; the caller then parses it with Lark.
        """
        states, rules, kinds = self.states, self.rules, self.kinds
        end_state = self.end_state
        stack = [self.start_state]   # states
        values = []
        push_state, push_value = stack.append, values.append
        line, line_start, depth = 1, 0, 0
        new_str = str.__new__

        def reduce_before(name):
            """Every reduction the lookahead ``name`` calls for; then its action
            (a shift), or None when the grammar does not take it here."""
            act = states[stack[-1]].get(name)
            while act is not None and act < 0:
                size, origin, callback = rules[~act]
                if callback is None:       # the rule passes its one child on
                    stack[-1] = states[stack[-2]][origin]
                else:
                    if size:
                        children = values[-size:]
                        del stack[-size:]
                        del values[-size:]
                    else:
                        children = []
                    push_value(callback(children))
                    push_state(states[stack[-1]][origin])
                act = states[stack[-1]].get(name)
            return act

        for m in self.regex.finditer(text):
            kind, name, make, multiline = kinds[m.lastindex]
            if kind == _IGNORE:
                continue
            if kind == _IGNORE_NL:
                value = m.group()
                n = value.count("\n")
                if n:
                    line += n
                    line_start = m.start() + value.rindex("\n") + 1
                continue
            if kind == _NEWLINE:
                if depth:  # inside parentheses a line break does not end the statement
                    line += 1
                    line_start = m.end()
                    continue
            elif kind == _LPAR:
                depth += 1
            elif kind == _RPAR:
                if depth:
                    depth -= 1
            elif kind == _SEMI:
                depth = 0
            elif kind == _ERROR:
                raise NotTaken("a character no terminal matches")
            # the token, then the reductions it calls for and its shift
            if make:
                value = m.group()
                pos = m.start()
                tok = new_str(Token, value)
                tok.type = name
                tok.value = value
                tok.start_pos = pos
                tok.line = tok.end_line = line
                tok.column = pos - line_start + 1
                end = m.end()
                tok.end_pos = end
                if multiline and "\n" in value:
                    raise NotTaken("a kept token spans lines")
                tok.end_column = end - line_start + 1
            else:
                tok = None
            act = reduce_before(name)
            if act is None:
                raise NotTaken(f"{name} where the grammar does not take it")
            push_state(act)
            push_value(tok)
            if kind == _NEWLINE:
                line += 1
                line_start = m.end()
                depth = 0
        # the end of the text: the reductions it calls for must end in the start rule
        reduce_before("$END")
        if stack[-1] != end_state:
            raise NotTaken("the text ends where the grammar does not")
        return values[-1]
