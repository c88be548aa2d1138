"""Secret redaction for everything cleanloop hands to an agent or writes into a report.

Two sources of secrets:

- values: the values of environment variables whose *name* looks secret (contains KEY,
  TOKEN, SECRET, PASSWORD, PASSWD, CREDENTIAL or AUTH; `Redactor.from_env`) plus any
  value given explicitly. Values shorter than `MIN_SECRET_LEN` are ignored: replacing
  every "1" or "true" would destroy the text and protect nothing.
- token patterns (`DEFAULT_PATTERNS`): OpenAI `sk-...`, Anthropic `sk-ant-...`, GitHub
  `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_`/`github_pat_`, AWS access key ids, Slack `xox?-`,
  `Bearer <token>`, `password=` / `token=` / `api_key=` / `secret=` values in URLs,
  key=value and JSON-ish text, passwords in URL user info, and PEM private key blocks.

Each is replaced by `[REDACTED]` (a key name or `Bearer` before a value is kept).
Redaction is idempotent: redacting redacted text changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

REDACTED = "[REDACTED]"
MIN_SECRET_LEN = 6
SECRET_NAME_PARTS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")


@dataclass(frozen=True)
class TokenPattern:
    name: str
    regex: re.Pattern[str]
    replacement: str = REDACTED     # may refer to groups: r"\1[REDACTED]"


_KEY_WORDS = (r"(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
              r"|private[_-]?key|client[_-]?secret|credentials?)")

DEFAULT_PATTERNS: tuple[TokenPattern, ...] = (
    TokenPattern("private key block", re.compile(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
        re.DOTALL)),
    TokenPattern("anthropic key", re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{8,}")),
    TokenPattern("openai key", re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}")),
    TokenPattern("github token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}"
                                            r"|github_pat_[A-Za-z0-9_]{20,})")),
    TokenPattern("aws access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    TokenPattern("slack token", re.compile(r"\bxox[baprs]-[A-Za-z0-9\-]{10,}")),
    TokenPattern("bearer token", re.compile(r"\b(Bearer\s+)[A-Za-z0-9._~+/=\-]{8,}",
                                            re.IGNORECASE), r"\1" + REDACTED),
    TokenPattern("url password", re.compile(r"(://[^/\s:@\[\]]+:)[^/\s@\[\]]+(@)"),
                 r"\1" + REDACTED + r"\2"),
    TokenPattern("key=value secret", re.compile(
        r"(\b[A-Za-z0-9_.\-]*" + _KEY_WORDS + r"(?:[_.\-][A-Za-z0-9_.\-]*)?[\"']?\s*[=:]\s*[\"']?)"
        r"[^\s&\"',;<>\[\]{}()]+", re.IGNORECASE), r"\1" + REDACTED),
)


def looks_secret(name: str) -> bool:
    """Whether an environment variable name suggests its value is a secret."""
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


class Redactor:
    """Replaces secret values and token patterns by `[REDACTED]`."""

    def __init__(self, secret_values: Iterable[str] = (),
                 patterns: Sequence[TokenPattern] = DEFAULT_PATTERNS) -> None:
        values = sorted({v for v in secret_values if len(v) >= MIN_SECRET_LEN},
                        key=lambda v: (-len(v), v))
        self._values = (re.compile("|".join(re.escape(v) for v in values))
                        if values else None)
        self.patterns = tuple(patterns)
        self.n_values = len(values)

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, extra_values: Iterable[str] = (),
                 patterns: Sequence[TokenPattern] = DEFAULT_PATTERNS) -> Redactor:
        """Secrets = values of env vars whose name looks secret, plus `extra_values`."""
        values = [v for k, v in env.items() if looks_secret(k)]
        return cls([*values, *extra_values], patterns)

    def redact(self, text: str) -> str:
        if not text:
            return text
        if self._values is not None:
            text = self._values.sub(REDACTED, text)
        for pattern in self.patterns:
            text = pattern.regex.sub(pattern.replacement, text)
        return text

    def redact_data(self, data: Any) -> Any:
        """A copy of JSON-like data with every string (keys included) redacted."""
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, Mapping):
            return {self.redact(str(k)): self.redact_data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.redact_data(v) for v in data]
        return data


NO_REDACTION = Redactor(patterns=())
