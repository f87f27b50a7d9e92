//! IMAP through the real server with Python's imaplib: no log-in before
//! TLS, STARTTLS and implicit TLS, the web app's folders with their
//! special uses, reading a letter (the trail names the login, the read
//! receipt goes back to the sender, `\Seen` and `$MDNSent` are set and
//! the web app sees them), flags, search, move and expunge, APPEND to
//! Sent without a second copy, IDLE hearing of new mail, and log-out.

mod common;
use common::*;
use serde_json::Value;

#[test]
fn a_mail_program_reads_files_and_tidies_letters() {
    let p = TwoPractices::start(|_| {});
    let v = p.api_run(
        r#"
import imaplib, time
PW = os.environ["PW"]
send_letter("[CITIZEN, John (M) DOB:01/02/1960] Referral QZIMAP", "QZIMAP")
out = {}
M = imaplib.IMAP4("localhost", int(os.environ["IMAP"]))
out["caps_plain"] = list(M.capabilities)
try:
    M.login("reception@northside.example", PW)
    out["plain_login"] = "ok"
except imaplib.IMAP4.error as e:
    out["plain_login"] = str(e)
M.starttls(ssl_context=ctx)
out["login"] = M.login("reception@northside.example", PW)[0]
out["caps_tls"] = list(M.capabilities)
out["list"] = [d.decode() for d in M.list()[1]]
typ, data = M.select("INBOX")
out["exists"] = int(data[0])
typ, data = M.uid("SEARCH", None, "UNSEEN SUBJECT QZIMAP")
uid = data[0].split()[-1]
typ, data = M.uid("FETCH", uid, "(FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODYSTRUCTURE ENVELOPE)")
out["peek"] = data[0][0].decode()
out["peek_header"] = data[0][1].decode()
out["structure"] = M.uid("FETCH", uid, "(BODYSTRUCTURE ENVELOPE)")[1][0].decode()
out["flags_after_peek"] = M.uid("FETCH", uid, "(FLAGS)")[1][0].decode()
typ, data = M.uid("FETCH", uid, "(BODY[])")
out["read_response"] = data[0][0].decode() + data[1].decode()
out["body_has_text"] = b"Thank you for seeing this patient" in data[0][1]
out["flags_after_read"] = M.uid("FETCH", uid, "(FLAGS)")[1][0].decode()
out["store"] = M.uid("STORE", uid, "+FLAGS", "(\\Flagged)")[1][0].decode()
out["flagged"] = M.uid("SEARCH", None, "FLAGGED")[1][0].decode()
typ, data = M.uid("MOVE", uid, "Archive")
out["move"] = typ
out["after_move"] = int(M.select("INBOX")[1][0])
typ, data = M.select("Archive")
out["archive"] = int(data[0])
out["status"] = M.status("Archive", "(MESSAGES UNSEEN UIDNEXT)")[1][0].decode()
M.store("1", "+FLAGS", "\\Deleted")
out["expunge"] = [x.decode() if x else None for x in M.expunge()[1]]
out["archive_after"] = int(M.select("Archive")[1][0])
typ, data = M.create("Private")
out["create"] = typ + " " + data[0].decode()
M.select("INBOX")
# IDLE hears of a letter that arrives meanwhile.
tag = M._new_tag()
M.send(tag + b" IDLE\r\n")
out["idle_start"] = M.readline().decode().strip()
send_letter("Practice meeting QZIDLE", "QZIDLE")
line = M.readline().decode().strip()
out["idle_news"] = line
M.send(b"DONE\r\n")
while True:
    l = M.readline().decode()
    if l.startswith(tag.decode()):
        out["idle_done"] = l.strip()
        break
M.logout()

# Jane over implicit TLS: her client files its own copy in Sent, which
# the server filed already when it sent the letter.
J = imaplib.IMAP4_SSL("localhost", int(os.environ["IMAPS"]), ssl_context=ctx)
J.login("jane@athen.localhost", PW)
before = int(J.select("Sent")[1][0])
copy = ("From: Dr Peter Smith <jane@athen.localhost>\r\nTo: reception@northside.example\r\n"
    "Subject: Referral QZIMAP\r\nMessage-ID: <QZIMAP@athen.localhost>\r\n\r\nDear Dr Jones,\r\n").encode()
typ, data = J.append("Sent", "(\\Seen)", None, copy)
out["append_sent"] = data[0].decode()
other = copy.replace(b"QZIMAP@", b"QZOTHER@")
typ, data = J.append("Drafts", "(\\Draft)", None, other)
out["append_drafts"] = data[0].decode()
out["sent_after"] = int(J.select("Sent")[1][0]) - before
J.logout()

# The web side: Northside's letter is read, by this login, and Jane's
# trail has the receipt.
t = login("reception@northside.example", PW)
s, _, page = api("GET", "/api/v1/folders/Archive/messages", token=t)
out["web_archive"] = page
j = login("jane@athen.localhost", PW)
settled(j)
s, _, sent = api("GET", "/api/v1/folders/Sent/messages", token=j)
mine = [m for m in sent["messages"] if "QZIMAP" in (m.get("subject") or "")][0]
for _ in range(50):
    s, _, trail = api("GET", "/api/v1/folders/Sent/messages/%d/audit" % mine["uid"], token=j)
    if any(e["kind"] == "read" for e in trail["events"]):
        break
    time.sleep(0.2)
out["jane_trail"] = [e["kind"] for e in trail["events"]]
print(json.dumps(out))
"#,
    );
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let caps = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        caps("caps_plain").contains(&"LOGINDISABLED".to_string()),
        "{v}"
    );
    assert!(s("plain_login").contains("PRIVACYREQUIRED"), "{v}");
    assert_eq!(s("login"), "OK");
    for c in [
        "IMAP4REV2",
        "IDLE",
        "MOVE",
        "UIDPLUS",
        "CONDSTORE",
        "SPECIAL-USE",
        "ESEARCH",
        "QUOTA",
    ] {
        assert!(caps("caps_tls").contains(&c.to_string()), "{c}: {v}");
    }
    let list = v["list"].to_string();
    for f in [
        "\\\\Sent) \\\"/\\\" \\\"Sent\\\"",
        "INBOX",
        "\\\\Trash",
        "Downloaded",
    ] {
        assert!(list.contains(f), "{f}: {list}");
    }
    assert!(v["exists"].as_u64().unwrap() >= 1);
    assert!(s("peek").contains("FLAGS ()"), "{v}");
    assert!(
        s("structure").contains("BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\")"),
        "{v}"
    );
    assert!(
        s("structure").contains("((\"Dr Peter Smith\" NIL \"jane\" \"athen.localhost\"))"),
        "{v}"
    );
    assert!(
        s("peek_header").starts_with("Subject: [CITIZEN, John (M) DOB:01/02/1960] Referral QZIMAP"),
        "{v}"
    );
    assert!(
        s("flags_after_peek").contains("FLAGS ()"),
        "peeking is not reading: {v}"
    );
    assert!(
        s("read_response").contains("\\Seen"),
        "reading says \\Seen: {v}"
    );
    assert!(v["body_has_text"].as_bool().unwrap());
    assert!(
        s("flags_after_read").contains("\\Seen") && s("flags_after_read").contains("$MDNSent"),
        "{v}"
    );
    assert!(s("store").contains("\\Flagged"), "{v}");
    assert_eq!(v["move"], "OK");
    assert_eq!(v["after_move"], v["exists"].as_u64().unwrap() - 1);
    assert_eq!(v["archive"], 1);
    assert!(s("status").contains("MESSAGES 1 UNSEEN 0"), "{v}");
    assert_eq!(v["expunge"][0], "1", "{v}");
    assert_eq!(v["archive_after"], 0);
    assert!(s("create").starts_with("NO [CANNOT]"), "{v}");
    assert!(s("idle_start").starts_with('+'), "{v}");
    assert!(s("idle_news").ends_with("EXISTS"), "{v}");
    assert!(s("idle_done").contains("OK"), "{v}");
    assert!(s("append_sent").contains("Already in Sent"), "{v}");
    assert!(s("append_drafts").contains("APPENDUID"), "{v}");
    assert_eq!(v["sent_after"], 0, "no second copy in Sent: {v}");
    // The web app: the letter that was read and archived (and removed
    // over IMAP) is gone from Archive; Jane's trail has the receipt.
    assert_eq!(
        v["web_archive"]["messages"].as_array().map(Vec::len),
        Some(0),
        "{v}"
    );
    let jane: Vec<&str> = v["jane_trail"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(jane.contains(&"read"), "the receipt came back: {jane:?}");
}
