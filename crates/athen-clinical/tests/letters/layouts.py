"""Letter layouts as Australian senders write them. Each layout returns the
letter as blocks (("p", lines), ("h", heading), ("t", rows)) and its truth.

A layout is a habit of a kind of sender (GP software, hospital, specialist
rooms, allied health, pathology), not of one program; the formats in
generate.py then write each layout through different generators.
"""

from cases import (HOSPITAL, doctor_name, write_address, write_date, write_medicare,
                   write_name, spaced_medicare, truth_party, truth_patient)

ALL = ["sex", "address", "phone", "medicare", "dva", "ihi"]


def letterhead(d):
    return ("p", [d["org"], f"{d['street']}, {d['suburb']} {d['state']} {d['postcode']}",
                  f"Phone: {d['phone']}   Fax: {d['phone'][:-1]}9"])


def opening(a, r, date_text, salutation):
    """The author's letterhead, the date, the recipient's address block and
    the salutation: how most letters begin."""
    return [letterhead(a), ("p", [date_text]), address_block(r), ("p", [salutation])]


def address_block(d):
    return ("p", [doctor_name(d), d["role"], d["org"], d["street"],
                  f"{d['suburb'].upper()} {d['state']} {d['postcode']}"])


def signature(d, style):
    """The sign-off and the signature block."""
    quals = {"General Practitioner": "MBBS FRACGP", "Cardiologist": "MBBS PhD FRACP",
             "Physiotherapist": "BPhty (Hons) APAM", "Podiatrist": "B.Pod"}
    q = quals.get(d["role"], "MBBS FRACP")
    prov = d["written_provider"]
    if style == 0:
        return [("p", ["Yours sincerely,"]),
                ("p", [doctor_name(d), q, d["role"], f"Provider No: {prov}"])]
    if style == 1:
        return [("p", ["Kind regards,"]),
                ("p", [f"{doctor_name(d)} (Provider No. {prov})", d["org"]])]
    if style == 2:
        return [("p", ["Yours faithfully"]),
                ("p", [f"{d['title']} {d['given']} {d['family'].upper()}, {q}", d["role"],
                       f"Provider number {prov}", d["org"]])]
    return [("p", ["Regards,"]),
            ("p", [f"{d['given']} {d['family']}", f"{d['role']} ({q})", f"Prov No {prov}"])]


def body_text(p, kind):
    first = p["given"].split()[0]
    pron = "He" if p["sex"] == "M" else "She"
    texts = {
        "referral": [f"Thank you for seeing {first}, who has had exertional chest tightness for three months. "
                     f"{pron} has hypertension and hyperlipidaemia, and quit smoking in 2019.",
                     "Current medications: perindopril 5 mg daily, atorvastatin 40 mg nocte. "
                     "ECG shows no acute changes. I would value your opinion on further investigation."],
        "reply": [f"I reviewed {first} in my rooms today. The HbA1c was 8.1% and the thyroid function normal.",
                  "I have started empagliflozin 10 mg daily and will see "
                  f"{'him' if p['sex'] == 'M' else 'her'} again in three months."],
        "allied": [f"{first} attended six sessions for right shoulder pain after a fall in October.",
                   "Range of motion has improved from 90 to 150 degrees of flexion. "
                   "A home programme has been given; no further sessions are planned."],
    }
    return texts[kind]


def gp_referral(i, p, a, r, date):
    """GP software: letterhead, date, the recipient's address block, Dear,
    Re: with the patient's details on labelled lines."""
    name = write_name(p, i % 4)
    salutation = f"Dear {r['given']}," if i % 2 == 0 else f"Dear {r['title']} {r['family']},"
    details = [f"Re: {name}", f"DOB: {write_date(p['dob'], i % 5)}"]
    details += write_address(p, i % 3)
    details += [f"Phone: {p['phone']}", f"Medicare: {write_medicare(p, i % 4)}"]
    stated = ["address", "phone", "medicare"] + (["sex"] if i % 4 in (0, 3) else [])
    blocks = opening(a, r, write_date(date, 2 + i % 5), salutation) + [("p", details)]
    blocks += [("p", [t]) for t in body_text(p, "referral")]
    blocks += signature(a, i % 4)
    truth = dict(patient=truth_patient(p, stated),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "gp referral"


def gp_one_line(i, p, a, r, date):
    """Another GP program: the Re: line carries name and DOB, the address
    and numbers follow on lines without labels or with short ones."""
    dob = write_date(p["dob"], 1 + i % 4)
    lines = [f"RE: {write_name(p, 1 + i % 3)}   DOB: {dob}"]
    lines += write_address(p, i % 2)
    lines += [f"Ph: {p['phone']}    Medicare No: {write_medicare(p, 1)}"]
    blocks = [address_block(r), ("p", [write_date(date, 0)]),
              ("p", [f"Dear {r['title']} {r['family']},"]), ("p", lines)]
    blocks += [("p", [t]) for t in body_text(p, "referral")]
    blocks += signature(a, 1)
    truth = dict(patient=truth_patient(p, ["address", "phone", "medicare"]),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "gp referral"


def gp_table_header(i, p, a, r, date):
    """Details in a table: a header row and the values below it."""
    rows = [["Patient", "Date of birth", "Medicare", "Our ref"],
            [write_name(p, 0), write_date(p["dob"], 0), write_medicare(p, 2), f"{p['family'][:2].upper()}-{4400 + i}"]]
    rows2 = [["Address", "Phone", "Sex"],
             [" ".join(write_address(p, 0)), p["phone"], {"M": "Male", "F": "Female"}[p["sex"]]]]
    blocks = opening(a, r, write_date(date, 2), f"Dear {r['title']} {r['family']},") + [
               ("t", rows), ("t", rows2)]
    blocks += [("p", [t]) for t in body_text(p, "referral")]
    blocks += signature(a, 0)
    truth = dict(patient=truth_patient(p, ["sex", "address", "phone", "medicare"]),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "gp referral (table)"


def gp_table_side(i, p, a, r, date):
    """Details in a two-column table: label cell, value cell."""
    rows = [["Name", write_name(p, 2)], ["Date of birth", write_date(p["dob"], 3)],
            ["Sex", p["sex"]], ["Address", "\n".join(write_address(p, 2))],
            ["Home phone", p["phone"]], ["Medicare no.", spaced_medicare(p["medicare"])],
            ["IRN", str(p["irn"])]]
    blocks = opening(a, r, write_date(date, 5), f"Dear {r['given']},") + [
               ("h", "Referral"), ("t", rows)]
    blocks += [("p", [t]) for t in body_text(p, "referral")]
    blocks += signature(a, 2)
    truth = dict(patient=truth_patient(p, ["sex", "address", "phone", "medicare"]),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "gp referral (table)"


def specialist_reply(i, p, a, r, date):
    """Specialist rooms: the GP's address block, Dear <first name>, Re: name
    and DOB on one line, the address on the next without a label."""
    lines = [f"Re: {write_name(p, 3)}  DOB {write_date(p['dob'], 1)}"]
    lines += write_address(p, 3 if i % 2 else 0)
    if p.get("dva"):
        lines.append(f"DVA: {p['dva']}")
    blocks = opening(a, r, write_date(date, 6), f"Dear {r['given']},") + [
               ("p", lines)]
    blocks += [("p", [t]) for t in body_text(p, "reply")]
    blocks += signature(a, 2 if i % 2 else 3)
    stated = ["sex", "address"] + (["dva"] if p.get("dva") else [])
    truth = dict(patient=truth_patient(p, stated),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "specialist reply"


def discharge(i, p, a, r, date):
    """A hospital discharge summary: details in a four-column grid, the GP
    named as recipient, a next of kin who is not the patient."""
    h = HOSPITAL
    grid = [["Surname", p["family"].upper(), "Given names", p["given"]],
            ["Date of birth", write_date(p["dob"], 0), "Sex", {"M": "Male", "F": "Female"}[p["sex"]]],
            ["UR number", f"{700000 + i * 137}", "Medicare", f"{p['medicare']}-{p['irn']}" if p.get("medicare") else "—"],
            ["Address", " ".join(write_address(p, 1)), "Phone", p["phone"]]]
    stated = ["sex", "address", "phone"] + (["medicare"] if p.get("medicare") else [])
    if p.get("ihi"):
        grid.append(["IHI", p["ihi"], "", ""])
        stated.append("ihi")
    blocks = [("p", [h["org"], f"{h['street']}, {h['suburb']} {h['state']} {h['postcode']}", f"Ph {h['phone']}"]),
              ("h", "DISCHARGE SUMMARY"), ("t", grid),
              ("p", [f"Admission date: {write_date((date[0], date[1], max(1, date[2] - 4)), 0)}",
                     f"Discharge date: {write_date(date, 0)}",
                     "Next of kin: Mrs Lan Tran (daughter)   Phone: 0400 111 222"]),
              ("p", [f"GP: {doctor_name(r)}, {r['org']}", f"Date: {write_date(date, 0)}"]),
              ("h", "Diagnoses"), ("p", ["Community-acquired pneumonia, right lower lobe."]),
              ("h", "Medications on discharge"),
              ("p", ["Amoxicillin 1 g three times daily for 5 more days."]),
              ("p", ["Electronically signed by", f"{doctor_name(a)}", f"Consultant {a['role']}",
                     f"Provider No: {a['written_provider']}"])]
    truth = dict(patient=truth_patient(p, stated),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "discharge summary"


def allied(i, p, a, r, date):
    """An allied-health report: Client:, Referring GP:, the details as
    labelled lines, signed with a provider number."""
    blocks = [letterhead(a), ("h", f"{a['role'].upper()} REPORT"),
              ("p", [f"Client: {write_name(p, 2)}", f"Date of birth: {write_date(p['dob'], 4)}",
                     f"Gender: {p['sex']}", "Address: " + write_address(p, 0)[0],
                     f"Mobile: {p['phone']}", f"Referring GP: {doctor_name(r)}",
                     f"Report date: {write_date(date, 0)}"]),
              ("p", [f"Dear {r['title']} {r['family']},"])]
    blocks += [("p", [t]) for t in body_text(p, "allied")]
    blocks += signature(a, 3)
    truth = dict(patient=truth_patient(p, ["sex", "address", "phone"]),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "allied health"


def pathology(i, p, a, r, date):
    """A pathology-style result letter: several labels on one line, the
    requesting doctor as recipient, the pathologist as author."""
    blocks = [("p", ["Northside Pathology", "PO Box 100, St Leonards NSW 1590"]),
              ("h", "RESULT NOTIFICATION"),
              ("p", [f"To: {doctor_name(r)}, {r['org']}", f"Date: {write_date(date, 0)}"]),
              ("p", [f"Patient: {write_name(p, 1)}    Sex: {p['sex']}    DOB: {write_date(p['dob'], 0)}",
                     "Address: " + write_address(p, 0)[0],
                     f"Medicare: {p['medicare']}  IRN: {p['irn']}    Lab No: 26-{1000000 + i}"]),
              ("t", [["Test", "Result", "Range"], ["HbA1c", "6.9 %", "< 6.5"],
                     ["Ferritin", "12 ug/L", "30 - 300"]]),
              ("p", [f"Reported by: {doctor_name(a)}, Pathologist (Provider {a['written_provider']})"])]
    truth = dict(patient=truth_patient(p, ["sex", "address", "medicare"]),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "pathology result"


def columns(i, p, a, r, date):
    """Labels and values laid out side by side in columns."""
    rows = [["Name:", write_name(p, 3), "Date of birth:", write_date(p["dob"], 0)],
            ["Address:", write_address(p, 0)[0], "Phone:", p["phone"]],
            ["Medicare:", write_medicare(p, 1), "Sex:", {"M": "Male", "F": "Female"}[p["sex"]]]]
    blocks = opening(a, r, write_date(date, 0), f"Dear {r['title']} {r['family']},") + [
               ("t", rows)]
    blocks += [("p", [t]) for t in body_text(p, "referral")]
    blocks += signature(a, 0)
    truth = dict(patient=truth_patient(p, ["sex", "address", "phone", "medicare"]),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "gp referral (columns)"


def outpatient(i, p, a, r, date):
    """A hospital outpatient letter: references, Dear, RE: with name, DOB
    and MRN on one line."""
    h = HOSPITAL
    blocks = [("p", [h["org"], "Outpatient Department", f"{h['street']}, {h['suburb']} {h['state']} {h['postcode']}"]),
              ("p", [f"Our ref: MRN {800000 + i}", f"Date: {write_date(date, 3)}"]),
              ("p", [doctor_name(r), r["org"], r["street"], f"{r['suburb']} {r['state']} {r['postcode']}"]),
              ("p", [f"Dear {r['title']} {r['family']},"]),
              ("p", [f"RE: {p['family'].upper()}, {p['given']} - DOB {write_date(p['dob'], 0)} - MRN {800000 + i}",
                     write_address(p, 0)[0]])]
    blocks += [("p", [t]) for t in body_text(p, "reply")]
    blocks += signature(a, 0)
    truth = dict(patient=truth_patient(p, ["address"]),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "outpatient letter"


# --- letters built to tempt a wrong choice ------------------------------------

def twins(i, p, a, r, date):
    """Twins with one birth date in one letter: which one is not knowable."""
    rows = [["Patient", "Date of birth", "Medicare"],
            [f"Ava {p['family'].upper()}", write_date(p["dob"], 0), spaced_medicare(p["medicare"])],
            [f"Noah {p['family'].upper()}", write_date(p["dob"], 0), spaced_medicare(p["medicare"])]]
    blocks = opening(a, r, write_date(date, 2), f"Dear {r['title']} {r['family']},") + [
               ("t", rows),
              ("p", ["Thank you for seeing these twins, both with recurrent otitis media."])]
    blocks += signature(a, 0)
    truth = dict(patient=None, not_possible="more than one patient",
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "tempting: twins"


def family(i, p, a, r, date):
    """"Re: A and B": a letter about two people."""
    blocks = opening(a, r, write_date(date, 2), f"Dear {r['title']} {r['family']},") + [
              ("p", [f"Re: {p['given']} and Mele {p['family']}", f"DOB: {write_date(p['dob'], 0)}",
                     write_address(p, 0)[0]]),
              ("p", ["Thank you for seeing this couple for fertility counselling."])]
    blocks += signature(a, 1)
    truth = dict(patient=None, not_possible="more than one patient",
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "tempting: two people"


def relative(i, p, a, r, date):
    """A relative with her own birth date and phone in the letter."""
    name = write_name(p, 0)
    blocks = opening(a, r, write_date(date, 2), f"Dear {r['given']},") + [
              ("p", [f"Re: {name}", f"DOB: {write_date(p['dob'], 0)}"] + write_address(p, 0)
                    + [f"Phone: {p['phone']}"]),
              ("p", ["Her daughter, Mrs Lan TRAN (DOB 01/05/1970), is her carer and attends with her."]),
              ("p", ["Next of kin: Mrs Lan Tran", "Phone: 0400 111 222", "Address: 9 Other Street, Hurstville NSW 2220"]),
              ("p", body_text(p, "referral")[:1])]
    blocks += signature(a, 0)
    truth = dict(patient=truth_patient(p, ["sex", "address", "phone"]),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "tempting: a relative"


def parent(i, p, a, r, date):
    """A child and a parent with the same family name."""
    blocks = opening(a, r, write_date(date, 0), f"Dear {r['title']} {r['family']},") + [
              ("p", [f"Patient: {write_name(p, 0)}", f"Date of birth: {write_date(p['dob'], 0)}",
                     "Address: " + write_address(p, 0)[0], f"Phone: {p['phone']}",
                     f"Parent/guardian: Mere {p['family']} (mother), phone 0400 555 666"]),
              ("p", [f"{p['given']} lives with his mother, Mere {p['family']}, born 12/03/1990."])]
    blocks += signature(a, 0)
    truth = dict(patient=truth_patient(p, ["sex", "address", "phone"]),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "tempting: a parent"


def labelled_letterhead(i, p, a, r, date):
    """The practice's own address and phone on labelled lines above."""
    blocks = [("p", [a["org"], f"Address: {a['street']}, {a['suburb']} {a['state']} {a['postcode']}",
                     f"Phone: {a['phone']}", f"Email: reception@{a['family'].lower()}.example.com.au"]),
              ("p", [write_date(date, 2)]), address_block(r),
              ("p", [f"Dear {r['title']} {r['family']},"]),
              ("p", [f"Patient: {write_name(p, 1)}", f"DOB: {write_date(p['dob'], 0)}",
                     "Address: " + write_address(p, 0)[0], f"Phone: {p['phone']}"])]
    blocks += [("p", [t]) for t in body_text(p, "referral")]
    blocks += signature(a, 0)
    truth = dict(patient=truth_patient(p, ["address", "phone"]),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "tempting: letterhead"


def own_numbers(i, p, a, r, date):
    """The GP's own Medicare-like numbers, and none of the patient's."""
    blocks = [("p", [a["org"], f"Medicare provider no: {a['written_provider']}   ABN 12 345 678 901",
                     f"{a['street']}, {a['suburb']} {a['state']} {a['postcode']}"]),
              ("p", [write_date(date, 2)]), address_block(r),
              ("p", [f"Dear {r['title']} {r['family']},"]),
              ("p", [f"Re: {write_name(p, 0)}", f"D.O.B.: {write_date(p['dob'], 0)}"])]
    blocks += [("p", [t]) for t in body_text(p, "referral")]
    blocks += [("p", ["Yours sincerely,"]),
               ("p", [doctor_name(a), f"Medicare Provider Number {a['written_provider']}",
                      "Practice Medicare no 2950 41115 1"])]
    truth = dict(patient=truth_patient(p, ["sex"]),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "tempting: the GP's numbers"


def topic_re(i, p, a, r, date):
    """"Re:" names a topic; the patient is on a later line."""
    blocks = opening(a, r, write_date(date, 2), f"Dear {r['given']},") + [
              ("p", ["Re: Cardiology referral - urgent review requested"]),
              ("p", [f"Patient: {write_name(p, 3)}", f"DOB: {write_date(p['dob'], 1)}",
                     "Address: " + write_address(p, 0)[0]])]
    blocks += [("p", [t]) for t in body_text(p, "referral")]
    blocks += signature(a, 0)
    truth = dict(patient=truth_patient(p, ["sex", "address"]),
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "tempting: a topic in Re:"


def bad_medicare(i, p, a, r, date):
    """A Medicare number with a wrong check digit: left out, the rest used."""
    n = p["medicare"]
    wrong = n[:8] + str((int(n[8]) + 1) % 10) + n[9]
    blocks = opening(a, r, write_date(date, 2), f"Dear {r['title']} {r['family']},") + [
              ("p", [f"Re: {write_name(p, 0)}", f"DOB: {write_date(p['dob'], 0)}",
                     f"Medicare: {spaced_medicare(wrong)}", f"Phone: {p['phone']}"])]
    blocks += [("p", [t]) for t in body_text(p, "referral")]
    blocks += signature(a, 0)
    truth = dict(patient=truth_patient(p, ["sex", "phone"]), problems=["patient.medicare"],
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "tempting: wrong check digit"


def no_dob(i, p, a, r, date):
    """No date of birth: not possible."""
    blocks = opening(a, r, write_date(date, 2), f"Dear {r['title']} {r['family']},") + [
              ("p", [f"Re: {write_name(p, 0)}"] + write_address(p, 0))]
    blocks += [("p", [t]) for t in body_text(p, "referral")]
    blocks += signature(a, 0)
    truth = dict(patient=None, not_possible="no date of birth",
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "tempting: no date of birth"


def subject_split(i, p, a, r, date):
    """ATHEN's subject gives name, DOB and address (no state); the letter adds
    the phone and the Medicare number. Only as a message."""
    blocks = [("p", [f"Dear {r['title']} {r['family']},"]),
              ("p", [f"Medicare: {write_medicare(p, 0)}", f"Phone: {p['phone']}"])]
    blocks += [("p", [t]) for t in body_text(p, "referral")]
    blocks += signature(a, 0)
    truth = dict(patient=truth_patient(p, ["sex", "address", "phone", "medicare"]),
                 recipient=truth_party(r, with_given=False, with_provider=False), author=truth_party(a))
    return blocks, truth, "subject and letter"


def other_patient_in_subject(i, p, a, r, date):
    """The subject names one patient and the letter another."""
    blocks, _, _ = gp_referral(i, p, a, r, date)
    truth = dict(patient=None, not_possible="two patients",
                 recipient=truth_party(r, with_provider=False), author=truth_party(a))
    return blocks, truth, "tempting: subject and letter disagree"


NORMAL = [gp_referral, gp_one_line, gp_table_header, gp_table_side, specialist_reply,
          discharge, allied, pathology, columns, outpatient, gp_referral, specialist_reply]
TEMPTING = [twins, family, relative, parent, labelled_letterhead, own_numbers, topic_re,
            bad_medicare, no_dob, other_patient_in_subject]
