#!/usr/bin/env python3
# Copied from the project's shared tools (../shared/tools/hl7-validate.py) so that CI
# on a clean clone has it.
"""Independent HL7 v2 check using hl7apy (pip install hl7apy==1.3.5; supports 2.1-2.8.2).
usage: hl7-validate.py [--strict-warnings] FILE...   (segments separated by \\r, \\n or \\r\\n)
Exit 0 = all valid. Also fails when hl7apy's grouping silently dropped a segment. Structural/datatype/cardinality problems are errors (raised by validate());
table-value and max-length problems are only *warnings* in hl7apy's report file:
--strict-warnings turns them into failures too."""
import sys, tempfile, os
from hl7apy.parser import parse_message
from hl7apy.consts import VALIDATION_LEVEL

def check(path, strict_warnings):
    raw = open(path, "rb").read().decode("latin-1")
    er7 = "\r".join(l for l in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n") if l.strip())
    rep = tempfile.NamedTemporaryFile("r", suffix=".txt", delete=False); rep.close()
    try:
        msg = parse_message(er7, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        msg.validate(report_file=rep.name)          # raises the first ValidationError, writes all
        ok = True; err = None
        # hl7apy silently DROPS segments it cannot place (unknown/Z trailing segment) and does not
        # check segment ORDER (it re-sorts on output); catch both by comparing the segment sequence
        # with hl7apy's own canonical re-serialisation.
        want = [l.split("|", 1)[0] for l in er7.split("\r")]
        got = [l.split("|", 1)[0] for l in msg.to_er7().split("\r") if l]
        if want != got:
            ok = False; err = f"SegmentMismatch: input {want} but hl7apy's canonical form is {got}"
    except Exception as e:                            # ParserError, ValidationError, ChildNotFound...
        ok = False; err = f"{type(e).__name__}: {e}"
    report = open(rep.name).read().strip().splitlines(); os.unlink(rep.name)
    warns = [l for l in report if l.startswith("Warning")]
    if ok and strict_warnings and warns: ok = False
    print(f"{'VALID  ' if ok else 'INVALID'} {path}" + (f"  ({msg.name} v{msg.version})" if ok else ""))
    if err: print("   ", err)
    for l in report: print("   ", l)
    return ok

if __name__ == "__main__":
    args = sys.argv[1:]; sw = "--strict-warnings" in args
    files = [a for a in args if a != "--strict-warnings"]
    sys.exit(0 if all([check(f, sw) for f in files]) else 1)
