//! `athen localserve --demo`: the two demo practices and the
//! administrator are made once, with letters exchanged the real way; the
//! summary says how to sign in as each; the general practice reads its
//! letters with HL7 files (checked by hl7apy) and the cardiologist sees
//! them read; a second start makes nothing twice.

mod common;
use common::*;
use serde_json::json;

#[test]
fn the_demo_shows_two_practices_with_letters_exchanged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--demo"]);
    let s = &server.summary;
    for line in [
        "harbour.street@athen.localhost with \"harbour demo password\"",
        "priya.sharma@athen.localhost with \"sharma demo password\"",
        "admin with \"demo admin password\"",
    ] {
        assert!(s.contains(line), "{s}");
    }
    assert!(!s.contains("setup?token="), "{s}");
    let ca = data.join("tls/self-signed-cert.pem");
    let hl7 = dir.path().join("letter.hl7");
    let look = |server: &Server| {
        browse(
            server.port,
            &ca,
            &format!(
                r#"
import html
r = {{}}
h = Browser()
h.login("harbour.street@athen.localhost", "harbour demo password")
deadline = time.time() + 30
while True:
    inbox = h.get("/mail/Inbox")[2]
    subjects = re.findall(r'<a href="/mail/Inbox/(\d+)">([^<]+)</a>', inbox)
    if len(subjects) >= 2 or time.time() > deadline:
        break
    time.sleep(0.3)
r["inbox"] = sorted(html.unescape(s) for _, s in subjects)
uid = [u for u, s in subjects if "Cardiology consultation" in s][0]
s, path, page = h.get("/mail/Inbox/" + uid)
files = re.findall(r'href="(/mail/Inbox/\d+/attachments/\d+)">([^<]+)<', page)
r["files"] = [f[1] for f in files]
if files:
    open({hl7:?}, "wb").write(h.open(files[0][0])[2])
p = Browser()
p.login("priya.sharma@athen.localhost", "sharma demo password")
deadline = time.time() + 30
while True:
    sent = re.findall(r'<td class="status-(\w+)">', p.get("/mail/Sent")[2])
    if sent.count("read") >= 1 or time.time() > deadline:
        break
    time.sleep(0.3)
r["sharma sent"] = sorted(sent)
r["sharma inbox"] = [html.unescape(s) for s in re.findall(r'<a href="/mail/Inbox/\d+">([^<]+)</a>', p.get("/mail/Inbox")[2])]
a = Browser()
s, path, page = a.get("/admin/login")
r["admin"] = a.post("/admin/login", {{"csrf": csrf(page), "login": "admin", "password": "demo admin password"}})[1]
r["listed"] = "Harbour Street Medical Centre" in Browser().get("/directory?name=harbour")[2]
print(json.dumps(r))
"#
            ),
        )
    };
    let v = look(&server);
    assert_eq!(
        v["inbox"],
        json!([
            "[NGUYEN, Thi (F) DOB:15/08/1975] Echocardiogram results",
            "[O'BRIEN, Sean (M) DOB:01/02/1960] Cardiology consultation"
        ]),
        "{v}"
    );
    assert_eq!(v["files"], json!(["DPS00001.HL7"]), "{v}");
    hl7_validate_with_pdf(&hl7);
    let hl7_text = std::fs::read_to_string(&hl7).unwrap();
    assert!(
        hl7_text.contains("O'BRIEN^SEAN") || hl7_text.contains("O'Brien^Sean"),
        "{hl7_text}"
    );
    assert_eq!(v["sharma sent"], json!(["delivered", "read"]), "{v}");
    assert_eq!(
        v["sharma inbox"],
        json!(["[O'BRIEN, Sean (M) DOB:01/02/1960] Referral: chest pain on exertion"]),
        "{v}"
    );
    assert_eq!(v["admin"], "/admin", "{v}");
    assert_eq!(v["listed"], true, "{v}");
    // Started again with --demo: the same logins, nothing made twice.
    assert!(server.stop().success());
    let again = Server::start(&data, &["--demo"]);
    assert!(again.summary.contains("priya.sharma@athen.localhost"));
    let v = look(&again);
    assert_eq!(v["inbox"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["sharma inbox"].as_array().unwrap().len(), 1, "{v}");
}
