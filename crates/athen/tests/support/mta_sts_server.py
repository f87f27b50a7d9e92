"""An MTA-STS policy server for the tests (RFC 8461 §3.3): HTTPS on
loopback, serving /.well-known/mta-sts.txt as text/plain with the policy
given for the Host the client asked for. Usage:
mta_sts_server.py CERT KEY POLICIES_JSON (a map from host to policy text).
Prints its port, then serves until killed."""
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    cert, key, policies = sys.argv[1], sys.argv[2], json.loads(open(sys.argv[3]).read())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            host = (self.headers.get("Host") or "").split(":")[0].lower()
            if self.path != "/.well-known/mta-sts.txt" or host not in policies:
                self.send_error(404)
                return
            body = policies[host].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
