"""The check grammar: parse `span("POST /x").p95 < 300ms` into a typed Check.

    statement := sli CMP number[unit]            absolute ("zero" when it is `== 0`)
               | sli "improves"  (>=|>) number%  target, relative to the baseline
               | sli "regresses" (<=|<) number%  guard, relative to the baseline
    sli       := segment ("." segment)*
    segment   := NAME [ "(" arg ("," arg)* ")" ]
    arg       := STRING | "*" | field OP value | field "=" value
    OP        := == != < <= > >= ~        (~ is a regex search)
    unit      := ns us ms s m (durations, compared in ms) | % (absolute: value/100)

Examples: `span("POST /api/checkout").p95 < 300ms`, `logs(level >= error).count == 0`,
`metric("shop_request_duration_seconds", route="/api/checkout").p95 < 0.2`,
`app.startup < 800ms`, `span(*).p95 regresses <= 5%`, `console.errors == 0`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(?P<unit>ns|us|µs|ms|s|min|m|%)?(?![A-Za-z_])
  | (?P<op>==|!=|<=|>=|<|>|=|~)
  | (?P<punct>[().,*])
  | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
""", re.VERBOSE)

_DURATION_TO_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0,
                   "min": 60_000.0}
COMPARATORS = ("==", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True)
class Filter:
    field: str
    op: str                 # == != < <= > >= ~
    value: str | float


@dataclass(frozen=True)
class Segment:
    name: str
    args: tuple[str, ...] = ()          # positional strings, "*" for any
    filters: tuple[Filter, ...] = ()
    called: bool = False                # written with parentheses


@dataclass(frozen=True)
class SliRef:
    segments: tuple[Segment, ...]
    text: str

    @property
    def root(self) -> str:
        return self.segments[0].name

    @property
    def path(self) -> tuple[str, ...]:
        """Names after the root, e.g. ("p95",) or ("duration", "p95")."""
        return tuple(s.name for s in self.segments[1:])


@dataclass(frozen=True)
class Check:
    text: str
    role: str                # check | target | guard
    kind: str                # absolute | zero | relative
    sli: SliRef
    op: str                  # comparator for absolute/zero; ">=" (target) / "<=" (guard)
    threshold: float         # absolute threshold (SLI units) or required fraction (0.10)
    line: int | None = None

    def holds(self, value: float) -> bool:
        return compare(value, self.op, self.threshold)


def compare(value: float, op: str, threshold: float) -> bool:
    return {
        "==": value == threshold, "!=": value != threshold, "<": value < threshold,
        "<=": value <= threshold, ">": value > threshold, ">=": value >= threshold,
    }[op]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, str | None]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise ValueError(f"unexpected character {text[pos]!r} at column {pos + 1}")
            pos = m.end()
            kind = m.lastgroup or ""
            if kind == "unit":
                kind = "number"
            if kind != "ws":
                self.tokens.append((kind, m.group(kind) if kind != "number" else m.group("number"),
                                    m.group("unit") if kind == "number" else None))
        self.i = 0

    def peek(self) -> tuple[str, str, str | None]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", None)

    def take(self, kind: str, value: str | None = None) -> tuple[str, str, str | None]:
        tok = self.peek()
        if tok[0] != kind or (value is not None and tok[1] != value):
            want = value or kind
            got = tok[1] or "end of text"
            raise ValueError(f"expected {want!r} but found {got!r}")
        self.i += 1
        return tok

    def sli(self) -> SliRef:
        segments = [self.segment()]
        while self.peek()[:2] == ("punct", "."):
            self.i += 1
            segments.append(self.segment())
        text = ".".join(_segment_text(s) for s in segments)
        return SliRef(tuple(segments), text)

    def segment(self) -> Segment:
        name = self.take("name")[1]
        if self.peek()[:2] != ("punct", "("):
            return Segment(name)
        self.i += 1
        args: list[str] = []
        filters: list[Filter] = []
        while self.peek()[:2] != ("punct", ")"):
            kind, value, _ = self.peek()
            if kind == "string":
                args.append(_unquote(value))
                self.i += 1
            elif (kind, value) == ("punct", "*"):
                args.append("*")
                self.i += 1
            else:
                filters.append(self.filter())
            if self.peek()[:2] == ("punct", ","):
                self.i += 1
            elif self.peek()[:2] != ("punct", ")"):
                found = self.peek()[1] or "end of text"
                raise ValueError(f"expected ',' or ')' but found {found!r}")
        self.i += 1
        return Segment(name, tuple(args), tuple(filters), called=True)

    def filter(self) -> Filter:
        parts = [self.take("name")[1]]
        while self.peek()[:2] == ("punct", "."):
            self.i += 1
            parts.append(self.take("name")[1])
        op = self.take("op")[1]
        op = "==" if op == "=" else op
        kind, value, unit = self.peek()
        self.i += 1
        if kind == "string":
            return Filter(".".join(parts), op, _unquote(value))
        if kind == "number":
            return Filter(".".join(parts), op, _number(value, unit))
        if kind == "name":
            return Filter(".".join(parts), op, value)
        raise ValueError(f"expected a value after {op!r}")


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def _number(value: str, unit: str | None) -> float:
    number = float(value)
    if unit is None:
        return number
    if unit == "%":
        return number / 100.0
    return number * _DURATION_TO_MS[unit]


def _segment_text(s: Segment) -> str:
    if not s.called:
        return s.name
    inner = [f'"{a}"' if a != "*" else "*" for a in s.args]
    inner += [f"{f.field} {f.op} {_value_text(f.value)}" for f in s.filters]
    return f"{s.name}({', '.join(inner)})"


def _value_text(value: str | float) -> str:
    return f'"{value}"' if isinstance(value, str) else f"{value:g}"


def parse_check(text: str, role: str = "check", *, line: int | None = None) -> Check:
    """Parse one check/target/guard line. Raises ValueError with a readable reason."""
    p = _Parser(text)
    if not p.tokens:
        raise ValueError("empty check")
    sli = p.sli()
    kind, word, _ = p.peek()
    if kind == "name" and word in ("improves", "regresses"):
        p.i += 1
        op = p.take("op")[1]
        tok = p.take("number")
        if tok[2] != "%":
            cmp = ">=" if word == "improves" else "<="
            raise ValueError(f"'{word}' needs a percentage, e.g. '{word} {cmp} 10%'")
        if word == "improves" and op not in (">=", ">"):
            raise ValueError("a target reads 'improves >= X%'")
        if word == "regresses" and op not in ("<=", "<"):
            raise ValueError("a guard reads 'regresses <= Y%'")
        _expect_end(p)
        want = "target" if word == "improves" else "guard"
        if role != want:
            raise ValueError(f"'{word}' belongs under '{want}s:', not '{role}s:'")
        return Check(text.strip(), role, "relative", sli, op, float(tok[1]) / 100.0, line)
    if role != "check":
        form = "improves >= X%" if role == "target" else "regresses <= Y%"
        raise ValueError(f"a {role} must read '<sli> {form}'")
    op = p.take("op")[1]
    if op not in COMPARATORS:
        raise ValueError(f"expected a comparison (== != < <= > >=), found {op!r}")
    tok = p.take("number")
    threshold = _number(tok[1], tok[2])
    _expect_end(p)
    zero = threshold == 0 and op in ("==", "<=")
    return Check(text.strip(), role, "zero" if zero else "absolute", sli, op, threshold, line)


def parse_sli(text: str) -> SliRef:
    """Parse an SLI reference alone, e.g. 'span("GET /").p95'."""
    p = _Parser(text)
    sli = p.sli()
    _expect_end(p)
    return sli


def _expect_end(p: _Parser) -> None:
    if p.peek()[0] != "end":
        raise ValueError(f"unexpected {p.peek()[1]!r} after the check")
