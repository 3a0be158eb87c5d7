"""A local HTTP server on 127.0.0.1 for download tests: it serves one folder and records the paths asked."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading


@contextlib.contextmanager
def serving(folder):
    """Yield (base URL without a trailing slash, the list of requested paths) while ``folder`` is served."""
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=folder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
