#!/usr/bin/env python3
"""Makes the PDF test letters that are not made by LibreOffice.

The committed PDFs are inputs, not outputs: they are made once, by programs
other than ATHEN, so the PDF reader is tested on files as others write them.
  letter-reportlab.pdf  reportlab 5 (pip install reportlab): the standard
                        Helvetica fonts (not embedded), a letterhead beside
                        the address block, a details table drawn in columns,
                        bullets, and a second page.
  letter-scan.pdf       an image only, as a scanner without OCR makes it.
LibreOffice made the others (Debian libreoffice-writer-nogui):
  soffice --headless --convert-to pdf letter-table.rtf letter-plain.txt
  (copies of referral.rtf and referral.txt).
"""
import struct, sys, zlib
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

out = sys.argv[1] if len(sys.argv) > 1 else "."
c = canvas.Canvas(f"{out}/letter-reportlab.pdf", pagesize=A4, invariant=1)
w, h = A4
c.setFont("Helvetica-Bold", 14)
c.drawString(56, h - 60, "Harbourside Family Practice")
c.setFont("Helvetica", 9)
c.drawString(56, h - 74, "3 Wharf Street, Sandy Bay TAS 7005  -  Phone 03 6223 4455")
c.drawRightString(w - 56, h - 60, "Dr Kim O'Neill")
c.drawRightString(w - 56, h - 72, "Hobart Renal Clinic")
c.setFont("Helvetica", 11)
c.drawString(56, h - 120, "12 March 2026")
c.drawString(56, h - 150, "Dear Dr O'Neill,")
rows = [("Patient:", "Mr Dieter MÜLLER"), ("Date of birth:", "05/06/1948"),
        ("Address:", "7 Battery Point Road, Sandy Bay TAS 7005"),
        ("Medicare:", "2123 45670 1"), ("Sex:", "M")]
y = h - 180
for label, value in rows:
    c.setFont("Helvetica-Bold", 11)
    c.drawString(56, y, label)
    c.setFont("Helvetica", 11)
    c.drawString(160, y, value)
    y -= 15
y -= 15
c.drawString(56, y, "Thank you for seeing Mr Müller, whose kidney function has declined.")
y -= 28
c.drawString(56, y, "Current medicines:")
y -= 15
for item in ["metformin 500 mg twice daily", "perindopril 4 mg mane",
             "atorvastatin 20 mg nocte"]:
    c.drawString(64, y, "\u2022")
    c.drawString(76, y, item)
    y -= 15
c.showPage()
c.setFont("Helvetica", 11)
c.drawString(56, h - 60, "His eGFR has fallen from 58 to 41 over twelve months.")
c.drawString(56, h - 90, "Kind regards,")
c.drawString(56, h - 130, "Dr Alice Chen")
c.drawString(56, h - 145, "Provider No: 2426621B")
c.save()

# An image-only page: a 200 x 100 grey PNG placed on A4, as a plain scan.
def png(width, height):
    raw = b"".join(b"\x00" + bytes([128]) * width for _ in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
open(f"{out}/scan.png", "wb").write(png(200, 100))
c = canvas.Canvas(f"{out}/letter-scan.pdf", pagesize=A4, invariant=1)
c.drawImage(f"{out}/scan.png", 56, h - 300, 400, 200)
c.save()
