//! Every route of the web app and who may use it, through the real server
//! (Python urllib): anonymous callers are sent to the right sign-in page
//! (or get 401 from the API), signed-in forms without their CSRF token do
//! nothing (403), a practice's session opens none of the administrator's
//! pages, staff logins cannot reach what only the practice's own login
//! may change, nobody reads another mailbox's letters, and an app token's
//! session opens only its doors: never a web page (whatever cookie it is
//! put in), and for a downloader's token no API route but the
//! downloader's. The table below
//! must name every route in `athen-web/src/lib.rs`: a route added without
//! saying who may use it fails this test.

mod common;
use common::*;
use serde_json::{Value, json};

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    /// Anyone (public pages and forms with their own checks).
    Public,
    /// A signed-in practice (pages: GET; forms: POST with CSRF).
    Practice,
    /// A signed-in administrator.
    Admin,
    /// The JSON API with a bearer token of a session that opens the whole
    /// API (a password, or an app token made for the API).
    Api,
    /// The JSON API routes the downloader uses: also open to a session of
    /// an app token made for the downloader only.
    Downloader,
}

/// (method, route pattern, who).
const ROUTES: &[(&str, &str, Who)] = &[
    ("GET", "/", Who::Public),
    ("GET", "/healthz", Who::Public),
    ("GET", "/style.css", Who::Public),
    ("GET", "/compose.js", Who::Public),
    ("GET", "/setup", Who::Public),
    ("GET", "/directory", Who::Public),
    ("GET", "/directory/suggest", Who::Public),
    ("GET", "/register", Who::Public),
    ("GET", "/register/{kind}", Who::Public),
    ("GET", "/confirm", Who::Public),
    ("GET", "/login", Who::Public),
    ("POST", "/login/code", Who::Public),
    ("GET", "/admin/login", Who::Public),
    ("POST", "/admin/login/code", Who::Public),
    ("POST", "/api/v1/session", Who::Public),
    ("GET", "/settings", Who::Practice),
    ("POST", "/settings", Who::Practice),
    ("GET", "/settings/security", Who::Practice),
    ("POST", "/settings/password", Who::Practice),
    ("POST", "/settings/tokens", Who::Practice),
    ("POST", "/settings/tokens/{id}/revoke", Who::Practice),
    ("POST", "/settings/recovery-code", Who::Practice),
    ("POST", "/settings/sessions/{id}/end", Who::Practice),
    ("GET", "/settings/entry", Who::Practice),
    ("POST", "/settings/entry", Who::Practice),
    ("GET", "/settings/staff", Who::Practice),
    ("POST", "/settings/staff", Who::Practice),
    ("POST", "/settings/staff/{id}/remove", Who::Practice),
    ("GET", "/settings/staff/{id}/login", Who::Practice),
    ("POST", "/settings/staff/{id}/login", Who::Practice),
    ("POST", "/settings/staff/logins/{id}/off", Who::Practice),
    ("GET", "/settings/two-step", Who::Practice),
    ("POST", "/settings/two-step/start", Who::Practice),
    ("POST", "/settings/two-step/on", Who::Practice),
    ("POST", "/settings/two-step/off", Who::Practice),
    ("GET", "/compose", Who::Practice),
    ("POST", "/compose", Who::Practice),
    ("GET", "/search", Who::Practice),
    ("POST", "/logout", Who::Practice),
    ("GET", "/mail/{folder}", Who::Practice),
    ("GET", "/mail/{folder}/{uid}", Who::Practice),
    ("GET", "/mail/{folder}/{uid}/attachments/{n}", Who::Practice),
    ("GET", "/mail/{folder}/{uid}/audit", Who::Practice),
    ("POST", "/mail/{folder}/{uid}/move", Who::Practice),
    ("POST", "/mail/{folder}/{uid}/receipt", Who::Practice),
    ("GET", "/admin", Who::Admin),
    ("POST", "/admin/logout", Who::Admin),
    ("GET", "/admin/accounts", Who::Admin),
    ("POST", "/admin/accounts/{id}/{action}", Who::Admin),
    ("GET", "/admin/letters", Who::Admin),
    ("POST", "/admin/letters/print", Who::Admin),
    ("POST", "/admin/letters/posted", Who::Admin),
    ("GET", "/admin/queue", Who::Admin),
    ("GET", "/admin/log", Who::Admin),
    ("GET", "/admin/two-step", Who::Admin),
    ("POST", "/admin/two-step/start", Who::Admin),
    ("POST", "/admin/two-step/on", Who::Admin),
    ("POST", "/admin/two-step/off", Who::Admin),
    ("GET", "/admin/catch-all", Who::Admin),
    ("GET", "/admin/catch-all/{name}", Who::Admin),
    ("GET", "/api/v1/mailbox", Who::Downloader),
    ("GET", "/api/v1/changes", Who::Api),
    ("GET", "/api/v1/folders/{folder}/messages", Who::Api),
    ("GET", "/api/v1/folders/{folder}/messages/{uid}", Who::Api),
    (
        "GET",
        "/api/v1/folders/{folder}/messages/{uid}/audit",
        Who::Api,
    ),
    ("GET", "/api/v1/downloads", Who::Downloader),
    ("GET", "/api/v1/downloads/{id}", Who::Downloader),
    ("POST", "/api/v1/downloads/{id}/report", Who::Downloader),
    ("POST", "/api/v1/outbox", Who::Downloader),
];

/// The route patterns in the router's source.
fn routes_in_router() -> Vec<String> {
    let src = include_str!("../../athen-web/src/lib.rs");
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let trimmed = rest.trim_start();
        if let Some(q) = trimmed.strip_prefix('"')
            && let Some(end) = q.find('"')
        {
            out.push(q[..end].to_string());
        }
    }
    out
}

fn concrete(pattern: &str) -> String {
    pattern
        .replace("{folder}", "Inbox")
        .replace("{uid}", "1")
        .replace("{n}", "0")
        .replace("{id}", "1")
        .replace("{action}", "confirm")
        .replace("{name}", "x.eml")
        .replace("{kind}", "organisation")
}

#[test]
fn every_route_says_who_may_use_it() {
    let listed: Vec<&str> = ROUTES.iter().map(|(_, p, _)| *p).collect();
    for r in routes_in_router() {
        assert!(
            listed.contains(&r.as_str()),
            "route {r} is not in this test's table: say who may use it"
        );
    }
    let p = TwoPractices::start(|data| {
        add_staff_with_login(
            data,
            "reception@northside.example",
            JANE_PW,
            ("Anna", "Jones"),
            "anna's own password",
        );
    });
    // Northside has a letter; Jane has none.
    p.jane_sends("c.sendmail('jane@athen.localhost', ['reception@northside.example'], b'Subject: x\\r\\n\\r\\nhello\\r\\n')");
    let calls: Vec<Value> = ROUTES
        .iter()
        .filter(|(_, _, who)| *who != Who::Public)
        .map(|(m, pat, who)| json!([m, concrete(pat), format!("{who:?}")]))
        .collect();
    let v = browse(
        p.server.port,
        &p.ca,
        &format!(
            r#"
calls = {calls}
def call(b, method, path, data=None):
    if method == "GET":
        s, p, _ = b.open(path)
        return [s, p]
    body = urllib.parse.urlencode(data or {{}}).encode()
    headers = {{"Content-Type": "application/x-www-form-urlencoded"}}
    if path == "/compose":
        body = b"--x--\r\n"
        headers = {{"Content-Type": "multipart/form-data; boundary=x"}}
    req = urllib.request.Request(base + path, data=body, headers=headers, method="POST")
    try:
        r = b.o.open(req, timeout=30)
        return [r.status, urllib.parse.urlparse(r.geturl()).path]
    except urllib.error.HTTPError as e:
        return [e.code, urllib.parse.urlparse(e.geturl()).path]
r = {{"anonymous": [], "no csrf": [], "practice at admin": [], "api": []}}
anon = Browser()
for method, path, who in calls:
    got = call(anon, method, path)
    r["anonymous"].append([method, path, who, got])
j = Browser()
j.login("jane@athen.localhost", {JANE_PW:?})
for method, path, who in calls:
    if who == "Practice" and method == "POST":
        r["no csrf"].append([path, call(j, method, path, {{"csrf": "forged"}})[0]])
    if who == "Admin":
        r["practice at admin"].append([path, call(j, method, path)[1]])
# Jane reads only her own mailbox: Northside's letter 1 is not hers.
r["not hers"] = [j.get("/mail/Inbox/1")[0], j.get("/mail/Inbox/1/audit")[0], j.get("/mail/Inbox/1/attachments/0")[0],
                 j.get("/compose?reply=Inbox/1")[0], j.get("/compose?forward=Inbox/1")[0], j.get("/mail/Nonsense")[0]]
# App tokens (issue 20): one for the downloader only, one for the whole API.
s, _, page = j.get("/settings/security")
tokens = {{}}
for label, door in [("Downloader", "door_downloader"), ("Script", "door_api")]:
    s, _, page = j.post("/settings/tokens", {{"csrf": csrf(page), "label": label, "current_again": {JANE_PW:?}, door: "on"}})
    tokens[label] = re.search(r'<p class="code">([^<]+)</p>', page).group(1)
def session_of(token):
    req = urllib.request.Request(base + "/api/v1/session", data=json.dumps({{"login": "jane@athen.localhost", "password": token}}).encode(),
                                 headers={{"Content-Type": "application/json"}})
    return json.loads(urllib.request.urlopen(req, context=ctx, timeout=30).read())["token"]
def with_session(method, path, session, as_cookie):
    headers = {{"Cookie": "__Host-athen_session=" + session}} if as_cookie else {{"Authorization": "Bearer " + session}}
    data = None
    if method == "POST" and path == "/compose":
        data = b"--x--\r\n"
        headers["Content-Type"] = "multipart/form-data; boundary=x"
    elif method == "POST":
        data = urllib.parse.urlencode({{"csrf": "forged"}}).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        resp = urllib.request.urlopen(req, context=ctx, timeout=30)
        return [resp.status, urllib.parse.urlparse(resp.geturl()).path]
    except urllib.error.HTTPError as e:
        return [e.code, urllib.parse.urlparse(e.geturl()).path]
r["tokens"] = []
for label in ["Downloader", "Script"]:
    sess = session_of(tokens[label])
    for method, path, who in calls:
        if who == "Practice":
            r["tokens"].append([label, method, path, who, with_session(method, path, sess, True)])
        elif who in ("Api", "Downloader"):
            r["tokens"].append([label, method, path, who, with_session(method, path, sess, False)])
# A staff login reads the practice's mail but not what only the practice may change.
a = Browser()
a.login("reception+anna.jones@northside.example", "anna's own password")
t = csrf(a.get("/mail/Inbox")[2])
r["staff"] = {{"letter": a.get("/mail/Inbox/1")[0], "entry": a.get("/settings/entry")[0], "staff": a.get("/settings/staff")[0],
               "save settings": call(a, "POST", "/settings", {{"csrf": t, "receipts": "never"}})[0],
               "save entry": call(a, "POST", "/settings/entry", {{"csrf": t}})[0]}}
print(json.dumps(r))
"#,
            calls = serde_json::to_string(&calls).unwrap()
        ),
    );
    let count = |w: Who, m: &str| {
        ROUTES
            .iter()
            .filter(|(rm, _, who)| *who == w && (m.is_empty() || *rm == m))
            .count()
    };
    assert_eq!(
        v["anonymous"].as_array().unwrap().len(),
        ROUTES.len() - count(Who::Public, "")
    );
    assert_eq!(
        v["no csrf"].as_array().unwrap().len(),
        count(Who::Practice, "POST")
    );
    assert_eq!(
        v["practice at admin"].as_array().unwrap().len(),
        count(Who::Admin, "")
    );
    for row in v["anonymous"].as_array().unwrap() {
        let (method, path, who, got) = (&row[0], &row[1], row[2].as_str().unwrap(), &row[3]);
        let expected = match who {
            "Practice" => json!([200, "/login"]),
            "Admin" => json!([200, "/admin/login"]),
            _ => json!([401, path]),
        };
        assert_eq!(got, &expected, "anonymous {method} {path}");
    }
    // Every web page × both tokens' sessions, every API route × both.
    assert_eq!(
        v["tokens"].as_array().unwrap().len(),
        2 * (count(Who::Practice, "") + count(Who::Api, "") + count(Who::Downloader, ""))
    );
    for row in v["tokens"].as_array().unwrap() {
        let (token, method, path, who, got) = (
            row[0].as_str().unwrap(),
            &row[1],
            &row[2],
            row[3].as_str().unwrap(),
            &row[4],
        );
        match (token, who) {
            // Not a web session, whatever cookie it is in.
            (_, "Practice") => {
                assert_eq!(
                    got,
                    &json!([200, "/login"]),
                    "{token} token at {method} {path}"
                )
            }
            ("Downloader", "Api") => {
                assert_eq!(got[0], 403, "{token} token at {method} {path}: {got}")
            }
            // Let in: the route answers for itself (404 for a made-up id).
            _ => assert!(
                ![401, 403].contains(&got[0].as_u64().unwrap()),
                "{token} token at {method} {path}: {got}"
            ),
        }
    }
    for row in v["no csrf"].as_array().unwrap() {
        assert_eq!(row[1], 403, "{} without its CSRF token", row[0]);
    }
    for row in v["practice at admin"].as_array().unwrap() {
        assert_eq!(row[1], "/admin/login", "a practice at {}", row[0]);
    }
    assert_eq!(v["not hers"], json!([404, 404, 404, 404, 404, 404]), "{v}");
    assert_eq!(
        v["staff"],
        json!({"letter": 200, "entry": 403, "staff": 403, "save settings": 403, "save entry": 403}),
        "{v}"
    );
}
