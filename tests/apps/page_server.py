"""A one-page HTTP server for browser tests, as source text that a test writes into its
project dir and a scenario starts as `{python} pages.py {port}`. It prints one line when it
serves (the process log capture has a row) and answers every GET with the same page."""

import textwrap

PAGE_SERVER = textwrap.dedent("""\
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><body><h1 id='title'>hello</h1></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    print("serving", flush=True)
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """)
