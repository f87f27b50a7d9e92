//! The JSON API through the real server with Python's urllib (and smtplib
//! for mail): log-in unlocks a mailbox and unspools the newest page first,
//! new mail reaches an open session without another log-in, every route
//! checks who asks, and between two ATHEN servers a letter is followed in
//! its sender's trail from submitted to read.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

fn api_script(port: u16, ca: &Path, code: &str) -> Value {
    let out = python(port, ca, &format!("{API_CLIENT}\n{code}"));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn new_mail_reaches_an_open_session_without_logging_in_again() {
    let p = TwoPractices::start(|_| {});
    let submission = p.server.port_of("Submission port:");
    let v = api_script(
        p.server.port,
        &p.ca,
        &format!(
            r#"
t = login("reception@northside.example", {JANE_PW:?})
s, _, inbox = api("GET", "/api/v1/folders/Inbox/messages", token=t)
assert s == 200 and inbox["messages"] == [], inbox
g = inbox["unspool"]["generation"]
answer = {{}}
def wait():
    answer["changes"] = api("GET", "/api/v1/changes?since=%d&wait=30" % g, token=t)[2]
    answer["at"] = time.monotonic()
w = threading.Thread(target=wait)
w.start()
time.sleep(0.5)
c = smtplib.SMTP("localhost", {submission}, timeout=30)
c.starttls(context=ctx)
c.login("jane@athen.localhost", {JANE_PW:?})
c.sendmail("jane@athen.localhost", ["reception@northside.example"],
    "From: jane@athen.localhost\r\nTo: reception@northside.example\r\nSubject: Referral QZLIVE\r\n\r\nDear colleague\r\n")
sent = time.monotonic()
c.quit()
w.join()
s, _, inbox = api("GET", "/api/v1/folders/Inbox/messages", token=t)
print(json.dumps({{"changes": answer["changes"], "after": answer["at"] - sent, "inbox": inbox}}))
"#
        ),
    );
    assert!(
        v["changes"]["generation"].as_u64().unwrap() > 0,
        "the wait ended with a change: {v}"
    );
    // Measured in the benchmark (docs: issue 5 note); here only that it
    // came well before the 30 s wait ran out.
    assert!(v["after"].as_f64().unwrap() < 10.0, "{v}");
    let subjects: Vec<&str> = v["inbox"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["Referral QZLIVE"], "{v}");
    assert_eq!(v["inbox"]["unspool"]["waiting"], 0);
}

#[test]
fn log_in_shows_the_newest_page_first_while_the_rest_unspools() {
    let p = TwoPractices::start(|_| {});
    let mx = p.server.port_of("SMTP port:");
    let v = api_script(
        p.server.port,
        &p.ca,
        &format!(
            r#"
c = smtplib.SMTP("localhost", {mx}, timeout=30)
c.starttls(context=ctx)
for i in range(300):
    c.sendmail("gp%d@remote.example" % i, ["reception@northside.example"],
        "From: gp%d@remote.example\r\nTo: reception@northside.example\r\nSubject: Letter %03d\r\n\r\nText\r\n" % (i, i))
c.quit()
t = login("reception@northside.example", {JANE_PW:?})
s, _, first = api("GET", "/api/v1/folders/Inbox/messages?limit=50", token=t)
assert s == 200, first
seen = [m["subject"] for m in first["messages"]]
deadline = time.time() + 60
while True:
    s, _, m = api("GET", "/api/v1/mailbox", token=t)
    if m["unspool"]["waiting"] == 0 and m["folders"][0]["messages"] == 300:
        break
    assert time.time() < deadline, m
    time.sleep(0.2)
every, before = [], None
while True:
    q = "/api/v1/folders/Inbox/messages?limit=70" + ("&before=" + before if before else "")
    s, _, page = api("GET", q, token=t)
    every += [m["subject"] for m in page["messages"]]
    before = page["next"]
    if not before:
        break
print(json.dumps({{"first": seen, "every": every, "folders": m["folders"]}}))
"#
        ),
    );
    let first: Vec<&str> = v["first"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let newest: Vec<String> = (250..300).rev().map(|i| format!("Letter {i:03}")).collect();
    assert_eq!(first, newest, "the first page is the newest 50 letters");
    let every: Vec<&str> = v["every"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let all: Vec<String> = (0..300).rev().map(|i| format!("Letter {i:03}")).collect();
    assert_eq!(every, all, "every letter once, newest first, over pages");
}

#[test]
fn every_route_checks_who_asks_and_says_what_is_wrong() {
    let p = TwoPractices::start(|_| {});
    let v = api_script(
        p.server.port,
        &p.ca,
        &format!(
            r#"
r = {{}}
for path in ["/api/v1/mailbox", "/api/v1/changes", "/api/v1/folders/Inbox/messages",
             "/api/v1/folders/Inbox/messages/1", "/api/v1/folders/Inbox/messages/1/audit"]:
    s, h, v = api("GET", path)
    r["anonymous " + path] = [s, h.get("www-authenticate"), "error" in v]
    s, h, v = api("GET", path, token="not-a-session")
    r["bad token " + path] = s
s, _, wrong = api("POST", "/api/v1/session", {{"login": "reception@northside.example", "password": "wrong"}})
s2, _, unknown = api("POST", "/api/v1/session", {{"login": "nobody@northside.example", "password": "wrong"}})
r["wrong password"] = [s, wrong]
r["unknown login"] = [s2, unknown]
r["not json"] = api("POST", "/api/v1/session", raw=b"login=x")[0]
r["too big"] = api("POST", "/api/v1/session", raw=b"x" * 70000)[0]
t = login("reception@northside.example", {JANE_PW:?})
r["limit 0"] = api("GET", "/api/v1/folders/Inbox/messages?limit=0", token=t)[0:3:2]
r["bad cursor"] = api("GET", "/api/v1/folders/Inbox/messages?before=yesterday", token=t)[0]
r["no folder"] = api("GET", "/api/v1/folders/Nowhere/messages", token=t)[0:3:2]
r["no message"] = api("GET", "/api/v1/folders/Inbox/messages/99", token=t)[0:3:2]
# Jane's session never opens Northside's mail: a UID is only looked up
# in the caller's own mailbox.
j = login("jane@athen.localhost", {JANE_PW:?})
r["jane"] = api("GET", "/api/v1/mailbox", token=j)[2]["address"]
r["logout"] = api("DELETE", "/api/v1/session", token=t)[0]
r["after logout"] = api("GET", "/api/v1/mailbox", token=t)[0]
statuses = []
for i in range(12):
    s, h, v = api("POST", "/api/v1/session", {{"login": "jane@athen.localhost", "password": "guess %d" % i}})
    statuses.append(s)
r["guessing"] = statuses
r["retry after"] = h.get("retry-after")
print(json.dumps(r))
"#
        ),
    );
    for path in [
        "/api/v1/mailbox",
        "/api/v1/changes",
        "/api/v1/folders/Inbox/messages",
        "/api/v1/folders/Inbox/messages/1",
        "/api/v1/folders/Inbox/messages/1/audit",
    ] {
        assert_eq!(
            v[format!("anonymous {path}")],
            serde_json::json!([401, "Bearer", true]),
            "{path}"
        );
        assert_eq!(v[format!("bad token {path}")], 401, "{path}");
    }
    // The same answer whether or not the login exists.
    assert_eq!(v["wrong password"][0], 401);
    assert_eq!(v["wrong password"][1], v["unknown login"][1]);
    assert_eq!(v["not json"], 400);
    assert_eq!(v["too big"], 413);
    assert_eq!(v["limit 0"][0], 400);
    assert!(v["limit 0"][1]["error"].as_str().unwrap().contains("limit"));
    assert_eq!(v["bad cursor"], 400);
    assert_eq!(v["no folder"][0], 404);
    assert_eq!(v["no message"][0], 404);
    assert_eq!(v["jane"], "jane@athen.localhost");
    assert_eq!(v["logout"], 204);
    assert_eq!(v["after logout"], 401);
    // Ten failures per login, then "wait" with Retry-After, even for the
    // right password.
    let guessing: Vec<u64> = v["guessing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert_eq!(&guessing[..10], &[401; 10]);
    assert!(guessing[10..].iter().all(|s| *s == 429), "{guessing:?}");
    assert!(v["retry after"].as_str().unwrap().parse::<u64>().unwrap() > 0);
}

#[test]
fn between_two_athen_servers_a_letter_is_followed_until_it_is_read() {
    const PW: &str = JANE_PW;
    let dir = tempfile::tempdir().unwrap();
    let (data_a, data_b) = (dir.path().join("a"), dir.path().join("b"));
    create_individual(&data_a, "Dr Alice", "alice@a.test", PW);
    create_individual(&data_b, "Dr Bob", "bob@b.test", PW);
    confirm(&data_a, "alice@a.test");
    confirm(&data_b, "bob@b.test");
    let (mx_a, mx_b) = (free_port(), free_port());
    // Each server trusts the other's SPF (so B's "delivered" report may go
    // back to Alice) and routes the other's domain to its MX port.
    let dns_a = Dns::start(&serde_json::json!({"b.test": "v=spf1 ip4:127.0.0.1 -all"}));
    let dns_b = Dns::start(&serde_json::json!({"a.test": "v=spf1 ip4:127.0.0.1 -all"}));
    let with_mx = |cfg: std::path::PathBuf, port: u16| {
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(&cfg, text.replace("smtp = 0", &format!("smtp = {port}"))).unwrap();
        cfg
    };
    let cfg_a = with_mx(
        server_config(
            dir.path(),
            &data_a,
            "a.test",
            &dns_a,
            &format!("\"b.test\" = \"127.0.0.1:{mx_b}\""),
            "",
        ),
        mx_a,
    );
    let cfg_b = with_mx(
        server_config(
            dir.path(),
            &data_b,
            "b.test",
            &dns_b,
            &format!("\"a.test\" = \"127.0.0.1:{mx_a}\""),
            "",
        ),
        mx_b,
    );
    let a = Server::start_with(&["serve", "--config", cfg_a.to_str().unwrap()]);
    let b = Server::start_with(&["serve", "--config", cfg_b.to_str().unwrap()]);
    let (ca_a, ca_b) = (
        data_a.join("tls/self-signed-cert.pem"),
        data_b.join("tls/self-signed-cert.pem"),
    );
    // Alice is logged in (over the API) while it all happens, and sends a
    // letter that asks for a delivery report and a read receipt.
    let sent = api_script(
        a.port,
        &ca_a,
        &format!(
            r#"
t = login("alice@a.test", {PW:?})
c = smtplib.SMTP("localhost", {sub}, timeout=30)
c.starttls(context=ctx)
c.login("alice@a.test", {PW:?})
c.sendmail("alice@a.test", ["bob@b.test"],
    "From: Dr Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: Discharge summary QZREAD\r\n"
    "Message-ID: <qzread@a.test>\r\nDisposition-Notification-To: <alice@a.test>\r\n\r\nDear Bob\r\n",
    rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
c.quit()
print(json.dumps({{"token": t}}))
"#,
            sub = a.port_of("Submission port:")
        ),
    );
    let alice = sent["token"].as_str().unwrap().to_string();
    // Bob logs in on his own server and opens the letter.
    let read = api_script(
        b.port,
        &ca_b,
        &format!(
            r#"
t = login("bob@b.test", {PW:?})
deadline = time.time() + 60
while True:
    s, _, inbox = api("GET", "/api/v1/folders/Inbox/messages", token=t)
    if inbox["messages"]:
        break
    assert time.time() < deadline, inbox
    api("GET", "/api/v1/changes?since=%d&wait=5" % inbox["unspool"]["generation"], token=t)
uid = inbox["messages"][0]["uid"]
s, h, body = api("GET", "/api/v1/folders/Inbox/messages/%d" % uid, token=t)
again = api("GET", "/api/v1/folders/Inbox/messages/%d" % uid, token=t)[1]
s2, _, trail = api("GET", "/api/v1/folders/Inbox/messages/%d/audit" % uid, token=t)
print(json.dumps({{"status": s, "receipt": h.get("athen-read-receipt"), "again": again.get("athen-read-receipt"),
    "subject": inbox["messages"][0]["subject"], "body": body.decode(), "trail": trail}}))
"#
        ),
    );
    assert_eq!(read["status"], 200);
    assert_eq!(read["subject"], "Discharge summary QZREAD");
    assert!(read["body"].as_str().unwrap().contains("Dear Bob"));
    assert_eq!(read["receipt"], "sent", "{read}");
    assert_eq!(read["again"], "already-sent", "one receipt per letter");
    let bob_kinds: Vec<&str> = read["trail"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(bob_kinds, ["received", "read", "receipt_sent"], "{read}");
    // Alice, still logged in, sees the letter's timeline grow to "read"
    // without logging in again.
    let timeline = api_script(
        a.port,
        &ca_a,
        &format!(
            r#"
t = {alice:?}
deadline = time.time() + 60
g = 0
while True:
    s, _, sent = api("GET", "/api/v1/folders/Sent/messages", token=t)
    assert s == 200, sent
    uid = sent["messages"][0]["uid"]
    s, _, trail = api("GET", "/api/v1/folders/Sent/messages/%d/audit" % uid, token=t)
    kinds = [e["kind"] for e in trail["events"]]
    if "read" in kinds:
        break
    assert time.time() < deadline, trail
    g = api("GET", "/api/v1/changes?since=%d&wait=5" % g, token=t)[2]["generation"]
s, _, inbox = api("GET", "/api/v1/folders/Inbox/messages", token=t)
print(json.dumps({{"trail": trail, "inbox": inbox["messages"]}}))
"#
        ),
    );
    let events = timeline["trail"]["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for (i, kind) in ["submitted", "relayed", "delivered", "read"]
        .iter()
        .enumerate()
    {
        let at = kinds.iter().position(|k| k == kind);
        assert!(at.is_some(), "{kind} missing: {kinds:?}");
        if i > 0 {
            assert!(at.unwrap() > kinds.iter().position(|k| *k == "submitted").unwrap());
        }
    }
    let submitted = events.iter().find(|e| e["kind"] == "submitted").unwrap();
    assert_eq!(
        submitted["actor"], "alice@a.test",
        "who sent it: {submitted}"
    );
    let relayed = events.iter().find(|e| e["kind"] == "relayed").unwrap();
    assert!(relayed["remote_host"].as_str().is_some(), "{relayed}");
    let read_by = events.iter().find(|e| e["kind"] == "read").unwrap();
    assert_eq!(read_by["correspondent"], "bob@b.test", "{read_by}");
    // The reports went into the trail, not the Inbox.
    assert_eq!(timeline["inbox"], serde_json::json!([]), "{timeline}");
    assert!(a.stop().success());
    assert!(b.stop().success());
}
