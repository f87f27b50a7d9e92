"""A remote mail server for the tests (aiosmtpd) on loopback, STARTTLS
required, that plays the peer of ATHEN's outbound queue:
- tempfail@...: 451 the first time, accepted afterwards;
- reject@...: 550 5.1.1 always;
- slow@...: answers RCPT only after 8 seconds;
- anyone else: accepted.
Each accepted message is written to OUTDIR/<n>.eml. Prints its port, then
serves until killed. Usage: peer_mx.py CERT KEY OUTDIR [USER:PASSWORD]; with
USER:PASSWORD it plays a smarthost that requires AUTH (after STARTTLS) and
records who logged in."""
import asyncio
import os
import socket
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Peer:
    def __init__(self, outdir):
        self.outdir = outdir
        self.tempfailed = set()
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local == "reject":
            return "550 5.1.1 No such user here"
        if local == "slow":
            await asyncio.sleep(8)
        if local == "tempfail" and address not in self.tempfailed:
            self.tempfailed.add(address)
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.outdir, f"{self.count}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(f"X-Peer-Rcpt: {','.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(f"X-Peer-TLS: {session.ssl is not None}\r\n".encode())
            f.write(f"X-Peer-From: {envelope.mail_from}\r\n".encode())
            f.write(f"X-Peer-Auth: {session.auth_data}\r\n".encode())
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Queued here"


def authenticator_for(expected):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            given = f"{auth_data.login.decode()}:{auth_data.password.decode()}"
            if given == expected:
                return AuthResult(success=True, auth_data=auth_data.login.decode())
        return AuthResult(success=False, handled=False)
    return authenticate


def main():
    cert, key, outdir = sys.argv[1:4]
    auth = sys.argv[4] if len(sys.argv) > 4 else None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    controller = Controller(
        Peer(outdir),
        hostname="127.0.0.1",
        port=port,
        tls_context=ctx,
        require_starttls=True,
        server_hostname="peer.test",
        authenticator=authenticator_for(auth) if auth else None,
        auth_required=bool(auth),
        auth_require_tls=True,
    )
    controller.start()
    print(port, flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
