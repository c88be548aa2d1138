"""The one way to make an httpx client that talks to the app under test on loopback.

Traffic to the app never goes through a proxy from the environment (`trust_env=False`:
an `HTTP_PROXY` without a matching `NO_PROXY` would otherwise route 127.0.0.1 through
it), and every client of a process shares one TLS context: building one loads the CA
bundle, which costs tens of milliseconds per client, on the critical path of every run.
Steps are plain HTTP; the context serves a readiness URL given as https.
"""

from __future__ import annotations

import functools
import ssl
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS context (system CA store), made once."""
    return ssl.create_default_context()


def loopback_client(**kwargs: Any) -> httpx.Client:
    import httpx

    return httpx.Client(trust_env=False, verify=tls_context(), **kwargs)
