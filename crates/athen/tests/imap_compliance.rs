//! A table of IMAP conversations (RFC 3501 / RFC 9051 commands and the
//! extensions ATHEN announces), each on a fresh TLS connection to the
//! real server: the command sent, the untagged answers expected (as
//! regular expressions, in order, others allowed between) and the tagged
//! answer expected. Error paths are in the table as much as the happy
//! ones. Python's ssl socket talks to the server; Python's `re` checks.

mod common;
use common::*;
use serde_json::{Value, json};

/// Where a conversation starts: a fresh connection (`none`), logged in
/// as the practice (`auth`), or with its Inbox selected (`inbox`).
/// `{PLAIN}` in a command is the practice's AUTHENTICATE PLAIN response.
const CASES: &[(&str, &str, &[&str], &str)] = &[
    // Any state.
    (
        "none",
        "CAPABILITY",
        &[r"^\* CAPABILITY IMAP4rev1 IMAP4rev2 .*AUTH=PLAIN.* APPENDLIMIT=52428800"],
        r"^OK",
    ),
    ("none", "NOOP", &[], r"^OK"),
    (
        "none",
        "ID (\"name\" \"compliance\")",
        &[r#"^\* ID \("name" "ATHEN" "version" "[0-9.]+"\)"#],
        r"^OK",
    ),
    ("none", "ID NIL", &[r"^\* ID "], r"^OK"),
    ("none", "LOGOUT", &[r"^\* BYE "], r"^OK LOGOUT"),
    ("none", "FROB", &[], r"^BAD .*FROB"),
    ("none", "NOOP extra", &[], r"^BAD .*after the NOOP"),
    // Not authenticated.
    (
        "none",
        "LOGIN reception@northside.example wrong-password",
        &[],
        r"^NO \[AUTHENTICATIONFAILED\]",
    ),
    (
        "none",
        "LOGIN nobody@northside.example wrong-password",
        &[],
        r"^NO \[AUTHENTICATIONFAILED\]",
    ),
    (
        "none",
        "LOGIN \"reception@northside.example\"",
        &[],
        r"^BAD ",
    ),
    (
        "none",
        "AUTHENTICATE PLAIN {PLAIN}",
        &[],
        r"^OK \[CAPABILITY ",
    ),
    ("none", "AUTHENTICATE PLAIN !!notbase64", &[], r"^BAD "),
    (
        "none",
        "AUTHENTICATE PLAIN AHVzZXI=",
        &[],
        r"^BAD .*authorisation id, user name and password",
    ),
    ("none", "AUTHENTICATE CRAM-MD5", &[], r"^NO \[CANNOT\]"),
    ("none", "STARTTLS", &[], r"^BAD TLS is on already"),
    ("none", "SELECT INBOX", &[], r"^BAD Log in first"),
    ("none", "LIST \"\" *", &[], r"^BAD Log in first"),
    ("none", "ENABLE CONDSTORE", &[], r"^BAD Log in first"),
    ("none", "LOGIN a {100000}", &[], r"^NO \[TOOBIG\]"),
    // Authenticated.
    (
        "auth",
        "LOGIN reception@northside.example x",
        &[],
        r"^BAD You are logged in",
    ),
    (
        "auth",
        "LIST \"\" *",
        &[
            r#"^\* LIST \(\\HasNoChildren\) "/" "INBOX""#,
            r#"^\* LIST \(\\HasNoChildren \\Sent\) "/" "Sent""#,
            r#"^\* LIST \(\\HasNoChildren \\Drafts\) "/" "Drafts""#,
            r#"^\* LIST \(\\HasNoChildren\) "/" "Downloaded""#,
            r#"^\* LIST \(\\HasNoChildren \\Archive\) "/" "Archive""#,
            r#"^\* LIST \(\\HasNoChildren \\Trash\) "/" "Trash""#,
        ],
        r"^OK LIST",
    ),
    (
        "auth",
        "LIST \"\" \"\"",
        &[r#"^\* LIST \(\\Noselect\) "/" """#],
        r"^OK",
    ),
    ("auth", "LIST \"\" in%", &[r#"^\* LIST .* "INBOX""#], r"^OK"),
    (
        "auth",
        "LIST (SPECIAL-USE) \"\" *",
        &[r"\\Sent", r"\\Drafts", r"\\Archive", r"\\Trash"],
        r"^OK",
    ),
    (
        "auth",
        "LIST \"\" (INBOX Sent) RETURN (STATUS (MESSAGES UIDNEXT))",
        &[
            r#""INBOX""#,
            r#"^\* STATUS "INBOX" \(MESSAGES \d+ UIDNEXT \d+\)"#,
            r#""Sent""#,
            r#"^\* STATUS "Sent""#,
        ],
        r"^OK",
    ),
    (
        "auth",
        "LSUB \"\" *",
        &[r#"^\* LSUB \(\\HasNoChildren\) "/" "INBOX""#],
        r"^OK LSUB",
    ),
    (
        "auth",
        "NAMESPACE",
        &[r#"^\* NAMESPACE \(\("" "/"\)\) NIL NIL$"#],
        r"^OK",
    ),
    (
        "auth",
        "STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ RECENT)",
        &[
            r#"^\* STATUS "INBOX" \(MESSAGES 3 UIDNEXT 4 UIDVALIDITY \d+ UNSEEN 3 DELETED 0 SIZE \d+ HIGHESTMODSEQ \d+ RECENT 0\)"#,
        ],
        r"^OK",
    ),
    (
        "auth",
        "STATUS Nowhere (MESSAGES)",
        &[],
        r"^NO \[NONEXISTENT\]",
    ),
    ("auth", "STATUS INBOX (BOGUS)", &[], r"^BAD .*BOGUS"),
    ("auth", "SELECT Nowhere", &[], r"^NO \[NONEXISTENT\]"),
    (
        "auth",
        "SELECT &Jjo-",
        &[],
        r#"^NO \[NONEXISTENT\] There is no folder "☺""#,
    ),
    ("auth", "SELECT &Jjo", &[], r"^BAD .*modified UTF-7"),
    ("auth", "CREATE Private", &[], r"^NO \[CANNOT\]"),
    ("auth", "CREATE inbox", &[], r"^NO \[ALREADYEXISTS\]"),
    ("auth", "DELETE Trash", &[], r"^NO \[CANNOT\]"),
    ("auth", "RENAME Archive Old", &[], r"^NO \[CANNOT\]"),
    ("auth", "SUBSCRIBE Sent", &[], r"^OK"),
    ("auth", "UNSUBSCRIBE Nowhere", &[], r"^NO \[NONEXISTENT\]"),
    (
        "auth",
        "ENABLE CONDSTORE QRESYNC UNKNOWN",
        &[r"^\* ENABLED CONDSTORE QRESYNC$"],
        r"^OK",
    ),
    (
        "auth",
        "ENABLE IMAP4rev2 UTF8=ACCEPT",
        &[r"^\* ENABLED IMAP4REV2 UTF8=ACCEPT$"],
        r"^OK",
    ),
    (
        "auth",
        "GETQUOTAROOT INBOX",
        &[
            r#"^\* QUOTAROOT "INBOX" ""$"#,
            r#"^\* QUOTA "" \(STORAGE \d+ 10485760\)$"#,
        ],
        r"^OK",
    ),
    (
        "auth",
        "GETQUOTA \"\"",
        &[r#"^\* QUOTA "" \(STORAGE"#],
        r"^OK",
    ),
    ("auth", "GETQUOTA other", &[], r"^NO \[NONEXISTENT\]"),
    ("auth", "SETQUOTA \"\" (STORAGE 1)", &[], r"^NO \[NOPERM\]"),
    (
        "auth",
        "APPEND Drafts (\\Draft \\Seen) {24}\r\nSubject: draft\r\n\r\nbody\r\n",
        &[],
        r"^OK \[APPENDUID \d+ \d+\]",
    ),
    (
        "auth",
        "APPEND Drafts {24+}\r\nSubject: draft\r\n\r\nbody\r\n",
        &[],
        r"^OK \[APPENDUID \d+ \d+\]",
    ),
    (
        "auth",
        "APPEND Drafts \" 1-Jan-2026 10:00:00 +1100\" {24}\r\nSubject: dated\r\n\r\nbody\r\n",
        &[],
        r"^OK \[APPENDUID",
    ),
    (
        "auth",
        "APPEND Nowhere {7}\r\nSubject",
        &[],
        r"^NO \[TRYCREATE\]",
    ),
    ("auth", "APPEND Drafts {0}\r\n", &[], r"^NO .*empty"),
    (
        "auth",
        "APPEND Drafts \"1-Jan-2026\" {1}\r\nx",
        &[],
        r"^BAD .*date and time",
    ),
    ("auth", "FETCH 1 FLAGS", &[], r"^BAD Select a folder first"),
    (
        "auth",
        "EXAMINE INBOX",
        &[r"^\* OK \[PERMANENTFLAGS \(\)\]", r"^\* 3 EXISTS"],
        r"^OK \[READ-ONLY\]",
    ),
    (
        "auth",
        "SELECT INBOX (QRESYNC (1 1))",
        &[],
        r"^BAD ENABLE QRESYNC first",
    ),
    (
        "auth",
        "SELECT INBOX (CONDSTORE)",
        &[
            r"^\* FLAGS \(",
            r"^\* OK \[PERMANENTFLAGS \(.*\$MDNSent",
            r"^\* 3 EXISTS",
            r"^\* 0 RECENT",
            r"^\* OK \[UNSEEN 1\]",
            r"^\* OK \[UIDVALIDITY \d+\]",
            r"^\* OK \[UIDNEXT 4\]",
            r"^\* OK \[HIGHESTMODSEQ \d+\]",
        ],
        r"^OK \[READ-WRITE\]",
    ),
    // Selected (the Inbox holds three letters, none read).
    (
        "inbox",
        "FETCH 1:* (FLAGS)",
        &[
            r"^\* 1 FETCH \(UID 1 FLAGS \(\)|^\* 1 FETCH \(FLAGS \(\)\)",
            r"^\* 2 FETCH",
            r"^\* 3 FETCH",
        ],
        r"^OK",
    ),
    (
        "inbox",
        "FETCH 1 (UID RFC822.SIZE INTERNALDATE)",
        &[
            r#"^\* 1 FETCH \(UID 1 RFC822.SIZE \d+ INTERNALDATE "\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d \+0000"\)"#,
        ],
        r"^OK",
    ),
    ("inbox", "FETCH 4 FLAGS", &[], r"^BAD There is no message 4"),
    ("inbox", "FETCH 0 FLAGS", &[], r"^BAD "),
    (
        "inbox",
        "UID FETCH 1:* (FLAGS)",
        &[r"^\* 1 FETCH \(UID 1 FLAGS", r"^\* 3 FETCH \(UID 3 FLAGS"],
        r"^OK UID FETCH",
    ),
    ("inbox", "UID FETCH 99 (FLAGS)", &[], r"^OK UID FETCH"),
    (
        "inbox",
        "FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]",
        &[r"^\* 1 FETCH \(BODY\[HEADER.FIELDS \(SUBJECT\)\] \{\d+\}"],
        r"^OK",
    ),
    (
        "inbox",
        "FETCH 1 (BODY.PEEK[TEXT]<0.4>)",
        &[r"^\* 1 FETCH \(BODY\[TEXT\]<0> \{4\}"],
        r"^OK",
    ),
    (
        "inbox",
        "FETCH 1 (BINARY.SIZE[1] MODSEQ)",
        &[r"^\* 1 FETCH \(BINARY.SIZE\[1\] \d+ MODSEQ \(\d+\)\)"],
        r"^OK",
    ),
    (
        "inbox",
        "FETCH 1 (BODY.PEEK[5])",
        &[r"^\* 1 FETCH \(BODY\[5\] \{0\}"],
        r"^OK",
    ),
    (
        "inbox",
        "FETCH 1 ALL",
        &[r"^\* 1 FETCH \(FLAGS \(\) INTERNALDATE .* RFC822.SIZE \d+ ENVELOPE \("],
        r"^OK",
    ),
    (
        "inbox",
        "FETCH 1 FULL",
        &[r"BODY \(\x22TEXT\x22 \x22PLAIN\x22"],
        r"^OK",
    ),
    ("inbox", "FETCH 1 (BODY[HEADER.FIELDS ()])", &[], r"^BAD "),
    (
        "inbox",
        "FETCH 1 (FLAGS) (CHANGEDSINCE 1)",
        &[r"^\* 1 FETCH \(FLAGS \(\) MODSEQ \(\d+\)\)"],
        r"^OK",
    ),
    (
        "inbox",
        "FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",
        &[],
        r"^BAD .*only allowed in UID FETCH",
    ),
    (
        "inbox",
        "STORE 1 +FLAGS (\\Flagged $Forwarded $Custom)",
        &[r"^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged \$Forwarded\)\)"],
        r"^OK STORE",
    ),
    (
        "inbox",
        "STORE 1 -FLAGS.SILENT (\\Flagged)",
        &[],
        r"^OK STORE",
    ),
    (
        "inbox",
        "STORE 1:2 FLAGS \\Answered",
        &[
            r"^\* 1 FETCH \(UID 1 FLAGS \(\\Answered\)\)",
            r"^\* 2 FETCH \(UID 2 FLAGS \(\\Answered\)\)",
        ],
        r"^OK",
    ),
    (
        "inbox",
        "STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)",
        &[],
        r"^OK \[MODIFIED 1\]",
    ),
    ("inbox", "STORE 1 FROB (\\Seen)", &[], r"^BAD "),
    (
        "inbox",
        "SEARCH ALL",
        &[r"^\* SEARCH 1 2 3$"],
        r"^OK SEARCH",
    ),
    ("inbox", "SEARCH UNSEEN", &[r"^\* SEARCH 1 2 3$"], r"^OK"),
    ("inbox", "SEARCH SEEN", &[r"^\* SEARCH$"], r"^OK"),
    ("inbox", "SEARCH NOT ALL", &[r"^\* SEARCH$"], r"^OK"),
    ("inbox", "SEARCH SUBJECT QZTWO", &[r"^\* SEARCH 2$"], r"^OK"),
    (
        "inbox",
        "SEARCH FROM \"Peter Smith\" SUBJECT qzthree",
        &[r"^\* SEARCH 3$"],
        r"^OK",
    ),
    (
        "inbox",
        "SEARCH TEXT \"seeing this patient\"",
        &[r"^\* SEARCH 1 2 3$"],
        r"^OK",
    ),
    (
        "inbox",
        "SEARCH BODY nowhere-in-any-letter",
        &[r"^\* SEARCH$"],
        r"^OK",
    ),
    (
        "inbox",
        "SEARCH OR SUBJECT QZONE SUBJECT QZTHREE",
        &[r"^\* SEARCH 1 3$"],
        r"^OK",
    ),
    (
        "inbox",
        "SEARCH 2:* LARGER 10 SINCE 1-Jan-2020 SENTSINCE 1-Jan-2020",
        &[r"^\* SEARCH 2 3$"],
        r"^OK",
    ),
    (
        "inbox",
        "SEARCH BEFORE 1-Jan-2020",
        &[r"^\* SEARCH$"],
        r"^OK",
    ),
    (
        "inbox",
        "SEARCH HEADER Message-ID QZONE",
        &[r"^\* SEARCH 1$"],
        r"^OK",
    ),
    (
        "inbox",
        "UID SEARCH RETURN (MIN MAX COUNT ALL) ALL",
        &[r#"^\* ESEARCH \(TAG "T\d+"\) UID MIN 1 MAX 3 COUNT 3 ALL 1:3$"#],
        r"^OK UID SEARCH",
    ),
    (
        "inbox",
        "SEARCH RETURN () UNSEEN",
        &[r#"^\* ESEARCH \(TAG "T\d+"\) ALL 1:3$"#],
        r"^OK",
    ),
    (
        "inbox",
        "SEARCH MODSEQ 1",
        &[r"^\* SEARCH 1 2 3 \(MODSEQ \d+\)$"],
        r"^OK",
    ),
    (
        "inbox",
        "SEARCH CHARSET KOI8-R ALL",
        &[],
        r"^NO \[BADCHARSET \(US-ASCII UTF-8\)\]",
    ),
    (
        "inbox",
        "SEARCH CHARSET UTF-8 SUBJECT QZONE",
        &[r"^\* SEARCH 1$"],
        r"^OK",
    ),
    ("inbox", "SEARCH FROB", &[], r"^BAD .*FROB"),
    ("inbox", "COPY 1 Archive", &[], r"^OK \[COPYUID \d+ 1 \d+\]"),
    ("inbox", "COPY 1 Nowhere", &[], r"^NO \[TRYCREATE\]"),
    ("inbox", "UID COPY 99 Archive", &[], r"^OK COPY completed"),
    ("inbox", "UID EXPUNGE 99", &[], r"^OK EXPUNGE"),
    ("inbox", "CHECK", &[], r"^OK CHECK"),
    ("inbox", "UNSELECT", &[], r"^OK UNSELECT"),
    ("inbox", "CLOSE", &[], r"^OK CLOSE"),
    ("inbox", "IDLE", &[r"^\+ "], r"^OK IDLE terminated"),
    ("inbox", "UID FROB 1", &[], r"^BAD "),
    // QRESYNC (RFC 7162 §3.2): what changed since mod-sequence 1, and
    // nothing for a client whose UIDVALIDITY is not the folder's.
    (
        "qresync",
        "SELECT INBOX (QRESYNC ({UIDVALIDITY} 1 1:*))",
        &[
            r"^\* OK \[HIGHESTMODSEQ \d+\]",
            r"^\* 1 FETCH \(UID 1 FLAGS \(.*\) MODSEQ \(\d+\)\)",
            r"^\* 3 FETCH \(UID 3 ",
        ],
        r"^OK \[READ-WRITE\]",
    ),
    (
        "qresync",
        "SELECT INBOX (QRESYNC (1 1))",
        &[r"^\* 3 EXISTS"],
        r"^OK \[READ-WRITE\]",
    ),
    (
        "qresync-inbox",
        "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
        &[r"^\* 1 FETCH \(UID 1 FLAGS \(.*\) MODSEQ \(\d+\)\)"],
        r"^OK UID FETCH",
    ),
    ("qresync-inbox", "UID EXPUNGE 99", &[], r"^OK"),
];

#[test]
fn imap_conversations_answer_as_the_rfcs_say() {
    let p = TwoPractices::start(|_| {});
    let cases: Vec<Value> = CASES
        .iter()
        .map(|(state, cmd, untagged, tagged)| json!({"state": state, "cmd": cmd, "untagged": untagged, "tagged": tagged}))
        .collect();
    let code = format!(
        r#"
import socket, re, base64
CASES = json.loads({cases:?})
PW = os.environ["PW"]
USER = "reception@northside.example"
for tag in ["QZONE", "QZTWO", "QZTHREE"]:
    send_letter("[CITIZEN, John (M) DOB:01/02/1960] Referral " + tag, tag)
t = login(USER, PW)
settled(t)
api("DELETE", "/api/v1/session", token=t)
PLAIN = base64.b64encode(("\0" + USER + "\0" + PW).encode()).decode()

class Conn:
    def __init__(self):
        raw = socket.create_connection(("localhost", int(os.environ["IMAPS"])), timeout=20)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.f = self.s.makefile("rb")
        self.n = 0
        self.line()
    def line(self):
        l = self.f.readline()
        if not l:
            raise Exception("connection closed")
        l = l.decode("utf-8", "replace").rstrip("\r\n")
        m = re.search(r"\{{(\d+)\}}$", l)
        if m:
            # A literal: read it and the rest of the response line.
            self.f.read(int(m.group(1)))
            l = l + "<literal>" + self.f.readline().decode("utf-8", "replace").rstrip("\r\n")
        return l
    def run(self, cmd):
        self.n += 1
        tag = "T%d" % self.n
        parts = re.split(r"(\{{\d+\}}\r\n)", cmd)
        untagged = []
        out = (tag + " " + parts[0]).encode()
        i = 1
        while i < len(parts):
            self.s.sendall(out + parts[i].encode())
            cont = self.line()
            if not cont.startswith("+"):
                return untagged, cont[len(tag) + 1:] if cont.startswith(tag) else cont
            out = parts[i + 1].encode()
            i += 2
        self.s.sendall(out + b"\r\n")
        while True:
            l = self.line()
            if l.startswith(tag + " "):
                return untagged, l[len(tag) + 1:]
            untagged.append(l)
            if cmd == "IDLE" and l.startswith("+"):
                self.s.sendall(b"DONE\r\n")

failures = []
for c in CASES:
    conn = Conn()
    if c["state"] in ("auth", "inbox"):
        _, r = conn.run("LOGIN %s \"%s\"" % (USER, PW))
        assert r.startswith("OK"), r
    if c["state"].startswith("qresync"):
        _, r = conn.run("LOGIN %s \"%s\"" % (USER, PW))
        assert r.startswith("OK"), r
        conn.run("ENABLE QRESYNC")
        st, _ = conn.run("STATUS INBOX (UIDVALIDITY)")
        c["cmd"] = c["cmd"].replace("{{UIDVALIDITY}}", re.search(r"UIDVALIDITY (\d+)", st[0]).group(1))
    if c["state"] in ("inbox", "qresync-inbox"):
        _, r = conn.run("SELECT INBOX")
        assert r.startswith("OK"), r
    untagged, tagged = conn.run(c["cmd"].replace("{{PLAIN}}", PLAIN))
    pos = 0
    missing = []
    for want in c["untagged"]:
        while pos < len(untagged) and not re.search(want, untagged[pos]):
            pos += 1
        if pos == len(untagged):
            missing.append(want)
        else:
            pos += 1
    if missing or not re.search(c["tagged"], tagged):
        failures.append({{"cmd": c["cmd"], "missing": missing, "tagged": tagged, "want": c["tagged"], "got": untagged}})
    try:
        conn.s.close()
    except Exception:
        pass
print(json.dumps({{"cases": len(CASES), "failures": failures}}))
"#,
        cases = serde_json::to_string(&cases).unwrap()
    );
    let v = p.api_run(&code);
    assert_eq!(v["cases"].as_u64(), Some(CASES.len() as u64));
    assert!(
        v["failures"].as_array().unwrap().is_empty(),
        "{}",
        serde_json::to_string_pretty(&v["failures"]).unwrap()
    );
}
