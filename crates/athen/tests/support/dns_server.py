"""A tiny authoritative DNS server for the tests (dnslib).

The records come as JSON on the command line: a map from name to either a
string (one TXT record) or an object with any of
  "TXT": "text", "A": ["127.0.0.1"], "MX": [[10, "mx.example"]],
  "TLSA": [[3, 1, 1, "hex"]], "secure": true.
Answers for a name marked "secure" carry the AD bit, as a validating
resolver would set it for DNSSEC-signed data (RFC 4035 §3.2.3). Unknown
names get NXDOMAIN. Prints the UDP/TCP port it listens on (127.0.0.1), then
serves until killed."""
import json
import sys
import time

from dnslib import MX, QTYPE, RCODE, RR, TLSA, TXT, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


def txt_rdata(value):
    # Long TXT records are split into 255-octet strings (RFC 1035).
    return TXT([value[i:i + 255].encode() for i in range(0, len(value), 255)])


class Records(BaseResolver):
    def __init__(self, records):
        self.records = {}
        for name, value in records.items():
            if isinstance(value, str):
                value = {"TXT": value}
            self.records[name.rstrip(".").lower()] = value

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        entry = self.records.get(name)
        if entry is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        qtype = QTYPE[request.q.qtype]
        if qtype == "TXT" and "TXT" in entry:
            rdatas = [txt_rdata(entry["TXT"])]
        elif qtype == "A":
            rdatas = [A(ip) for ip in entry.get("A", [])]
        elif qtype == "MX":
            rdatas = [MX(host, pref) for pref, host in entry.get("MX", [])]
        elif qtype == "TLSA":
            rdatas = [TLSA(u, s, m, bytes.fromhex(h)) for u, s, m, h in entry.get("TLSA", [])]
        else:
            rdatas = []
        for rdata in rdatas:
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=rdata, ttl=60))
        if entry.get("secure"):
            reply.header.ad = 1
        return reply


def main():
    records = json.loads(sys.argv[1])
    resolver = Records(records)
    # Quiet: the test stops reading stdout after the port line, and a log
    # line written to a closed pipe would fail the request.
    quiet = DNSLogger(logf=lambda _line: None)
    # The UDP port is chosen by the system; the same TCP port may be taken
    # by another test's process, so try again with a new one.
    for _ in range(50):
        udp = DNSServer(resolver, port=0, address="127.0.0.1", logger=quiet)
        port = udp.server.server_address[1]
        try:
            tcp = DNSServer(resolver, port=port, address="127.0.0.1", tcp=True, logger=quiet)
            break
        except OSError:
            udp.server.server_close()
    else:
        sys.exit("no free port pair for the test DNS server")
    udp.start_thread()
    tcp.start_thread()
    print(port, flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
