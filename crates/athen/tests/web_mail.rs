//! The signed-in web pages through the real server, with Python's urllib
//! and a cookie jar as the browser: signing in (CSRF-checked, a new
//! session cookie with Secure, HttpOnly and SameSite), the inbox, reading a
//! letter with its HL7 file, its timeline, the sender seeing "read", and
//! signing out. Received text is escaped, never run.

mod common;
use common::*;

#[test]
fn a_practice_signs_in_reads_a_letter_with_its_hl7_file_and_the_sender_sees_read() {
    let p = TwoPractices::start(|data| {
        takes_hl7(data, "reception@northside.example");
    });
    p.jane_sends(
        "msg = ('From: Dr Peter Smith <jane@athen.localhost>\\r\\nTo: reception@northside.example\\r\\n'
    'Subject: [SMITH, John (M) DOB:01/02/1960] Referral <script>alert(1)</script>\\r\\n'
    'Content-Type: text/plain; charset=utf-8\\r\\n\\r\\nDear Dr Jones,\\r\\n\\r\\nPlease see John <b>soon</b>.\\r\\n')
c.sendmail('jane@athen.localhost', ['reception@northside.example'], msg.encode())",
    );
    let v = browse(
        p.server.port,
        &p.ca,
        &format!(
            r#"
r = {{}}
b = Browser()
r["anonymous"] = b.get("/mail/Inbox")[:2]
s, path, page = b.get("/login")
token = csrf(page)
r["no csrf"] = b.post("/login", {{"login": "reception@northside.example", "password": {JANE_PW:?}}})[0]
s, path, page = b.post("/login", {{"csrf": token, "login": "reception@northside.example", "password": "wrong"}})
r["wrong"] = [s, "not right" in page]
s, path, inbox = b.post("/login", {{"csrf": token, "login": "reception@northside.example", "password": {JANE_PW:?}}})
r["signed in"] = [s, path]
c = [c for c in b.jar if c.name == "__Host-athen_session"][0]
r["cookie"] = [c.secure, c.path, c.has_nonstandard_attr("HttpOnly"), c.get_nonstandard_attr("SameSite")]
r["inbox escapes"] = ["<script>" not in inbox, "&lt;script&gt;alert(1)&lt;/script&gt;" in inbox]
r["inbox row"] = re.findall(r'<td class="status-(\w+)">', inbox)
s, path, letter = b.get("/mail/Inbox/1")
r["letter"] = [s, "Please see John &lt;b&gt;soon&lt;/b&gt;." in letter]
files = re.findall(r'href="(/mail/Inbox/1/attachments/\d+)">([^<]+)<', letter)
r["files"] = [f[1] for f in files]
s, path, hl7 = b.open(files[0][0])
r["hl7"] = [s, hl7[:4].decode()]
r["after reading"] = re.findall(r'<td class="status-(\w+)">', b.get("/mail/Inbox")[2])
s, path, timeline = b.get("/mail/Inbox/1/audit")
r["timeline"] = re.findall(r'<tr><td>[^<]*</td><td>(\w+)</td>', timeline)
r["read by"] = "<td>reception@northside.example</td>" in timeline
# Jane signs in elsewhere and sees her letter read.
j = Browser()
s, path, page = j.login("jane@athen.localhost", {JANE_PW:?})
deadline = time.time() + 30
while True:
    sent = re.findall(r'<td class="status-(\w+)">', j.get("/mail/Sent")[2])
    if sent == ["read"] or time.time() > deadline:
        break
    time.sleep(0.5)
r["jane sent"] = sent
s, path, page = b.get("/mail/Inbox")
r["logout without csrf"] = b.post("/logout", {{}})[0]
r["logout"] = b.post("/logout", {{"csrf": csrf(page)}})[:2]
r["after logout"] = b.get("/mail/Inbox")[:2]
print(json.dumps(r))
"#
        ),
    );
    assert_eq!(v["anonymous"], serde_json::json!([200, "/login"]), "{v}");
    assert_eq!(v["no csrf"], 403);
    assert_eq!(v["wrong"], serde_json::json!([401, true]));
    assert_eq!(v["signed in"], serde_json::json!([200, "/mail/Inbox"]));
    assert_eq!(v["cookie"], serde_json::json!([true, "/", true, "Strict"]));
    assert_eq!(v["inbox escapes"], serde_json::json!([true, true]), "{v}");
    assert_eq!(v["inbox row"], serde_json::json!(["new"]));
    assert_eq!(v["letter"], serde_json::json!([200, true]), "{v}");
    assert_eq!(v["files"], serde_json::json!(["DPS00001.HL7"]), "{v}");
    assert_eq!(v["hl7"], serde_json::json!([200, "MSH|"]));
    assert_eq!(v["after reading"], serde_json::json!(["opened"]));
    let timeline: Vec<&str> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        timeline,
        ["received", "converted", "read", "receipt_sent"],
        "{v}"
    );
    assert_eq!(v["read by"], true);
    assert_eq!(v["jane sent"], serde_json::json!(["read"]), "{v}");
    assert_eq!(v["logout without csrf"], 403);
    assert_eq!(v["logout"], serde_json::json!([200, "/login"]));
    assert_eq!(v["after logout"], serde_json::json!([200, "/login"]));
}

#[test]
fn the_practice_chooses_its_files_and_receipts_and_staff_may_only_look() {
    let p = TwoPractices::start(|data| {
        add_staff_with_login(
            data,
            "reception@northside.example",
            JANE_PW,
            ("Anna", "Jones"),
            "anna's own password",
        );
    });
    let v = browse(
        p.server.port,
        &p.ca,
        &format!(
            r#"
r = {{}}
b = Browser()
b.login("reception@northside.example", {JANE_PW:?})
s, path, page = b.get("/settings")
r["before"] = [s, 'value="always" checked' in page, '<option value="none" selected>' in page]
token = csrf(page)
r["no csrf"] = b.post("/settings", {{"format0": "pit", "receipts": "never"}})[0]
r["bad format"] = b.post("/settings", {{"csrf": token, "format0": "docx", "receipts": "never"}})[0]
r["bad policy"] = b.post("/settings", {{"csrf": token, "format0": "pit", "receipts": "sometimes"}})[0]
s, path, page = b.post("/settings", {{"csrf": token, "format0": "hl7-oru:as4700", "format1": "pit", "receipts": "never"}})
r["saved"] = [s, path, "saved" in page, '<option value="hl7-oru:as4700" selected>' in page,
    '<option value="pit" selected>' in page, 'value="never" checked' in page]
a = Browser()
a.login("reception+anna.jones@northside.example", "anna's own password")
s, path, page = a.get("/settings")
r["staff sees"] = [s, "disabled" in page, 'value="never" checked' in page]
r["staff saves"] = a.post("/settings", {{"csrf": csrf(page), "format0": "pit", "receipts": "always"}})[0]
print(json.dumps(r))
"#
        ),
    );
    assert_eq!(v["before"], serde_json::json!([200, true, true]), "{v}");
    assert_eq!(v["no csrf"], 403);
    assert_eq!(v["bad format"], 422);
    assert_eq!(v["bad policy"], 422);
    assert_eq!(
        v["saved"],
        serde_json::json!([200, "/settings", true, true, true, true]),
        "{v}"
    );
    assert_eq!(v["staff sees"], serde_json::json!([200, true, true]), "{v}");
    assert_eq!(v["staff saves"], 403);
    // The command line reads the same settings back.
    let (rc, s) = mailbox(
        &p.data,
        "reception@northside.example",
        JANE_PW,
        &["settings"],
    );
    assert_eq!(rc, 0, "{s}");
    assert_eq!(
        s["delivery_formats"],
        serde_json::json!(["hl7-oru:as4700", "pit"])
    );
    assert_eq!(s["receipts"], "never");
}

/// "Ask me each time": opening a letter that asked for a read receipt
/// asks; nothing goes until the person says so; then the sender sees
/// "read", and a second press sends nothing more.
#[test]
fn ask_each_time_sends_the_read_receipt_only_when_told() {
    let p = TwoPractices::start(|data| {
        let (rc, v) = mailbox(
            data,
            "reception@northside.example",
            JANE_PW,
            &["settings", "--receipts", "ask"],
        );
        assert_eq!(rc, 0, "{v}");
    });
    p.jane_sends(
        "c.sendmail('jane@athen.localhost', ['reception@northside.example'], b'From: jane@athen.localhost\\r\\nTo: reception@northside.example\\r\\nSubject: Results\\r\\n\\r\\nAll normal.\\r\\n')",
    );
    let v = browse(
        p.server.port,
        &p.ca,
        &format!(
            r#"
r = {{}}
def sent_status(j):
    return re.findall(r'<td class="status-(\w+)">', j.get("/mail/Sent")[2])
n = Browser()
n.login("reception@northside.example", {JANE_PW:?})
deadline = time.time() + 30
while "/mail/Inbox/1" not in n.get("/mail/Inbox")[2] and time.time() < deadline:
    time.sleep(0.3)
s, path, page = n.get("/mail/Inbox/1")
r["asked"] = [s, 'action="/mail/Inbox/1/receipt"' in page, "asked to be told" in page]
j = Browser()
j.login("jane@athen.localhost", {JANE_PW:?})
deadline = time.time() + 30
while sent_status(j) != ["delivered"] and time.time() < deadline:
    time.sleep(0.3)
time.sleep(2)
r["before"] = sent_status(j)
r["no csrf"] = n.post("/mail/Inbox/1/receipt", {{}})[0]
s, path, page = n.post("/mail/Inbox/1/receipt", {{"csrf": csrf(page)}})
r["sent"] = [s, "on its way to jane@athen.localhost" in page]
deadline = time.time() + 30
while sent_status(j) != ["read"] and time.time() < deadline:
    time.sleep(0.3)
r["after"] = sent_status(j)
s, path, page = n.post("/mail/Inbox/1/receipt", {{"csrf": csrf(page)}})
r["again"] = [s, "sent already" in page]
r["no such letter"] = n.post("/mail/Inbox/99/receipt", {{"csrf": csrf(page)}})[0]
print(json.dumps(r))
"#
        ),
    );
    assert_eq!(v["asked"], serde_json::json!([200, true, true]), "{v}");
    assert_eq!(v["before"], serde_json::json!(["delivered"]), "{v}");
    assert_eq!(v["no csrf"], 403, "{v}");
    assert_eq!(v["sent"], serde_json::json!([200, true]), "{v}");
    assert_eq!(v["after"], serde_json::json!(["read"]), "{v}");
    assert_eq!(v["again"], serde_json::json!([200, true]), "{v}");
    assert_eq!(v["no such letter"], 404, "{v}");
}
