"""A real HTTP proxy on 127.0.0.1 for the attacks a hostile mirror or network makes on ``ledger verify URL``.

``RewritingProxy(choose)`` listens on a free port in a thread of the test
process and answers every GET by fetching it from an upstream server that
``choose(path, seen)`` picks (``seen`` is how many times this exact path and
query were asked before), optionally rewriting the body on the way. Each
request is counted in ``requests`` (path and query -> times asked). ``choose``
may answer a ``Redirect(location)`` instead of an upstream.
"""

from __future__ import annotations

import collections
import http.server
import threading
import urllib.error
import urllib.request
from typing import Callable, Optional



class Redirect(str):
    """Instead of an upstream: answer 302 Found with this Location."""


# (upstream base URL ending in '/', or a Redirect; rewrite of the body or None)
Choice = tuple[str, Optional[Callable[[bytes], bytes]]]


class RewritingProxy:
    """Use as a context manager; ``base`` is the proxy's URL (with a trailing '/')."""

    def __init__(self, choose: Callable[[str, int], Choice]):
        self.choose = choose
        self.requests: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with proxy._lock:
                    seen = proxy.requests[self.path]
                    proxy.requests[self.path] += 1
                upstream, rewrite = proxy.choose(self.path, seen)
                if isinstance(upstream, Redirect):
                    self.send_response(302)
                    self.send_header("Location", upstream)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, content_type, body = _fetch(upstream.rstrip("/") + self.path)
                if rewrite is not None:
                    body = rewrite(body)
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "RewritingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def asked_twice(self) -> list[str]:
        """The paths (with their queries) asked more than once."""
        return sorted(path for path, count in self.requests.items() if count > 1)


def _fetch(url: str) -> tuple[int, Optional[str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()
