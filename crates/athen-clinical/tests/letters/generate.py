#!/usr/bin/env python3
"""Writes the letter corpus (files/) and its truth (truth.json).

Each case (a layout, a patient, an author and a recipient) is written in
five formats by different generators, so that the reader learns letters,
not one program's habits:

  text   tables as tab-separated or space-aligned columns
  html   as Outlook, Gmail and Thunderbird write mail
  rtf    hand-written Word-style RTF, or LibreOffice's RTF
  docx   python-docx, or LibreOffice's Word export
  pdf    reportlab, or LibreOffice's PDF export

and delivered as the file itself, as a message whose body is the letter,
or as an attachment behind a short cover note.

Needs: python-docx==1.1.2 reportlab==4.2.5, LibreOffice (soffice) and the
DejaVu fonts (Debian: libreoffice-writer-nogui fonts-dejavu-core).
Run from this directory: python3 generate.py
"""

import html as htmlmod
import json
import os
import shutil
import subprocess
import tempfile
from email.message import EmailMessage
from email.utils import format_datetime
import datetime

import docx
from docx.shared import Pt
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

import layouts
from cases import DOCTORS, PATIENTS, doctor_name

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "files")
LETTER_DATE = (2026, 12, 4)


# --- writers ----------------------------------------------------------------

def to_text(blocks, tabs):
    out = []
    for kind, *rest in blocks:
        if kind == "p":
            out.append("\n".join(rest[0]))
        elif kind == "h":
            out.append(rest[0])
        else:
            rows = [[c.replace("\n", ", ") for c in r] for r in rest[0]]
            if tabs:
                out.append("\n".join("\t".join(r) for r in rows))
            else:
                widths = [max(len(r[c]) for r in rows if c < len(r)) for c in range(max(map(len, rows)))]
                out.append("\n".join("   ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip()
                                     for r in rows))
    return "\n\n".join(out) + "\n"


def to_html(blocks, style):
    e = htmlmod.escape
    parts = []
    for kind, *rest in blocks:
        if kind == "p":
            lines = rest[0]
            if style == "outlook":
                parts.append("".join(f'<p class=MsoNormal>{e(l)}<o:p></o:p></p>\n' for l in lines)
                             + "<p class=MsoNormal><o:p>&nbsp;</o:p></p>\n")
            elif style == "gmail":
                parts.append("<div>" + "<br>".join(e(l) for l in lines) + "</div><div><br></div>\n")
            else:
                parts.append("<p>" + "<br>\n".join(e(l) for l in lines) + "</p>\n")
        elif kind == "h":
            if style == "gmail":
                parts.append(f"<div><b>{e(rest[0])}</b></div><div><br></div>\n")
            else:
                parts.append(f"<h2>{e(rest[0])}</h2>\n")
        else:
            rows = rest[0]
            if style == "outlook":
                t = ['<table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0 style="border-collapse:collapse">']
                for r in rows:
                    t.append("<tr>" + "".join(
                        f'<td width=160 valign=top style="padding:0cm 5.4pt"><p class=MsoNormal>{"<br>".join(e(x) for x in c.split(chr(10)))}<o:p></o:p></p></td>'
                        for c in r) + "</tr>")
                parts.append("\n".join(t) + "</table>\n<p class=MsoNormal><o:p>&nbsp;</o:p></p>\n")
            else:
                t = ['<table border="1" cellpadding="4">']
                for n, r in enumerate(rows):
                    cell = "th" if (n == 0 and style == "thunderbird" and len(rows) == 2 and len(r) > 2) else "td"
                    t.append("<tr>" + "".join(f"<{cell}>{'<br>'.join(e(x) for x in c.split(chr(10)))}</{cell}>" for c in r) + "</tr>")
                parts.append("\n".join(t) + "</table>\n")
    body = "".join(parts)
    if style == "outlook":
        return ('<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>'
                '<meta http-equiv=Content-Type content="text/html; charset=utf-8">'
                '<style>p.MsoNormal{margin:0cm;font-size:11.0pt;font-family:"Calibri",sans-serif}</style>'
                f'</head><body lang=EN-AU><div class=WordSection1>\n{body}</div></body></html>\n')
    if style == "gmail":
        return f'<div dir="ltr">{body}</div>\n'
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>'
            f'<body>\n{body}</body></html>\n')


def rtf_escape(s):
    out = []
    for ch in s:
        o = ord(ch)
        if ch in "\\{}":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\line ")
        elif o < 128:
            out.append(ch)
        elif o < 0x10000:
            signed = o if o < 0x8000 else o - 0x10000
            out.append(f"\\u{signed}?")
        else:
            hi = 0xD800 + ((o - 0x10000) >> 10)
            lo = 0xDC00 + ((o - 0x10000) & 0x3FF)
            out.append(f"\\u{hi - 0x10000}?\\u{lo - 0x10000}?")
    return "".join(out)


def to_rtf(blocks):
    """Word-style RTF by hand: \\pard paragraphs, \\trowd tables."""
    out = [r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Arial;}}",
           r"{\colortbl;\red0\green0\blue0;}\viewkind4\uc1\pard\f0\fs22 "]
    for kind, *rest in blocks:
        if kind == "p":
            out.append(r"\pard\sa120 " + r"\line ".join(rtf_escape(l) for l in rest[0]) + r"\par" + "\n")
        elif kind == "h":
            out.append(r"\pard\sa120\b " + rtf_escape(rest[0]) + r"\b0\par" + "\n")
        else:
            for r in rest[0]:
                row = [r"\trowd\trgaph108"] + [f"\\clbrdrt\\brdrs\\clbrdrb\\brdrs\\cellx{2200 * (i + 1)}" for i in range(len(r))]
                out.append("".join(row) + "\n")
                out.append("".join(r"\pard\intbl " + rtf_escape(c) + r"\cell " for c in r) + r"\row" + "\n")
            out.append(r"\pard\par" + "\n")
    out.append("}\n")
    return "".join(out).encode("ascii")


def to_docx(blocks, path):
    d = docx.Document()
    d.styles["Normal"].font.name = "Arial"
    d.styles["Normal"].font.size = Pt(11)
    for kind, *rest in blocks:
        if kind == "p":
            para = d.add_paragraph()
            for n, line in enumerate(rest[0]):
                run = para.add_run(line)
                if n + 1 < len(rest[0]):
                    run.add_break()
        elif kind == "h":
            d.add_heading(rest[0], level=2)
        else:
            rows = rest[0]
            t = d.add_table(rows=len(rows), cols=max(map(len, rows)))
            t.style = "Table Grid"
            for i, r in enumerate(rows):
                for j, c in enumerate(r):
                    t.cell(i, j).text = c
            d.add_paragraph()
    d.save(path)


pdfmetrics.registerFont(TTFont("DejaVu", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
pdfmetrics.registerFont(TTFont("DejaVu-Bold", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))


def to_pdf(blocks, path):
    styles = getSampleStyleSheet()
    body = styles["BodyText"].clone("b", fontName="DejaVu", fontSize=10, leading=13)
    head = styles["Heading2"].clone("h", fontName="DejaVu-Bold")
    e = htmlmod.escape
    story = []
    for kind, *rest in blocks:
        if kind == "p":
            story.append(Paragraph("<br/>".join(e(l) for l in rest[0]), body))
            story.append(Spacer(1, 6))
        elif kind == "h":
            story.append(Paragraph(e(rest[0]), head))
        else:
            data = [[Paragraph("<br/>".join(e(x) for x in c.split("\n")), body) for c in r] for r in rest[0]]
            t = Table(data)
            t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, "black"), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story.append(t)
            story.append(Spacer(1, 8))
    SimpleDocTemplate(path, pagesize=A4, title="Letter").build(story)


def libreoffice(sources, to, outdir):
    """Converts files in one LibreOffice run (it is slow to start). HTML is
    opened as a Writer document, not as a web page."""
    if not sources:
        return
    profile = tempfile.mkdtemp()
    infilter = ["--infilter=HTML (StarWriter)"] if sources[0].endswith(".html") else []
    subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless", *infilter,
                    "--convert-to", to, "--outdir", outdir, *sources],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(profile, ignore_errors=True)


# --- messages ---------------------------------------------------------------

STAFF = [("Sarah Mitchell", "Practice Manager"), ("Kylie Nguyen", "Reception"),
         ("Tom Reid", "Medical Secretary")]


def message(i, author, recipient, subject, body_text=None, body_html=None, attachment=None):
    m = EmailMessage()
    m["From"] = f"{doctor_name(author)} <{author['family'].lower().replace(' ', '')}@{author['org'].split()[0].lower()}.example.com.au>"
    m["To"] = f"{doctor_name(recipient)} <{recipient['family'].lower().replace(' ', '')}@clinic.example.net.au>"
    m["Subject"] = subject
    m["Date"] = format_datetime(datetime.datetime(2026, 12, 4, 9 + i % 8, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=11))))
    m["Message-ID"] = f"<corpus-{i}@example.com.au>"
    if body_html is not None:
        m.set_content(body_text or "This letter is best read as HTML.")
        m.add_alternative(body_html, subtype="html")
    else:
        m.set_content(body_text)
    if attachment:
        name, data, maintype, subtype = attachment
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(m)


def cover_note(i, recipient, kind):
    who, role = STAFF[i % len(STAFF)]
    what = {"discharge summary": "the discharge summary", "pathology result": "the results",
            "allied health": "our report"}.get(kind, "a letter")
    return (f"Dear {recipient['title']} {recipient['family']},\n\n"
            f"Please find attached {what} for our mutual patient.\n\n"
            f"Kind regards,\n\n{who}\n{role}\nPh 02 9555 0100\n")


# --- the corpus -------------------------------------------------------------

FORMATS = ["txt", "html", "rtf", "docx", "pdf"]
SUBJECTS = ["Referral", "Re: your patient", "Letter", "Discharge summary", "Report"]


def cases():
    """(number, layout, patient, author, recipient) for every case."""
    out = []
    for n, layout in enumerate(layouts.NORMAL + layouts.TEMPTING):
        p = PATIENTS[n % len(PATIENTS)]
        a = DOCTORS[n % len(DOCTORS)]
        r = DOCTORS[(n * 5 + 3) % len(DOCTORS)]
        if r is a:
            r = DOCTORS[(n + 1) % len(DOCTORS)]
        out.append((n, layout, p, a, r))
    out.append((len(out), layouts.subject_split, PATIENTS[13], DOCTORS[0], DOCTORS[1]))
    return out


def athen_subject(p, with_state):
    y, m, d = p["dob"]
    place = f"{p['street']}, {p['suburb']} {p['state'] + ' ' if with_state else ''}{p['postcode']}"
    return f"[{p['family'].upper()}, {p['given']} ({p['sex']}) DOB:{d:02d}/{m:02d}/{y} {place}] Referral"


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    work = tempfile.mkdtemp()
    truth = []
    lo_rtf, lo_docx, lo_pdf = [], [], []
    pending = []  # (letter entry, file in work, final name, delivery)
    for n, layout, p, a, r in cases():
        blocks, t, kind = layout(n, p, a, r, LETTER_DATE)
        forced_message = layout in (layouts.subject_split, layouts.other_patient_in_subject)
        for fi, fmt in enumerate(FORMATS):
            stem = f"{n:02d}-{layout.__name__.replace('_', '-')}-{fmt}"
            delivery = "file"
            if fmt == "txt" and (n % 3 != 0 or forced_message):
                delivery = "message body"
            if fmt == "html" and (n % 3 != 1 or forced_message):
                delivery = "message body"
            if fmt in ("rtf", "docx", "pdf") and ((n + fi) % 2 == 1 or forced_message):
                delivery = "attachment"
            generator = {
                "txt": "text, tab columns" if n % 2 == 0 else "text, space columns",
                "html": ["html, Outlook", "html, Gmail", "html, Thunderbird"][n % 3],
                "rtf": "rtf, by hand" if n % 2 == 0 else "rtf, LibreOffice",
                "docx": "docx, python-docx" if n % 2 == 0 else "docx, LibreOffice",
                "pdf": "pdf, reportlab" if n % 2 == 0 else "pdf, LibreOffice",
            }[fmt]
            entry = dict(file=None, format=fmt, generator=generator, delivery=delivery,
                         kind=kind, layout=layout.__name__, letter_date="2026-12-04", **t)
            src = os.path.join(work, f"{stem}.{fmt}")
            if fmt == "txt":
                open(src, "w", encoding="utf-8").write(to_text(blocks, tabs=n % 2 == 0))
            elif fmt == "html":
                open(src, "w", encoding="utf-8").write(to_html(blocks, ["outlook", "gmail", "thunderbird"][n % 3]))
            elif fmt == "rtf":
                if n % 2 == 0:
                    open(src, "wb").write(to_rtf(blocks))
                else:
                    h = os.path.join(work, "lo", f"{stem}.html")
                    os.makedirs(os.path.dirname(h), exist_ok=True)
                    open(h, "w", encoding="utf-8").write(to_html(blocks, "thunderbird"))
                    lo_rtf.append(h)
            elif fmt == "docx":
                if n % 2 == 0:
                    to_docx(blocks, src)
                else:
                    h = os.path.join(work, "lo", f"{stem}.html")
                    os.makedirs(os.path.dirname(h), exist_ok=True)
                    open(h, "w", encoding="utf-8").write(to_html(blocks, "thunderbird"))
                    lo_docx.append(h)
            else:
                if n % 2 == 0:
                    to_pdf(blocks, src)
                else:
                    d = os.path.join(work, "lo", f"{stem}.docx")
                    os.makedirs(os.path.dirname(d), exist_ok=True)
                    to_docx(blocks, d)
                    lo_pdf.append(d)
            pending.append((entry, src, stem, fmt, n, p, a, r, blocks, layout))
    libreoffice(lo_rtf, "rtf", work)
    libreoffice(lo_docx, "docx:MS Word 2007 XML", work)
    libreoffice(lo_pdf, "pdf", work)
    mime = {"rtf": ("application", "rtf"), "pdf": ("application", "pdf"),
            "docx": ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")}
    for entry, src, stem, fmt, n, p, a, r, blocks, layout in pending:
        data = open(src, "rb").read()
        subject = SUBJECTS[n % len(SUBJECTS)]
        if layout is layouts.subject_split:
            subject = athen_subject(p, with_state=False)
        elif layout is layouts.other_patient_in_subject:
            other = PATIENTS[(n + 7) % len(PATIENTS)]
            subject = athen_subject(other, with_state=True)
        if entry["delivery"] == "file":
            name = f"{stem}.{fmt}"
            open(os.path.join(OUT, name), "wb").write(data)
        elif entry["delivery"] == "message body":
            name = f"{stem}.eml"
            if fmt == "txt":
                raw = message(n, a, r, subject, body_text=data.decode("utf-8"))
            else:
                raw = message(n, a, r, subject, body_text=to_text(blocks, tabs=True), body_html=data.decode("utf-8"))
            open(os.path.join(OUT, name), "wb").write(raw)
        else:
            name = f"{stem}.eml"
            note = cover_note(n, r, entry["kind"])
            raw = message(n, a, r, subject, body_text=note,
                          attachment=(f"letter.{fmt}", data, *mime[fmt]))
            open(os.path.join(OUT, name), "wb").write(raw)
        entry["file"] = name
        truth.append(entry)
    truth.sort(key=lambda e: e["file"])
    with open(os.path.join(HERE, "truth.json"), "w", encoding="utf-8") as f:
        json.dump(truth, f, ensure_ascii=False, indent=1)
        f.write("\n")
    shutil.rmtree(work, ignore_errors=True)
    print(f"{len(truth)} letters written to {OUT}")


if __name__ == "__main__":
    main()
