"""A tiny authoritative DNS server for the tests (dnslib): answers TXT
queries from a JSON map given on the command line, NXDOMAIN otherwise.
Prints the UDP/TCP port it listens on (127.0.0.1), then serves until killed."""
import json
import sys
import time

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class Records(BaseResolver):
    def __init__(self, txt):
        self.txt = {k.rstrip(".").lower(): v for k, v in txt.items()}

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if request.q.qtype == QTYPE.TXT and name in self.txt:
            value = self.txt[name]
            # Long TXT records are split into 255-octet strings (RFC 1035).
            chunks = [value[i:i + 255].encode() for i in range(0, len(value), 255)]
            reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        elif name not in self.txt:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def main():
    records = json.loads(sys.argv[1])
    resolver = Records(records)
    # Quiet: the test stops reading stdout after the port line, and a log
    # line written to a closed pipe would fail the request.
    quiet = DNSLogger(logf=lambda _line: None)
    udp = DNSServer(resolver, port=0, address="127.0.0.1", logger=quiet)
    port = udp.server.server_address[1]
    tcp = DNSServer(resolver, port=port, address="127.0.0.1", tcp=True, logger=quiet)
    udp.start_thread()
    tcp.start_thread()
    print(port, flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
