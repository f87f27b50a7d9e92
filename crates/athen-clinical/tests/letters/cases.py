"""The letters of the corpus: fictional patients, providers and letters in
the layouts Australian senders use, with the truth of each.

Every person, number and address here is invented. Medicare, IHI and
provider numbers are made with their real check digits so that a reader
that checks them can use them; a few carry a wrong check digit on purpose.
"""

PROVIDER_LOCATION = "0123456789ABCDEFGHJKLMNPQRTUVWXY"
PROVIDER_CHECK = "YXWTLKJHFBA"


def provider(stem, loc="A"):
    """A provider number with its check letter; `stem` of 5 or 6 digits."""
    s6 = stem.rjust(6, "0")
    total = sum(int(d) * w for d, w in zip(s6, [3, 5, 8, 4, 2, 1]))
    total += PROVIDER_LOCATION.index(loc) * 6
    return f"{stem}{loc}{PROVIDER_CHECK[total % 11]}"


def medicare(eight, issue="1"):
    """A 10-digit Medicare card number with its check digit."""
    total = sum(int(d) * w for d, w in zip(eight, [1, 3, 7, 9, 1, 3, 7, 9]))
    return f"{eight}{total % 10}{issue}"


def ihi(nine):
    body = "800360" + nine
    digits = [int(d) for d in body]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def spaced_medicare(n):
    return f"{n[:4]} {n[4:9]} {n[9]}"


def phone_digits(p):
    return "".join(c for c in p if c.isdigit())


# --- people -----------------------------------------------------------------

def patient(title, given, family, sex, dob, street, suburb, state, postcode,
            phone=None, medicare_no=None, irn=None, dva=None, ihi_no=None,
            written_state=True):
    return dict(title=title, given=given, family=family, sex=sex, dob=dob,
                street=street, suburb=suburb, state=state, postcode=postcode,
                phone=phone, medicare=medicare_no, irn=irn, dva=dva, ihi=ihi_no,
                written_state=written_state)


def doctor(title, given, family, role, org, street, suburb, state, postcode,
           provider_no=None, written_provider=None, phone="02 9555 0100"):
    return dict(title=title, given=given, family=family, role=role, org=org,
                street=street, suburb=suburb, state=state, postcode=postcode,
                provider=provider_no, written_provider=written_provider or provider_no,
                phone=phone)


PATIENTS = [
    patient("Mr", "John Paul", "Smith", "M", (1960, 2, 1), "12 Main Street", "Northside", "NSW", "2060",
            phone="0412 345 678", medicare_no=medicare("21234567"), irn=1),
    patient("Mrs", "Thị Hoa", "Nguyễn", "F", (1972, 11, 30), "4/18 Jersey Road", "Bankstown", "NSW", "2200",
            phone="02 9707 1234", medicare_no=medicare("29504111"), irn=2),
    patient("Ms", "Zoë", "Müller-Brown", "F", (1988, 6, 15), "7 Acacia Avenue", "Fitzroy", "VIC", "3065",
            phone="0398 765 432", medicare_no=medicare("33314159"), irn=3),
    patient("Mr", "Seán", "O'Brien", "M", (1949, 3, 17), "22 Harbour View Drive", "Kangaroo Point", "QLD", "4169",
            phone="07 3391 2288", dva="QX123456", medicare_no=medicare("41112222"), irn=1),
    patient("Mrs", "Konstantina", "Papadopoulos", "F", (1941, 8, 5), "105 Unley Road", "Unley", "SA", "5061",
            phone="08 8271 4455", medicare_no=medicare("51234987"), irn=1),
    patient("Master", "Tama", "Ngata", "M", (2016, 1, 9), "3 Kōwhai Place", "Mount Druitt", "NSW", "2770",
            phone="0433 221 100", medicare_no=medicare("22223333"), irn=4),
    patient("Ms", "Aroha", "Te Whāiti", "F", (1995, 12, 24), "60 Bay Street", "Glebe", "NSW", "2037",
            phone="0421 998 877", medicare_no=medicare("26655443"), irn=1),
    patient("Mr", "Sione", "Tuʻipulotu", "M", (1983, 4, 2), "11 Wattle Crescent", "Logan Central", "QLD", "4114",
            phone="0455 123 987", medicare_no=medicare("42223344"), irn=2),
    patient("Miss", "Losa", "Fa'amausili", "F", (2004, 7, 21), "9 Ocean Parade", "Cottesloe", "WA", "6011",
            phone="0402 776 554", medicare_no=medicare("55554444"), irn=1),
    patient("Mr", "José", "García", "M", (1967, 9, 9), "88 Sandy Bay Road", "Sandy Bay", "TAS", "7005",
            phone="03 6223 1188", medicare_no=medicare("61212121"), irn=1, ihi_no=ihi("456789012")),
    patient("Mrs", "Mary-Kate", "D'Arcy", "F", (1958, 5, 30), "2 Cullen Street", "Nightcliff", "NT", "0810",
            phone="08 8948 2020", medicare_no=medicare("23456789"), irn=2),
    patient("Mr", "Wei", "Zhang", "M", (1990, 10, 10), "15 Northbourne Avenue", "Braddon", "ACT", "2612",
            phone="0466 010 203", medicare_no=medicare("25252525"), irn=1),
    patient("Mrs", "Eleni", "Georgiou", "F", (1936, 2, 29), "5 Station Street", "Oakleigh", "VIC", "3166",
            phone="03 9568 7777", dva="VX987654", ihi_no=ihi("111222333"),
            medicare_no=medicare("36667777"), irn=2),
    patient("Mr", "Rangi", "Parata", "M", (1977, 6, 6), "41 Brunswick Street", "Fortitude Valley", "QLD", "4006",
            phone="0488 664 422", medicare_no=medicare("43215678"), irn=1),
    patient("Ms", "Priya", "Raghunathan", "F", (1999, 1, 31), "23 Gilbert Road", "Preston", "VIC", "3072",
            phone="0412 000 111", medicare_no=medicare("31234321"), irn=1),
    patient("Mr", "Liam", "van der Berg", "M", (1954, 12, 1), "77 Goodwood Road", "Wayville", "SA", "5034",
            phone="08 8373 0000", medicare_no=medicare("52345678"), irn=1),
    patient("Mrs", "Ngaio", "Whaanga", "F", (1969, 3, 3), "14 Lake Road", "Gosford", "NSW", "2250",
            phone="02 4325 5566", medicare_no=medicare("28889999"), irn=3),
    patient("Mr", "Dimitrios", "Katsaros", "M", (1945, 7, 14), "8 Lygon Street", "Carlton", "VIC", "3053",
            phone="03 9347 3311", dva="VX112233", medicare_no=medicare("34445555"), irn=1),
    patient("Ms", "Hương", "Trần", "F", (1985, 5, 19), "6 John Street", "Cabramatta", "NSW", "2166",
            phone="0413 555 019", medicare_no=medicare("27776666"), irn=1),
    patient("Mr", "Malakai", "Vea", "M", (2001, 11, 11), "19 Pine Street", "Inala", "QLD", "4077",
            phone="0477 818 181", medicare_no=medicare("46665555"), irn=2),
    patient("Mrs", "Siobhán", "McAllister", "F", (1951, 4, 25), "3 Hobart Road", "Kings Meadows", "TAS", "7249",
            phone="03 6344 9090", medicare_no=medicare("63332222"), irn=1),
    patient("Mr", "Arjun", "Patel", "M", (1979, 8, 28), "120 Great Eastern Highway", "Rivervale", "WA", "6103",
            phone="08 9361 4545", medicare_no=medicare("54443333"), irn=1, ihi_no=ihi("998877665")),
]

DOCTORS = [
    doctor("Dr", "Jane", "Citizen", "General Practitioner", "Northside Medical Centre",
           "1 High Street", "Northside", "NSW", "2060", provider("242662", "1")),
    doctor("Dr", "Richard", "Hollingsworth", "Cardiologist", "Harbour Heart Specialists",
           "Suite 4, 100 Pacific Highway", "St Leonards", "NSW", "2065", provider("166359", "A"),
           written_provider=provider("166359", "A")),
    doctor("Dr", "Anh", "Lê", "General Practitioner", "Bankstown Family Practice",
           "200 Chapel Road", "Bankstown", "NSW", "2200", provider("43215", "B")),
    doctor("Prof", "Margaret", "Okonkwo-Reid", "Endocrinologist", "Melbourne Endocrine Group",
           "55 Collins Street", "Melbourne", "VIC", "3000", provider("301234", "J")),
    doctor("Dr", "Hemi", "Walker", "General Practitioner", "Mount Druitt Medical",
           "8 Luxford Road", "Mount Druitt", "NSW", "2770", provider("278899", "K")),
    doctor("Dr", "Catherine", "Nakamura", "Respiratory Physician", "Brisbane Lung Clinic",
           "30 Wickham Terrace", "Spring Hill", "QLD", "4000", provider("412345", "T")),
    doctor("Ms", "Olivia", "Baxter", "Physiotherapist", "Fitzroy Physio & Rehab",
           "210 Smith Street", "Fitzroy", "VIC", "3065", provider("512340", "L")),
    doctor("Dr", "Samuel", "Adeyemi", "General Practitioner", "Unley Road Medical",
           "90 Unley Road", "Unley", "SA", "5061", provider("61234", "F")),
    doctor("A/Prof", "Ioannis", "Christodoulou", "Gastroenterologist", "Adelaide Digestive Health",
           "1 King William Street", "Adelaide", "SA", "5000", provider("234561", "W")),
    doctor("Dr", "Fiona", "MacLeod", "Psychiatrist", "Glebe Mental Health",
           "12 Glebe Point Road", "Glebe", "NSW", "2037", provider("356712", "X")),
    doctor("Dr", "Tevita", "Fifita", "General Practitioner", "Logan Health Hub",
           "5 Wembley Road", "Logan Central", "QLD", "4114", provider("423456", "H")),
    doctor("Mr", "Daniel", "Cho", "Podiatrist", "Cottesloe Foot Clinic",
           "4 Napoleon Street", "Cottesloe", "WA", "6011", provider("198765", "Q")),
]

# The hospital that writes discharge summaries and the pathology service.
HOSPITAL = dict(org="Royal Northside Hospital", street="50 Hospital Road",
                suburb="St Leonards", state="NSW", postcode="2065", phone="02 9926 7111")


# --- how things are written -------------------------------------------------

MONTHS = ["January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def write_date(d, style):
    import datetime
    y, m, day = d
    if style == 0:
        return f"{day:02d}/{m:02d}/{y}"
    if style == 1:
        return f"{day}/{m}/{y}"
    if style == 2:
        return f"{day} {MONTHS[m - 1]} {y}"
    if style == 3:
        return f"{day} {MONTHS[m - 1][:3]} {y}"
    if style == 4:
        return f"{day:02d}.{m:02d}.{y}"
    if style == 5:
        wd = WEEKDAYS[datetime.date(y, m, day).weekday()]
        return f"{wd}, {day} {MONTHS[m - 1]} {y}"
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix} {MONTHS[m - 1]} {y}"


def write_name(p, style):
    """The patient's name as letters write it."""
    t = p["title"]
    if style == 0:
        return f"{t} {p['given']} {p['family'].upper()}"
    if style == 1:
        return f"{p['family'].upper()}, {p['given']}"
    if style == 2:
        return f"{p['given']} {p['family']}"
    return f"{t} {p['given']} {p['family']}"


def write_address(p, style):
    """One line (style 0, 1, 3) or two lines (style 2)."""
    if style == 0:
        return [f"{p['street']}, {p['suburb']} {p['state']} {p['postcode']}"]
    if style == 1:
        return [f"{p['street']}, {p['suburb'].upper()} {p['state']} {p['postcode']}"]
    if style == 2:
        return [p["street"], f"{p['suburb'].upper()}  {p['state']}  {p['postcode']}"]
    # No state: the reader must know it from the postcode.
    return [f"{p['street']}, {p['suburb']} {p['postcode']}"]


def write_medicare(p, style):
    n = p["medicare"]
    if style == 0:
        return f"{spaced_medicare(n)} (IRN {p['irn']})"
    if style == 1:
        return f"{n} / {p['irn']}"
    if style == 2:
        return f"{spaced_medicare(n)}-{p['irn']}"
    return f"{n[:4]} {n[4:9]} {n[9]} {p['irn']}"


def doctor_name(d):
    return f"{d['title']} {d['given']} {d['family']}"


def truth_patient(p, stated):
    """The patient's details that a letter states (`stated`: field names)."""
    y, m, d = p["dob"]
    t = {"family_name": p["family"], "given_names": p["given"],
         "birth_date": f"{y:04d}-{m:02d}-{d:02d}"}
    if "sex" in stated:
        t["sex"] = p["sex"]
    if "address" in stated:
        t["address"] = {"street": p["street"], "suburb": p["suburb"],
                        "state": p["state"], "postcode": p["postcode"]}
    if "phone" in stated and p["phone"]:
        t["phone"] = phone_digits(p["phone"])
    if "medicare" in stated and p["medicare"]:
        t["medicare"] = {"number": p["medicare"], "irn": p["irn"]}
    if "dva" in stated and p["dva"]:
        t["dva"] = p["dva"]
    if "ihi" in stated and p["ihi"]:
        t["ihi"] = p["ihi"]
    return t


def truth_party(d, with_given=True, with_provider=True):
    t = {"family_name": d["family"]}
    if with_given:
        t["given_names"] = d["given"]
    if with_provider and d.get("provider"):
        t["provider_number"] = d["provider"].rjust(8, "0")
    return t
