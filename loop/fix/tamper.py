"""Which changed paths of a patch touch protected paths (the scenario's `protected:`).

Patterns are gitignore-like globs over repo-relative posix paths:

- A pattern without a `/` (other than a trailing one) matches a file or directory *name*
  at any depth: `*.yaml` protects `a.yaml` and `conf/b.yaml`; `tests` protects `tests/x.py`
  and `pkg/tests/y.py`.
- A pattern with a `/` at its start or middle is anchored at the repository root:
  `scenarios/*.yaml` protects `scenarios/a.yaml` but not `x/scenarios/a.yaml`; a leading
  `/` only anchors (`/setup.py` is the root's setup.py only).
- `*` matches any run of characters except `/`, `?` one such character, `[abc]` / `[!a-z]`
  a class; `\\x` is a literal x.
- `**` as a whole segment matches any number of directories: `**/conf.py` at any depth,
  `a/**/b` as a/b, a/x/b, a/x/y/b, and a trailing `/**` everything under a directory
  (`tests/**`). Elsewhere `**` acts like `*`.
- A match on a directory protects everything under it (`scenarios` and `scenarios/**`
  protect the same files); a trailing `/` (`build/`) matches directories only.
- Matching is case-sensitive. Blank patterns and `#` comments are ignored; `!` negation is
  not supported (a `!pattern` matches nothing, so it can never unprotect a path).

`.cleanloop/**` and `.git/**` are always protected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

ALWAYS_PROTECTED = (".cleanloop/**", ".git/**")


def _segment(seg: str) -> str:
    """One path segment's glob as a regex (never crossing `/`)."""
    out, i, n = [], 0, len(seg)
    while i < n:
        c = seg[i]
        if c == "*":
            while i + 1 < n and seg[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(seg[i]))
        elif c == "[":
            # a `]` right after `[` (or `[!`) is part of the class, as in fnmatch
            end = seg.find("]", i + 3 if seg[i + 1:i + 2] in ("!", "^") else i + 2)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = seg[i + 1:end]
                neg = body[:1] in ("!", "^")
                chars = "".join(ch if ch == "-" else re.escape(ch) for ch in body[neg:])
                out.append("(?!/)[" + "^" * neg + chars + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """The regex a protected pattern stands for (None for blanks, comments and `!`)."""
    p = pattern.strip()
    if not p or p.startswith(("#", "!")):
        return None
    while p.startswith("./"):
        p = p[2:]
    dir_only = p.endswith("/")
    p = p.rstrip("/")
    if not p:
        return None
    anchored = "/" in p
    segments = p.lstrip("/").split("/")
    rx = "" if anchored else "(?:.*/)?"
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "**":
            rx += ".*" if last else "(?:.*/)?"
        else:
            rx += _segment(seg) + ("" if last else "/")
    if segments[-1] != "**":
        rx += "/.+" if dir_only else "(?:/.*)?"
    return re.compile(rx, re.DOTALL)


def _normalise(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether `path` (repo-relative) is protected by any of `patterns`."""
    p = _normalise(path)
    for pattern in patterns:
        rx = compile_pattern(pattern)
        if rx is not None and rx.fullmatch(p):
            return True
    return False


def protected_violations(changed_paths: Sequence[str], protected: Sequence[str]) -> list[str]:
    """The changed paths a patch may not touch (sorted, unique); empty when it is clean."""
    patterns = (*ALWAYS_PROTECTED, *protected)
    return sorted({p for p in changed_paths if matches(p, patterns)})
