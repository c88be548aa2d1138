"""One-page HTTP servers for browser tests, as source text that a test writes into its project
dir and a scenario starts as `{python} pages.py {port}`. The server prints one line when it
serves (the process log capture has a row), answers the paths in `not_found` with a 404 and
every other GET with the same page."""

import textwrap

_TEMPLATE = textwrap.dedent("""\
    import http.server, sys
    PAGE = {page!r}
    NOT_FOUND = {not_found!r}
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = (404, b'missing') if self.path in NOT_FOUND else (200, PAGE)
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    print("serving", flush=True)
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """)


def page_server(page: str, not_found: tuple[str, ...] = ()) -> str:
    """The source of a server answering every GET with `page` (404 for `not_found`)."""
    return _TEMPLATE.format(page=page.encode("utf-8"), not_found=not_found)


PAGE_SERVER = page_server("<html><body><h1 id='title'>hello</h1></body></html>")
