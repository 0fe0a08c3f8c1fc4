"""A hostile site in front of two copies of a ledger: a proxy that answers readers of the tiles
(``/-/tlog/...``, what a monitor or a mirror reads) from one site and everything else from another.

    python tests/split_view_proxy.py PORT PAGES_URL TILES_URL

It models a log-key holder showing one history to some readers and another
to the rest (a split view): tests/test_witness_e2e.py runs it as a real
process on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import sys
import urllib.error
import urllib.request


def main(port: int, pages: str, tiles: str) -> None:
    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            upstream = tiles if self.path.startswith("/-/tlog/") else pages
            try:
                with urllib.request.urlopen(upstream.rstrip("/") + self.path, timeout=30) as response:
                    status, headers, body = response.status, response.headers, response.read()
            except urllib.error.HTTPError as e:
                status, headers, body = e.code, e.headers, e.read()
            self.send_response(status)
            for name in ("Content-Type", "Cache-Control"):
                if headers.get(name):
                    self.send_header(name, headers[name])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
