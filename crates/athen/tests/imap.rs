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

/// Programs we did not write: `openssl s_client -starttls imap`, the
/// imapclient library, and s-nail (a mail program from Debian) reading a
/// letter; a staff login opens the practice's mailbox, and the trail
/// names who read what.
#[test]
fn real_mail_programs_and_a_staff_login() {
    let mut anna = String::new();
    let mut token = String::new();
    let p = TwoPractices::start(|d| {
        anna = add_staff_with_login(
            d,
            "reception@northside.example",
            JANE_PW,
            ("Anna", "Lee"),
            "anna staff password",
        );
        let t = admin_ok(
            d,
            &[
                "token",
                "issue",
                "reception@northside.example",
                "--label",
                "Thunderbird",
                "--password-stdin",
            ],
            &format!("{JANE_PW}\n"),
        );
        token = t["token"].as_str().unwrap().to_string();
    });
    let ca = p.ca.display().to_string();
    let v = p.api_run(&format!(
        r#"
import imaplib, subprocess, time
from imapclient import IMAPClient
PW = os.environ["PW"]
ANNA = {anna:?}
CA = {ca:?}
TOKEN = {token:?}
send_letter("[CITIZEN, John (M) DOB:01/02/1960] Referral QZANNA", "QZANNA")
send_letter("[CITIZEN, Mary (F) DOB:03/04/1970] Referral QZSNAIL", "QZSNAIL")
t = login("reception@northside.example", PW)
settled(t)
out = {{}}
# openssl's client: STARTTLS on 143, then a log-in by the staff member.
conv = "a LOGIN " + ANNA + ' "anna staff password"\r\nb SELECT INBOX\r\nc LOGOUT\r\n'
r = subprocess.run(["openssl", "s_client", "-quiet", "-starttls", "imap", "-connect",
    "localhost:" + os.environ["IMAP"], "-CAfile", CA, "-verify_return_error"],
    input=conv.encode(), capture_output=True, timeout=30)
out["openssl"] = r.stdout.decode(errors="replace")
# imapclient: Anna reads the first letter.
c = IMAPClient("localhost", port=int(os.environ["IMAPS"]), ssl=True, ssl_context=ctx)
c.login(ANNA, "anna staff password")
c.select_folder("INBOX")
uids = c.search(["SUBJECT", "QZANNA"])
out["anna_uids"] = uids
got = c.fetch(uids, ["BODY[]", "FLAGS"])
out["anna_flags"] = [f.decode() for f in got[uids[0]][b"FLAGS"]]
out["anna_body"] = b"Thank you for seeing this patient" in got[uids[0]][b"BODY[]"]
out["status"] = {{k.decode(): v for k, v in c.folder_status("INBOX", ["MESSAGES", "UNSEEN"]).items()}}
c.logout()
# s-nail, as the practice: prints the second letter, marking it read.
r = subprocess.run(["s-nail", "-n", "-N", "-#", "-S", "v15-compat", "-S", "tls-ca-file=" + CA,
    "-S", "password=" + PW, "-f",
    "imaps://reception%40northside.example@localhost:" + os.environ["IMAPS"] + "/INBOX"],
    input=b"headers\nprint '(subject \"QZSNAIL\")'\nquit\n", capture_output=True, timeout=60)
out["snail"] = r.stdout.decode(errors="replace")
# An app token is a password for mail programs; a wrong one is refused.
m = imaplib.IMAP4_SSL("localhost", int(os.environ["IMAPS"]), ssl_context=ctx)
out["token_login"] = m.login("reception@northside.example", TOKEN)[0]
m.logout()
m = imaplib.IMAP4_SSL("localhost", int(os.environ["IMAPS"]), ssl_context=ctx)
try:
    m.login("reception@northside.example", TOKEN[:-2] + "xx")
    out["bad_token"] = "accepted"
except imaplib.IMAP4.error as e:
    out["bad_token"] = str(e)
out["snail_err"] = r.stderr.decode(errors="replace")
# What the practice's trail says of each.
s, _, page = api("GET", "/api/v1/folders/Inbox/messages", token=t)
trails = {{}}
for m in page["messages"]:
    s, _, tr = api("GET", "/api/v1/folders/Inbox/messages/%d/audit" % m["uid"], token=t)
    trails[m["subject"]] = [[e["kind"], e.get("actor")] for e in tr["events"]]
    trails[m["subject"] + " seen"] = m["seen"]
out["trails"] = trails
print(json.dumps(out))
"#
    ));
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    assert!(s("openssl").contains("a OK [CAPABILITY"), "{v}");
    assert!(s("openssl").contains("b OK [READ-WRITE]"), "{v}");
    assert!(s("openssl").contains("c OK LOGOUT"), "{v}");
    assert_eq!(v["anna_uids"].as_array().map(Vec::len), Some(1), "{v}");
    assert!(v["anna_body"].as_bool().unwrap());
    let flags = v["anna_flags"].to_string();
    assert!(
        flags.contains("\\\\Seen") && flags.contains("$MDNSent"),
        "{flags}"
    );
    assert_eq!(v["status"]["MESSAGES"], 2);
    assert_eq!(v["status"]["UNSEEN"], 1);
    assert!(
        s("snail").contains("Thank you for seeing this patient"),
        "{v}"
    );
    let trails = &v["trails"];
    let anna_letter = trails["[CITIZEN, John (M) DOB:01/02/1960] Referral QZANNA"].to_string();
    assert!(
        anna_letter.contains(&format!("[\"read\",\"{anna}\"]")),
        "{anna_letter}"
    );
    let snail_letter = trails["[CITIZEN, Mary (F) DOB:03/04/1970] Referral QZSNAIL"].to_string();
    assert!(
        snail_letter.contains("[\"read\",\"reception@northside.example\"]"),
        "{snail_letter} / {}",
        s("snail_err")
    );
    assert_eq!(
        trails["[CITIZEN, Mary (F) DOB:03/04/1970] Referral QZSNAIL seen"],
        true
    );
}

/// Logging out locks the mailbox once no session holds it (the
/// administrator's health page counts unlocked mailboxes); pipelined
/// commands are answered in order; many sessions on one mailbox at once
/// stay consistent; a large literal is taken and one past the limit is
/// refused before it is sent; a letter opened in the web app is seen as
/// read by a mail program waiting in IDLE.
#[test]
fn sessions_lock_pipeline_and_share_one_mailbox() {
    let p = TwoPractices::start(|d| {
        create_operator(d, "ops", "Olive Operator", "operator passphrase 1");
    });
    let v = p.api_run(
        r#"
import imaplib, socket, threading, time, re, http.cookiejar
PW = os.environ["PW"]
USER = "reception@northside.example"
send_letter("[CITIZEN, John (M) DOB:01/02/1960] Referral QZLOCK1", "QZLOCK1")
send_letter("[CITIZEN, Mary (F) DOB:03/04/1970] Referral QZLOCK2", "QZLOCK2")
jar = http.cookiejar.CookieJar()
op = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), urllib.request.HTTPCookieProcessor(jar))
page = op.open(base + "/admin/login").read().decode()
csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
op.open(base + "/admin/login", urllib.parse.urlencode({"csrf": csrf, "login": "ops", "password": "operator passphrase 1"}).encode())
def unlocked():
    page = op.open(base + "/admin").read().decode()
    return int(re.search(r"Mailboxes unlocked now</dt><dd>(\d+)", page).group(1))
def until(n):
    for _ in range(50):
        if unlocked() == n:
            return n
        time.sleep(0.1)
    return unlocked()
def session():
    m = imaplib.IMAP4_SSL("localhost", int(os.environ["IMAPS"]), ssl_context=ctx)
    m.login(USER, PW)
    return m
out = {"before": unlocked()}
a = session()
a.select("INBOX")
b = session()
out["two_sessions"] = unlocked()
a.logout()
out["one_left"] = until(1)
# A program that goes away without LOGOUT locks it too.
b.shutdown()
out["none_left"] = until(0)

# Pipelining: five commands in one write, answered in order.
raw = ctx.wrap_socket(socket.create_connection(("localhost", int(os.environ["IMAPS"])), timeout=20), server_hostname="localhost")
f = raw.makefile("rb")
f.readline()
raw.sendall(('a LOGIN %s "%s"\r\nb NOOP\r\nc SELECT INBOX\r\nd UID FETCH 1:* (FLAGS)\r\ne LOGOUT\r\n' % (USER, PW)).encode())
tags = []
while True:
    l = f.readline().decode()
    if not l:
        break
    if l[:2] in ("a ", "b ", "c ", "d ", "e "):
        tags.append(l[:4].strip())
out["pipelined"] = tags
raw.close()

# Twelve sessions on one mailbox at once, each flagging and unflagging.
errors = []
def worker(i):
    try:
        m = session()
        m.select("INBOX")
        for _ in range(5):
            assert m.store("1", "+FLAGS", "(\\Flagged)")[0] == "OK"
            assert m.fetch("1:*", "(FLAGS)")[0] == "OK"
            assert m.store("2", "-FLAGS", "(\\Flagged)")[0] == "OK"
        m.logout()
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
for t in threads: t.start()
for t in threads: t.join()
out["concurrent_errors"] = errors
c = session()
c.select("INBOX")
out["final_flags"] = [x.decode() for x in c.fetch("1:2", "(FLAGS)")[1]]

# A 20 MiB message as a non-waiting literal; one past the limit asked
# for as a waiting literal is refused before it is sent.
big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (20 * 1024 * 1024 // 1000)
typ, data = c.append("Drafts", None, None, big)
out["big_append"] = typ
c.select("Drafts")
out["big_size"] = int(re.search(rb"RFC822.SIZE (\d+)", c.fetch("1", "(RFC822.SIZE)")[1][0]).group(1))
out["big_len"] = len(big)
tag = c._new_tag()
c.send(tag + b" APPEND Drafts {600000000}\r\n")
out["too_big"] = c.readline().decode().strip()
c.select("INBOX")

# IDLE hears of a letter the web app opened (\Seen, both ways).
t = login(USER, PW)
s, _, page = api("GET", "/api/v1/folders/Inbox/messages", token=t)
uid = [m["uid"] for m in page["messages"] if "QZLOCK2" in m["subject"]][0]
idle = c._new_tag()
c.send(idle + b" IDLE\r\n")
out["idle"] = c.readline().decode().strip()
api("GET", "/api/v1/folders/Inbox/messages/%d" % uid, token=t)
out["idle_news"] = c.readline().decode().strip()
c.send(b"DONE\r\n")
while not c.readline().startswith(idle):
    pass
c.logout()
api("DELETE", "/api/v1/session", token=t)
out["after_all"] = until(0)
print(json.dumps(out))
"#,
    );
    assert_eq!(v["before"], 0, "{v}");
    assert_eq!(v["two_sessions"], 1, "one mailbox, unlocked once: {v}");
    assert_eq!(v["one_left"], 1, "{v}");
    assert_eq!(v["none_left"], 0, "{v}");
    assert_eq!(
        v["pipelined"],
        serde_json::json!(["a OK", "b OK", "c OK", "d OK", "e OK"]),
        "{v}"
    );
    assert_eq!(
        v["concurrent_errors"].as_array().map(Vec::len),
        Some(0),
        "{v}"
    );
    let flags = v["final_flags"].to_string();
    assert!(flags.contains("1 (FLAGS (\\\\Flagged))"), "{flags}");
    assert!(flags.contains("2 (FLAGS ())"), "{flags}");
    assert_eq!(v["big_append"], "OK");
    assert_eq!(v["big_size"], v["big_len"]);
    assert!(
        v["too_big"].as_str().unwrap().contains("NO [TOOBIG]"),
        "{v}"
    );
    assert!(v["idle"].as_str().unwrap().starts_with('+'));
    let news = v["idle_news"].as_str().unwrap();
    assert!(
        news.contains("FETCH (UID") && news.contains("\\Seen"),
        "{v}"
    );
    assert_eq!(v["after_all"], 0, "{v}");
}
