//! Writing letters in the browser through the real server (Python urllib
//! with a cookie jar, the form sent as multipart/form-data the way a
//! browser sends it): every problem shown beside its field and nothing
//! sent; a letter about a patient with an attachment reaching the other
//! practice, whose HL7 file names the patient (validated by hl7apy); the
//! answer prefilled from the letter; the sender's Sent folder following it
//! to "read"; moving, deleting and deleting for good.

mod common;
use common::*;
use serde_json::json;

#[test]
fn a_letter_written_in_the_browser_reaches_the_other_practice_with_its_patient() {
    let p = TwoPractices::start(|data| {
        takes_hl7(data, "reception@northside.example");
        admin_ok(
            data,
            &["account", "confirm", "reception@northside.example"],
            "",
        );
    });
    let hl7 = p._dir.path().join("letter.hl7");
    let v = browse(
        p.server.port,
        &p.ca,
        &format!(
            r#"{MULTIPART}
r = {{}}
j = Browser()
j.login("jane@athen.localhost", {JANE_PW:?})
s, path, page = j.get("/compose?to=reception%40northside.example")
token = csrf(page)
r["prefilled"] = 'value="reception@northside.example"' in page
r["suggest"] = json.loads(j.get("/directory/suggest?q=North")[2])["suggestions"]
letter = {{"csrf": token, "to": "reception@northside.example", "subject": "Referral",
          "family_name": "O'Brien", "given_names": "Sean", "sex": "M", "birth_date": "01/02/1960",
          "street": "12 Main St", "suburb": "Northside", "state": "NSW", "postcode": "2000",
          "medicare": "2123 45670 1", "body": "Dear Dr Jones,\n\nPlease see Sean about his chest pain.\n\nDr Jane Citizen",
          "receipt": "yes"}}
r["no csrf"] = post_multipart(j, "/compose", dict(letter, csrf="x"))[0]
s, path, page = post_multipart(j, "/compose", dict(letter, to="not an address", birth_date="31/02/1960", postcode="3000"))
r["bad"] = [s, errors(page), "Dear Dr Jones" in page]
s, path, page = post_multipart(j, "/compose", letter, [("attachments", "virus.exe", b"MZ")])
r["bad file"] = [s, "only PDF, Word, RTF" in page]
s, path, page = post_multipart(j, "/compose", dict(letter, to="nobody@athen.localhost"))
r["unknown"] = [s, "cannot be sent to nobody@athen.localhost" in page]
s, path, page = post_multipart(j, "/compose", letter, [("attachments", "results.txt", b"Troponin negative.\n")])
r["sent"] = [s, path, "Your letter was sent" in page, statuses(page)]
# Northside reads it.
n = Browser()
n.login("reception@northside.example", {JANE_PW:?})
s, path, inbox = n.get("/mail/Inbox")
r["subject"] = re.findall(r'<a href="/mail/Inbox/1">([^<]+)</a>', inbox)
s, path, page = n.get("/mail/Inbox/1")
r["letter"] = "Please see Sean about his chest pain." in page
files = re.findall(r'href="(/mail/Inbox/1/attachments/\d+)">([^<]+)<', page)
r["files"] = sorted(f[1] for f in files)
hl7 = [f for f in files if f[1].endswith(".HL7")][0]
s, path, data = n.open(hl7[0])
open({hl7:?}, "wb").write(data)
# The answer goes back to Jane about the same patient.
s, path, page = n.get("/compose?reply=Inbox/1")
r["reply form"] = ['value="jane@athen.localhost"' in page, "Re: [O&#39;BRIEN, Sean (M) DOB:01/02/1960 12 Main St, Northside 2000] Referral" in page,
                   "&gt; Please see Sean" in page]
reply = {{"csrf": csrf(page), "to": "jane@athen.localhost", "in_reply_to": re.search(r'name="in_reply_to" value="([^"]*)"', page).group(1),
         "subject": re.search(r'name="subject" type="text" value="([^"]*)"', page).group(1).replace("&#39;", "'"), "body": "Seen today."}}
r["reply sent"] = post_multipart(n, "/compose", reply)[:2]
# Jane's Sent folder follows her letter to "read".
deadline = time.time() + 30
while True:
    sent = statuses(j.get("/mail/Sent")[2])
    if sent == ["read"] or time.time() > deadline:
        break
    time.sleep(0.5)
r["jane sent"] = sent
s, path, inbox = j.get("/mail/Inbox")
r["jane inbox"] = re.findall(r'<a href="/mail/Inbox/\d+">([^<]+)</a>', inbox)
# Northside files it away, deletes it, and deletes it for good.
s, path, page = n.get("/mail/Inbox/1")
t = csrf(page)
r["archive"] = n.post("/mail/Inbox/1/move", {{"csrf": t, "to": "Archive"}})[:2]
r["inbox after"] = re.findall(r'<a href="/mail/Inbox/\d+">', n.get("/mail/Inbox")[2])
archived = re.findall(r'<a href="(/mail/Archive/\d+)">', n.get("/mail/Archive")[2])
r["archived"] = len(archived)
r["no csrf move"] = n.post(archived[0] + "/move", {{"to": "Trash"}})[0]
r["not from archive"] = n.post(archived[0] + "/move", {{"csrf": t, "to": "delete"}})[0]
r["trash"] = n.post(archived[0] + "/move", {{"csrf": t, "to": "Trash"}})[:2]
trashed = re.findall(r'<a href="(/mail/Trash/\d+)">', n.get("/mail/Trash")[2])
r["gone"] = n.post(trashed[0] + "/move", {{"csrf": t, "to": "delete"}})[:2]
r["trash after"] = re.findall(r'<a href="/mail/Trash/\d+">', n.get("/mail/Trash")[2])
r["timeline kept"] = n.get("/mail/Sent")[0]
print(json.dumps(r))
"#
        ),
    );
    assert_eq!(v["prefilled"], true, "{v}");
    assert_eq!(
        v["suggest"],
        json!([{"label": "Northside Medical", "address": "reception@northside.example"}]),
        "{v}"
    );
    assert_eq!(v["no csrf"], 403, "{v}");
    assert_eq!(
        v["bad"],
        json!([422, ["to", "birth_date", "postcode"], true]),
        "{v}"
    );
    assert_eq!(v["bad file"], json!([422, true]), "{v}");
    assert_eq!(v["unknown"], json!([422, true]), "{v}");
    // Delivered at once to a mailbox of this server; "sent" until its
    // report is filed.
    assert_eq!(
        v["sent"].as_array().unwrap()[..3],
        json!([200, "/mail/Sent", true]).as_array().unwrap()[..],
        "{v}"
    );
    assert!(
        v["sent"][3] == json!(["sent"]) || v["sent"][3] == json!(["delivered"]),
        "{v}"
    );
    assert_eq!(
        v["subject"],
        json!(["[O&#39;BRIEN, Sean (M) DOB:01/02/1960 12 Main St, Northside 2000] Referral"]),
        "{v}"
    );
    assert_eq!(v["letter"], true);
    assert_eq!(v["files"], json!(["JCX00001.HL7", "results.txt"]), "{v}");
    assert_eq!(v["reply form"], json!([true, true, true]), "{v}");
    assert_eq!(v["reply sent"], json!([200, "/mail/Sent"]), "{v}");
    assert_eq!(v["jane sent"], json!(["read"]), "{v}");
    assert_eq!(
        v["jane inbox"],
        json!(["Re: [O&#39;BRIEN, Sean (M) DOB:01/02/1960 12 Main St, Northside 2000] Referral"]),
        "{v}"
    );
    assert_eq!(v["archive"], json!([200, "/mail/Inbox"]), "{v}");
    assert_eq!(v["inbox after"], json!([]));
    assert_eq!(v["archived"], 1);
    assert_eq!(v["no csrf move"], 403);
    assert_eq!(v["not from archive"], 400);
    assert_eq!(v["trash"], json!([200, "/mail/Archive"]));
    assert_eq!(v["gone"], json!([200, "/mail/Trash"]));
    assert_eq!(v["trash after"], json!([]));

    // The HL7 file names the patient from the compose form, and is valid.
    let report = hl7_validate_with_pdf(&hl7);
    let text = std::fs::read_to_string(&hl7).unwrap();
    let pid = text.split('\r').find(|s| s.starts_with("PID|")).unwrap();
    // The header's name as typed (it is trusted over the subject's capitals).
    assert!(pid.contains("|O'Brien^Sean^"), "{pid}");
    assert!(pid.contains("^Northside^NSW^2000^"), "{pid}");
    assert!(pid.contains("|19600201|M|"), "{pid}");
    assert!(pid.contains("2123456701"), "{pid}");
    assert!(!report.is_empty());
}
