"""The fast path of loading: a lexer of our own feeding a plain LALR loop that
runs on Lark's own parse table and calls Lark's own rule callbacks.

Lark's lexer makes a token object for every piece of text (spaces and
parentheses included) and its LALR driver is written for every grammar and
every kind of use, so together they were about 80% of loading. Here the text
is cut by one compiled regular expression, the alternatives of Lark's
terminals in Lark's own order (the order its lexer tries them in), and the
tokens go to a loop over the same parse table, which hands each rule's
children to the same callbacks (the grammar's tree shaping and the
transformer in :mod:`graphdsl.parser`). A token object is made only for the
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
>>> fast.parse("param w = 3\\nz = (2*w\\n + 1)")[1]
('assign', 'z', ('op', 'add', (('op', 'mul', (('num', 2.0, 2, 6), ('name', 'w', 2, 8)), 2, 7), ('num', 1.0, 3, 4)), 3, 2), 2, 1)
"""

from __future__ import annotations

import re

from lark.lexer import Token


class NotTaken(Exception):
    """The fast path does not take this text: parse it with Lark (which says why)."""


# what the loop does with each kind of piece of text
_IGNORE, _IGNORE_NL, _TOKEN, _NEWLINE, _LPAR, _RPAR, _SEMI, _ERROR = range(8)


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
        callbacks = inner.callbacks
        if any(isinstance(k, str) for k in callbacks):
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
            kinds.append((kind, name, name in kept, name in newline))
        kinds.append((_ERROR, None, False, False))
        self.kinds = kinds

        # The table as plain ints: >= 0 shift to that state, < 0 reduce by rule ~n.
        order = list(rules.values())
        number = {id(r): i for i, r in enumerate(order)}
        self.states = {}
        for state, row in table.states.items():
            self.states[state] = {sym: (arg if action.name == "Shift" else ~number[id(arg)])
                                  for sym, (action, arg) in row.items()}
        # per rule: (children, the rule's name, callback or None where the rule
        # passes its one child on: a `?rule` with one kept symbol and no alias)
        self.rules = []
        for rule in order:
            exp = rule.expansion
            passes = (rule.options.expand1 and not rule.alias and len(exp) == 1
                      and not (exp[0].is_term and exp[0].filter_out)
                      and not (not exp[0].is_term and exp[0].name.startswith("_"))
                      and not rule.options.empty_indices)
            self.rules.append((len(exp), rule.origin.name, None if passes else callbacks[rule]))

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
            if act is None:
                raise NotTaken(f"{name} where the grammar does not take it")
            push_state(act)
            push_value(tok)
            if kind == _NEWLINE:
                line += 1
                line_start = m.end()
                depth = 0
        # the end of the text
        while True:
            act = states[stack[-1]].get("$END")
            if act is None or act >= 0:
                raise NotTaken("the text ends where the grammar does not")
            size, origin, callback = rules[~act]
            if callback is None:
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
            if stack[-1] == end_state:
                return values[-1]
