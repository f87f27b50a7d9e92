//! The administrator's pages through the real server (urllib as the
//! browser; the welcome letters' PDF read back with poppler's pdftotext):
//! operator sign-in (throttled, one answer for unknown and wrong), the
//! server's health, accounts waiting with their closing dates, the letters
//! printed in one PDF and marked posted, a new letter, confirming,
//! suspending (a reason needed), reinstating and closing, the outgoing
//! queue without content, localserve's catch-all, and that a practice's
//! session opens none of it.

mod common;
use common::*;
use serde_json::json;

#[test]
fn the_administrator_confirms_posts_letters_and_watches_the_server() {
    let p = TwoPractices::start(|data| {
        create_operator(data, "ops", "Olive Operator", "operator passphrase 1");
        // A confirmed practice writes to another server (an unconfirmed
        // one may not, issue 20).
        create_individual(data, "Dr Sender", "sender@athen.localhost", JANE_PW);
        admin_ok(data, &["account", "confirm", "sender@athen.localhost"], "");
    });
    python(
        p.server.port_of("Submission port:"),
        &p.ca,
        &format!(
            "import os, ssl, smtplib\nctx = ssl.create_default_context(cafile=os.environ['CA'])\n\
c = smtplib.SMTP('localhost', int(os.environ['PORT']), timeout=30)\nc.starttls(context=ctx)\n\
c.login('sender@athen.localhost', {JANE_PW:?})\n\
c.sendmail('sender@athen.localhost', ['someone@elsewhere.test'], b'From: sender@athen.localhost\\r\\nTo: someone@elsewhere.test\\r\\nSubject: Private matter\\r\\n\\r\\nSECRET-BODY\\r\\n')\nc.quit()\n"
        ),
    );
    let pdf = p._dir.path().join("letters.pdf");
    let v = browse(
        p.server.port,
        &p.ca,
        &format!(
            r#"
r = {{}}
def admin_login(b, who, pw):
    s, path, page = b.get("/admin/login")
    return b.post("/admin/login", {{"csrf": csrf(page), "login": who, "password": pw}})
r["anonymous"] = Browser().get("/admin")[:2]
# A practice's own session opens nothing here.
j = Browser()
j.login("jane@athen.localhost", {JANE_PW:?})
r["practice"] = j.get("/admin/accounts")[:2]
a = Browser()
s, path, page = a.get("/admin/login")
r["no csrf"] = a.post("/admin/login", {{"login": "ops", "password": "operator passphrase 1"}})[0]
s, path, wrong = admin_login(a, "ops", "wrong")
s2, path2, unknown = admin_login(a, "nobody", "wrong")
r["wrong"] = [s, s2, "not right" in wrong, "not right" in unknown]
s, path, page = admin_login(a, "ops", "operator passphrase 1")
r["signed in"] = [s, path, "Olive Operator" in page, "running, version" in page,
                  re.search(r'provisional</a>: (\d+)', page).group(1)]
t = csrf(page)
s, path, page = a.get("/admin/accounts?status=provisional")
r["accounts"] = [s, sorted(re.findall(r'<td>([a-z.]+@[a-z.]+)</td><td>(?:individual|organisation)</td><td>provisional</td>', page)),
                 len(re.findall(r'<td>\d{{4}}-\d\d-\d\d</td><td>\d{{4}}-\d\d-\d\d</td>', page)), "No unconfirmed account is about to expire" in page]
r["bad status"] = a.get("/admin/accounts?status=nonsense")[0]
ids = {{}}
for m in re.finditer(r'<tr><td>[^<]*</td><td>([^<]+)</td>.*?action="/admin/accounts/(\d+)/', page):
    ids[m.group(1)] = int(m.group(2))
r["ids"] = sorted(ids)
# The letters: print both, mark Jane's posted, a new one for Northside.
s, path, page = a.get("/admin/letters")
r["letters"] = [s, page.count('name="account"'), page.count(" checked>")]
s, path, data = a.open("/admin/letters/print", urllib.parse.urlencode({{"csrf": t}}).encode())
open({pdf:?}, "wb").write(data)
r["pdf"] = [s, data[:5].decode()]
r["print no csrf"] = a.open("/admin/letters/print", b"csrf=x")[0]
s, path, page = a.post("/admin/letters/posted", [("csrf", t), ("account", str(ids["jane@athen.localhost"]))])
r["posted"] = [s, path, len(re.findall(r'<td>not yet</td>', page))]
s, path, page = a.post("/admin/accounts/%d/resend" % ids["reception@northside.example"], {{"csrf": t}})
r["resend"] = [s, "A new letter for reception@northside.example" in page]
# Confirm Jane by hand: she is in the directory.
s, path, page = a.post("/admin/accounts/%d/confirm" % ids["jane@athen.localhost"], {{"csrf": t}})
r["confirm"] = [s, "jane@athen.localhost is now confirmed." in page]
r["listed"] = "jane@athen.localhost" in Browser().get("/directory?name=Jane")[2]
r["action no csrf"] = a.post("/admin/accounts/%d/suspend" % ids["jane@athen.localhost"], {{"reason": "x"}})[0]
s, path, page = a.post("/admin/accounts/%d/suspend" % ids["jane@athen.localhost"], {{"csrf": t, "reason": " "}})
r["suspend without reason"] = [s, "please give a reason" in page]
s, path, page = a.post("/admin/accounts/%d/suspend" % ids["jane@athen.localhost"], {{"csrf": t, "reason": "unpaid invoice"}})
r["suspended"] = [s, "is now suspended" in page, Browser().login("jane@athen.localhost", {JANE_PW:?})[0]]
r["reinstated"] = a.post("/admin/accounts/%d/reinstate" % ids["jane@athen.localhost"], {{"csrf": t}})[0]
r["after reinstating"] = Browser().login("jane@athen.localhost", {JANE_PW:?})[1]
r["no such action"] = a.post("/admin/accounts/%d/explode" % ids["jane@athen.localhost"], {{"csrf": t}})[0]
r["no such account"] = a.post("/admin/accounts/99999/confirm", {{"csrf": t}})[0]
s, path, page = a.post("/admin/accounts/%d/close" % ids["reception@northside.example"], {{"csrf": t, "reason": "never confirmed"}})
r["closed"] = [s, "is now closed" in page]
# The queue shows no content; the catch-all (localserve) keeps the letter.
s, path, page = a.get("/admin/queue")
r["queue"] = [s, "SECRET-BODY" not in page, "Private matter" not in page]
deadline = time.time() + 30
while True:
    s, path, page = a.get("/admin/catch-all")
    files = re.findall(r'href="/admin/catch-all/([^"]+)"', page)
    if files or time.time() > deadline:
        break
    time.sleep(0.3)
r["catch-all"] = [s, [f.split("-", 1)[1] for f in files]]
s, path, data = a.open("/admin/catch-all/" + files[0])
r["kept"] = [s, b"SECRET-BODY" in data]
r["traversal"] = [a.open("/admin/catch-all/..%2Fathen.db")[0], a.open("/admin/catch-all/.hidden")[0]]
r["practice catch-all"] = j.get("/admin/catch-all")[1]
# Issue 20: what the administrators did, for the administrators to read.
s, path, page = a.get("/admin/log")
r["log"] = [s, "ops (these pages)" in page, "welcome-letter-posted" in page, "jane@athen.localhost" in page, "SECRET-BODY" in page]
s, path, page = a.post("/admin/logout", {{"csrf": t}})
r["logout"] = [s, path, a.get("/admin")[1]]
for _ in range(5):
    admin_login(a, "ops", "wrong again")
s, path, page = admin_login(a, "ops", "operator passphrase 1")
r["throttled"] = [s, "Too many attempts" in page]
print(json.dumps(r))
"#
        ),
    );
    assert_eq!(v["anonymous"], json!([200, "/admin/login"]), "{v}");
    assert_eq!(v["practice"], json!([200, "/admin/login"]), "{v}");
    assert_eq!(v["no csrf"], 403, "{v}");
    assert_eq!(v["wrong"], json!([401, 401, true, true]), "{v}");
    assert_eq!(
        v["signed in"],
        json!([200, "/admin", true, true, "2"]),
        "{v}"
    );
    assert_eq!(
        v["accounts"],
        json!([
            200,
            ["jane@athen.localhost", "reception@northside.example"],
            2,
            true
        ]),
        "{v}"
    );
    assert_eq!(v["bad status"], 400, "{v}");
    assert_eq!(
        v["ids"],
        json!(["jane@athen.localhost", "reception@northside.example"]),
        "{v}"
    );
    assert_eq!(v["letters"], json!([200, 2, 2]), "{v}");
    assert_eq!(v["pdf"], json!([200, "%PDF-"]), "{v}");
    assert_eq!(v["print no csrf"], 403, "{v}");
    assert_eq!(v["posted"], json!([200, "/admin/letters", 1]), "{v}");
    assert_eq!(v["resend"], json!([200, true]), "{v}");
    assert_eq!(v["confirm"], json!([200, true]), "{v}");
    assert_eq!(v["listed"], true, "{v}");
    assert_eq!(v["action no csrf"], 403, "{v}");
    assert_eq!(v["suspend without reason"], json!([422, true]), "{v}");
    assert_eq!(v["suspended"], json!([200, true, 403]), "{v}");
    assert_eq!(v["reinstated"], 200, "{v}");
    assert_eq!(v["after reinstating"], "/mail/Inbox", "{v}");
    assert_eq!(v["no such action"], 404, "{v}");
    assert_eq!(v["no such account"], 404, "{v}");
    assert_eq!(v["closed"], json!([200, true]), "{v}");
    assert_eq!(v["queue"], json!([200, true, true]), "{v}");
    assert_eq!(v["catch-all"], json!([200, ["elsewhere.test.eml"]]), "{v}");
    assert_eq!(v["kept"], json!([200, true]), "{v}");
    assert_eq!(v["traversal"], json!([404, 404]), "{v}");
    assert_eq!(v["practice catch-all"], "/admin/login", "{v}");
    assert_eq!(v["log"], json!([200, true, true, true, false]), "{v}");
    assert_eq!(
        v["logout"],
        json!([200, "/admin/login", "/admin/login"]),
        "{v}"
    );
    assert_eq!(v["throttled"], json!([429, true]), "{v}");
    // The printed letters send people to this server's own page, and
    // carry both accounts' codes.
    let out = std::process::Command::new("pdftotext")
        .args([pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("https://localhost:{}/confirm", p.server.port)),
        "{text}"
    );
    assert!(text.contains("jane@athen.localhost"), "{text}");
    assert!(text.contains("reception@northside.example"), "{text}");
}

/// Issue 20: administrators sign in in two steps too. Set up with the
/// password again and a code from pyotp; then the password asks for the
/// code, wrong and replayed codes are refused, a fresh one signs in; the
/// command line turns it off for a lost phone.
#[test]
fn administrators_sign_in_in_two_steps() {
    let p = TwoPractices::start(|data| {
        create_operator(data, "ops", "Olive Operator", "operator passphrase 1");
    });
    let script = r#"
import pyotp
r = {}
PW = "operator passphrase 1"
def admin_login(b, who, pw):
    s, path, page = b.get("/admin/login")
    return b.post("/admin/login", {"csrf": csrf(page), "login": who, "password": pw})
a = Browser()
admin_login(a, "ops", PW)
s, path, page = a.get("/admin/two-step")
t = csrf(page)
r["off"] = [s, "is <strong>off</strong>" in page]
r["start wrong password"] = a.post("/admin/two-step/start", {"csrf": t, "current": "wrong"})[0]
r["start no csrf"] = a.post("/admin/two-step/start", {"current": PW})[0]
s, path, page = a.post("/admin/two-step/start", {"csrf": t, "current": PW})
key = re.search(r'<p class="code">([^<]+)</p>', page).group(1).replace(" ", "")
sealed = re.search(r'name="sealed" value="([0-9a-f]+)"', page).group(1)
totp = pyotp.TOTP(key)
r["setup"] = [s, "<svg role=\"img\"" in page]
r["on wrong code"] = a.post("/admin/two-step/on", {"csrf": t, "sealed": sealed, "code": "000000" if totp.now() != "000000" else "111111"})[0]
r["on forged"] = a.post("/admin/two-step/on", {"csrf": t, "sealed": "00" + sealed[2:], "code": totp.now()})[0]
enrol = totp.now()
s, path, page = a.post("/admin/two-step/on", {"csrf": t, "sealed": sealed, "code": enrol})
r["on"] = [s, "Two-step sign-in is on" in page]
b = Browser()
s, path, page = admin_login(b, "ops", PW)
r["asks"] = [s, path, "Enter your code" in page]
lt = csrf(page)
r["wrong code"] = b.post("/admin/login/code", {"csrf": lt, "code": "12345x"})[0]
r["replayed"] = b.post("/admin/login/code", {"csrf": lt, "code": enrol})[0]
s, path, page = b.post("/admin/login/code", {"csrf": lt, "code": totp.at(time.time() + 30)})
r["signed in"] = [s, path]
r["stale page"] = Browser().post("/admin/login/code", {"csrf": "x", "code": "123456"})[0]
print(json.dumps(r))
"#;
    let v = browse(p.server.port, &p.ca, script);
    assert_eq!(v["off"], json!([200, true]), "{v}");
    assert_eq!(v["start wrong password"], 422, "{v}");
    assert_eq!(v["start no csrf"], 403, "{v}");
    assert_eq!(v["setup"], json!([200, true]), "{v}");
    assert_eq!(v["on wrong code"], 422, "{v}");
    assert_eq!(v["on forged"], 400, "{v}");
    assert_eq!(v["on"], json!([200, true]), "{v}");
    assert_eq!(v["asks"], json!([200, "/admin/login", true]), "{v}");
    assert_eq!(v["wrong code"], 401, "{v}");
    assert_eq!(v["replayed"], 401, "{v}");
    assert_eq!(v["signed in"], json!([200, "/admin"]), "{v}");
    assert_eq!(v["stale page"], 403, "{v}");
    let off = admin_ok(&p.data, &["operator", "two-step-off", "ops"], "");
    assert_eq!(off, json!({"login": "ops", "was_on": true}));
    let v = browse(
        p.server.port,
        &p.ca,
        r#"
a = Browser()
s, path, page = a.get("/admin/login")
s, path, page = a.post("/admin/login", {"csrf": csrf(page), "login": "ops", "password": "operator passphrase 1"})
print(json.dumps([s, path]))
"#,
    );
    assert_eq!(v, json!([200, "/admin"]), "{v}");
}
