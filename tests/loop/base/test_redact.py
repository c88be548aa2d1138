"""Secret redaction: each token pattern, env-named secrets, idempotence."""

from __future__ import annotations

import pytest

from cleanloop.loop.base.redact import REDACTED, Redactor

SAMPLES = [
    ("anthropic", "key=sk-ant-api03-AbCdEf123456_-xyz used", "sk-ant-api03"),
    ("openai", "using sk-proj-AbCdEfGhIjKlMnOpQrStUv0123 now", "sk-proj-AbCd"),
    ("openai legacy", "OPENAI sk-AbCdEfGhIjKlMnOpQrStUv0123", "sk-AbCd"),
    ("github classic", "push with ghp_" + "a1B2" * 9, "ghp_"),
    ("github oauth", "gho_" + "Z9y8" * 9 + " done", "gho_"),
    ("github fine-grained", "github_pat_11ABCDEFG0" + "x" * 40, "github_pat_"),
    ("aws", "creds AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE"),
    ("slack", "hook xoxb-123456789012-abcdefABCDEF", "xoxb-"),
    ("bearer", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "eyJhbGci"),
    ("url query", "GET /login?user=bob&password=hunter2&next=/", "hunter2"),
    ("url token", "https://api.example.com/v1?token=abc123def&x=1", "abc123def"),
    ("url api_key", "fetch https://h/x?api_key=K3Y-VALUE", "K3Y-VALUE"),
    ("key=value", "connecting with DB_PASSWORD=s3cr3t! host=db", "s3cr3t"),
    ("json", '{"client_secret": "abc-123-def", "user": "bob"}', "abc-123-def"),
    ("url userinfo", "postgres://app:pa55word@db:5432/shop", "pa55word"),
    ("private key", "k = '''-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\nAAAA\n"
                    "-----END OPENSSH PRIVATE KEY-----'''", "b3BlbnNzaC1rZXk"),
]


@pytest.mark.parametrize(("label", "text", "secret"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_each_token_pattern_is_redacted(label: str, text: str, secret: str) -> None:
    out = Redactor().redact(text)
    assert secret not in out
    assert REDACTED in out
    assert Redactor().redact(out) == out     # idempotent


def test_key_names_and_surrounding_text_are_kept() -> None:
    r = Redactor()
    assert r.redact("GET /login?user=bob&password=hunter2&next=/") == \
        f"GET /login?user=bob&password={REDACTED}&next=/"
    assert r.redact("Authorization: Bearer abcdefgh12345") == f"Authorization: Bearer {REDACTED}"
    assert r.redact("postgres://app:pa55word@db:5432/shop") == \
        f"postgres://app:{REDACTED}@db:5432/shop"


def test_ordinary_text_is_left_alone() -> None:
    text = ("GET /api/checkout 500 in 812ms; max_tokens=500; token expired for user bob; "
            "sk-short; the skeleton key; AKIA-not-a-key")
    assert Redactor().redact(text) == text


def test_explicit_secret_values_of_at_least_six_chars() -> None:
    r = Redactor(["correct-horse", "abc", "battery-staple-long"])
    out = r.redact("a correct-horse, abc and battery-staple-long")
    assert out == f"a {REDACTED}, abc and {REDACTED}"


def test_from_env_treats_secret_looking_names_as_secrets() -> None:
    env = {"SHOP_DB_PASSWORD": "pg-pass-9876", "STRIPE_API_KEY": "rk_live_zzzzzz",
           "MY_AUTH_HEADER": "opaque-value-1", "SERVICE_CREDENTIALS": "cred-blob-777",
           "SESSION_SECRET": "sess-4242-xx", "GH_TOKEN": "plain-token-val",
           "HOME": "/home/someone", "LANG": "C.UTF-8", "SHORT_KEY": "abc"}
    r = Redactor.from_env(env)
    text = " ".join(env.values())
    out = r.redact(text)
    for name in ("SHOP_DB_PASSWORD", "STRIPE_API_KEY", "MY_AUTH_HEADER", "SERVICE_CREDENTIALS",
                 "SESSION_SECRET", "GH_TOKEN"):
        assert env[name] not in out, name
    assert "/home/someone" in out and "C.UTF-8" in out and " abc" in out


def test_redact_data_walks_nested_structures() -> None:
    r = Redactor(["hunter2-secret"])
    data = {"checks": [{"note": "login failed for hunter2-secret", "value": 3}],
            "ok": False, "n": None}
    assert r.redact_data(data) == {"checks": [{"note": f"login failed for {REDACTED}",
                                               "value": 3}], "ok": False, "n": None}
