//! Settings → Sign-in and app tokens through the real server (urllib as
//! the browser): an app token made in the browser signs in to the API and
//! to SMTP submission (smtplib) and stops working when revoked; only its
//! own login may revoke it; the current password is asked again for every
//! new credential; the password changes (old one refused, new one works,
//! mail untouched); a new recovery code is shown once.

mod common;
use common::*;
use serde_json::json;

/// Python: `api_login(who, secret, code=None)` gives the API's status,
/// `smtp_login(who, secret)` SMTP AUTH's reply code on port `sub`; the
/// `_says` forms give [code, message].
const LOGINS: &str = r#"
import smtplib
def api_login_says(who, secret, code=None):
    body = {"login": who, "password": secret}
    if code is not None:
        body["code"] = code
    req = urllib.request.Request(base + "/api/v1/session", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        return [urllib.request.urlopen(req, context=ctx, timeout=30).status, ""]
    except urllib.error.HTTPError as e:
        return [e.code, json.loads(e.read())["error"]]
def api_login(who, secret, code=None):
    return api_login_says(who, secret, code)[0]
def smtp_login_says(who, secret):
    c = smtplib.SMTP("localhost", sub, timeout=30)
    c.starttls(context=ctx)
    try:
        c.login(who, secret)
        return [235, ""]
    except smtplib.SMTPAuthenticationError as e:
        return [e.smtp_code, e.smtp_error.decode()]
    finally:
        c.quit()
def smtp_login(who, secret):
    return smtp_login_says(who, secret)[0]
def api_session(who, secret):
    req = urllib.request.Request(base + "/api/v1/session", data=json.dumps({"login": who, "password": secret}).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, context=ctx, timeout=30).read())["token"]
def api_get(session, path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + session})
    try:
        return urllib.request.urlopen(req, context=ctx, timeout=30).status
    except urllib.error.HTTPError as e:
        return e.code
"#;

#[test]
fn a_practice_makes_and_revokes_app_tokens_and_changes_its_password() {
    let p = TwoPractices::start(|_| {});
    let sub = p.server.port_of("Submission port:");
    let v = browse(
        p.server.port,
        &p.ca,
        &format!(
            r#"
r = {{}}
{LOGINS}
sub = {sub}
j = Browser()
j.login("jane@athen.localhost", {JANE_PW:?})
s, path, page = j.get("/settings")
r["linked"] = "/settings/security" in page
s, path, page = j.get("/settings/security")
t = csrf(page)
r["page"] = [s, "No app tokens yet." in page]
s, path, page = j.post("/settings/tokens", {{"csrf": t, "label": "Downloader", "current_again": "wrong"}})
r["wrong password"] = [s, "Current password is not right" in page, 'class="code"' in page]
r["no csrf"] = j.post("/settings/tokens", {{"label": "Downloader", "current_again": {JANE_PW:?}}})[0]
r["no doors"] = j.post("/settings/tokens", {{"csrf": t, "label": "Downloader", "current_again": {JANE_PW:?}}})[0]
s, path, page = j.post("/settings/tokens", {{"csrf": t, "label": "Downloader at <front> desk", "current_again": {JANE_PW:?}, "door_downloader": "on", "door_smtp": "on"}})
token = re.search(r'<p class="code">([^<]+)</p>', page).group(1)
r["made"] = [s, "Downloader at &lt;front&gt; desk" in page, "the downloader, sending from a mail program (SMTP)" in page]
r["token signs in"] = [api_login("jane@athen.localhost", token), smtp_login("jane@athen.localhost", token)]
# Issue 20: a token is not the password. It does not sign in to the web
# app, is not the current password, and opens only its doors.
s, path, page = Browser().login("jane@athen.localhost", token)
r["token no web"] = [s, path, "Sign in here with your password" in page]
s, path, page = j.post("/settings/password", {{"csrf": t, "current": token, "new_password": "taken over by a token", "new_again": "taken over by a token"}})
r["token no reauth"] = [s, "Current password is not right" in page]
s, path, page = j.post("/settings/tokens", {{"csrf": t, "label": "Another", "current_again": token, "door_api": "on"}})
r["token no new token"] = [s, 'class="code"' in page]
fetch = api_session("jane@athen.localhost", token)
r["token doors"] = [api_get(fetch, "/api/v1/downloads"), api_get(fetch, "/api/v1/mailbox"), api_get(fetch, "/api/v1/folders/Inbox/messages")]
# Its session in the web app's cookie is no web session.
req = urllib.request.Request(base + "/mail/Inbox", headers={{"Cookie": "__Host-athen_session=" + fetch}})
r["token cookie"] = urllib.parse.urlparse(urllib.request.urlopen(req, context=ctx, timeout=30).geturl()).path
ids = re.findall(r'action="/settings/tokens/(\d+)/revoke"', page)
r["listed"] = len(ids)
# Northside cannot revoke Jane's token.
n = Browser()
n.login("reception@northside.example", {JANE_PW:?})
s, path, npage = n.get("/settings/security")
r["not theirs"] = n.post("/settings/tokens/%s/revoke" % ids[0], {{"csrf": csrf(npage)}})[0]
r["still works"] = api_login("jane@athen.localhost", token)
s, path, page = j.post("/settings/tokens/%s/revoke" % ids[0], {{"csrf": t}})
r["revoked"] = [s, "No app tokens yet." in page, api_login("jane@athen.localhost", token), smtp_login("jane@athen.localhost", token)]
r["its session ended"] = api_get(fetch, "/api/v1/downloads")
# The password.
s, path, page = j.post("/settings/password", {{"csrf": t, "current": {JANE_PW:?}, "new_password": "a brand new passphrase", "new_again": "different"}})
r["mismatch"] = [s, "New password again is not the same" in page]
s, path, page = j.post("/settings/password", {{"csrf": t, "current": {JANE_PW:?}, "new_password": "short", "new_again": "short"}})
r["too short"] = s
s, path, page = j.post("/settings/password", {{"csrf": t, "current": {JANE_PW:?}, "new_password": "a brand new passphrase", "new_again": "a brand new passphrase"}})
r["changed"] = [s, "Your password is changed" in page]
r["old refused"] = api_login("jane@athen.localhost", {JANE_PW:?})
r["new works"] = [api_login("jane@athen.localhost", "a brand new passphrase"), smtp_login("jane@athen.localhost", "a brand new passphrase")]
s, path, page = j.post("/settings/recovery-code", {{"csrf": t, "recovery_current": "a brand new passphrase"}})
code = re.search(r'<p class="code">([^<]+)</p>', page)
r["recovery"] = [s, code is not None and len(code.group(1).replace("-", "")) >= 20]
# Issue 20: where the login is signed in, and ending one of those sessions.
other = Browser()
other.login("jane@athen.localhost", "a brand new passphrase")
s, path, page = j.get("/settings/security")
rows = re.findall(r'<tr><td>([^<]*)</td><td>[^<]*</td><td>[^<]*</td><td>[^<]*</td><td>(?:this one|<form method="post" action="/settings/sessions/([0-9a-f]+)/end")', page)
web = [i for where, i in rows if where.startswith("the web app")]
r["sessions"] = [len(web), page.count("<td>this one</td>"), len([i for i in web if i])]
s, path, page = j.post("/settings/sessions/%s/end" % [i for i in web if i][0], {{"csrf": csrf(page)}})
r["ended"] = [s, "The session is ended" in page, other.get("/mail/Inbox")[1], j.get("/mail/Inbox")[1]]
r["not mine"] = j.post("/settings/sessions/%s/end" % [i for i in web if i][0], {{"csrf": csrf(page)}})[0]
print(json.dumps(r))
"#
        ),
    );
    assert_eq!(v["linked"], true, "{v}");
    assert_eq!(v["page"], json!([200, true]), "{v}");
    assert_eq!(v["wrong password"], json!([422, true, false]), "{v}");
    assert_eq!(v["no csrf"], 403);
    assert_eq!(v["no doors"], 422, "{v}");
    assert_eq!(v["made"], json!([200, true, true]), "{v}");
    assert_eq!(v["token signs in"], json!([201, 235]), "{v}");
    assert_eq!(v["token no web"], json!([401, "/login", true]), "{v}");
    assert_eq!(v["token no reauth"], json!([422, true]), "{v}");
    assert_eq!(v["token no new token"], json!([422, false]), "{v}");
    assert_eq!(v["token doors"], json!([200, 200, 403]), "{v}");
    assert_eq!(v["token cookie"], "/login", "{v}");
    assert_eq!(v["listed"], 1);
    assert_eq!(v["not theirs"], 404);
    assert_eq!(v["still works"], 201);
    assert_eq!(v["revoked"], json!([200, true, 401, 535]), "{v}");
    assert_eq!(v["its session ended"], 401, "{v}");
    assert_eq!(v["mismatch"], json!([422, true]), "{v}");
    assert_eq!(v["too short"], 422);
    assert_eq!(v["changed"], json!([200, true]), "{v}");
    assert_eq!(v["old refused"], 401);
    assert_eq!(v["new works"], json!([201, 235]), "{v}");
    assert_eq!(v["recovery"], json!([200, true]), "{v}");
    assert_eq!(v["sessions"], json!([2, 1, 1]), "{v}");
    assert_eq!(
        v["ended"],
        json!([200, true, "/login", "/mail/Inbox"]),
        "{v}"
    );
    assert_eq!(v["not mine"], 404, "{v}");
}

/// Two-step sign-in through the real server: set up with the password
/// again and a code from pyotp (the RFC 6238 arithmetic of authenticator
/// apps, not ours), then the browser asks for the code after the password;
/// wrong, replayed and stale codes are refused; mail programs need app
/// tokens; turning it off takes the password.
#[test]
fn two_step_sign_in_asks_for_a_fresh_code_and_mail_programs_use_tokens() {
    let p = TwoPractices::start(|_| {});
    let sub = p.server.port_of("Submission port:");
    let v = browse(
        p.server.port,
        &p.ca,
        &format!(
            r#"
import pyotp
{LOGINS}
sub = {sub}
r = {{}}
j = Browser()
j.login("jane@athen.localhost", {JANE_PW:?})
s, path, page = j.get("/settings")
r["linked"] = "/settings/two-step" in page
s, path, page = j.get("/settings/two-step")
t = csrf(page)
r["off"] = [s, "is <strong>off</strong>" in page]
r["start no csrf"] = j.post("/settings/two-step/start", {{"current": {JANE_PW:?}}})[0]
s, path, page = j.post("/settings/two-step/start", {{"csrf": t, "current": "wrong"}})
r["start wrong password"] = [s, "Current password is not right" in page]
s, path, page = j.post("/settings/two-step/start", {{"csrf": t, "current": {JANE_PW:?}}})
key = re.search(r'<p class="code">([^<]+)</p>', page).group(1).replace(" ", "")
sealed = re.search(r'name="sealed" value="([0-9a-f]+)"', page).group(1)
r["setup"] = [s, "<svg role=\"img\"" in page, len(key)]
totp = pyotp.TOTP(key)
r["on wrong code"] = j.post("/settings/two-step/on", {{"csrf": t, "sealed": sealed, "code": "000000" if totp.now() != "000000" else "111111"}})[0]
r["on forged"] = j.post("/settings/two-step/on", {{"csrf": t, "sealed": "00" + sealed[2:], "code": totp.now()}})[0]
enrol_code = totp.now()
s, path, page = j.post("/settings/two-step/on", {{"csrf": t, "sealed": sealed, "code": enrol_code}})
r["on"] = [s, "Two-step sign-in is on" in page]
j.post("/logout", {{"csrf": t}})
# The password alone now asks for the code.
b = Browser()
s, path, page = b.login("jane@athen.localhost", {JANE_PW:?})
r["asks"] = [s, path, "Enter your code" in page, [c.name for c in b.jar if c.name == "__Host-athen_step"]]
lt = csrf(page)
r["code no csrf"] = b.post("/login/code", {{"code": "123456"}})[0]
s, path, page = b.post("/login/code", {{"csrf": lt, "code": "12345x"}})
r["wrong code"] = [s, "not right" in page]
s, path, page = b.post("/login/code", {{"csrf": lt, "code": enrol_code}})
r["replayed"] = [s, "not right" in page]
next_code = totp.at(time.time() + 30)
s, path, page = b.post("/login/code", {{"csrf": lt, "code": next_code[:3] + " " + next_code[3:]}})
r["signed in"] = [s, path]
# The same code cannot open a second session.
c2 = Browser()
s, path, page = c2.login("jane@athen.localhost", {JANE_PW:?})
s, path, page = c2.post("/login/code", {{"csrf": csrf(page), "code": next_code}})
r["second use"] = [s, "not right" in page]
r["stale page"] = Browser().post("/login/code", {{"csrf": "x", "code": next_code}})[0]
# Mail programs and the API: the password alone no longer works; a token does.
r["smtp password"] = smtp_login_says("jane@athen.localhost", {JANE_PW:?})
r["api password"] = api_login_says("jane@athen.localhost", {JANE_PW:?})
r["api bad code"] = api_login_says("jane@athen.localhost", {JANE_PW:?}, "000000")
s, path, page = b.get("/settings/security")
r["code box"] = 'name="code"' in page
# Re-authentication with two-step on takes the code as well.
s, path, page = b.post("/settings/tokens", {{"csrf": csrf(page), "label": "Outlook", "current_again": {JANE_PW:?}, "door_imap": "on", "door_smtp": "on", "door_api": "on"}})
r["reauth no code"] = [s, "Code from your authenticator app is needed" in page]
# The next 30-second step, so that a code not used yet is in the window.
time.sleep(30.5 - time.time() % 30)
s, path, page = b.post("/settings/tokens", {{"csrf": csrf(page), "label": "Outlook", "current_again": {JANE_PW:?}, "door_imap": "on", "door_smtp": "on", "door_api": "on", "code": totp.at(time.time() + 30)}})
token = re.search(r'<p class="code">([^<]+)</p>', page).group(1)
r["token"] = [smtp_login("jane@athen.localhost", token), api_login("jane@athen.localhost", token)]
print(json.dumps(r))
"#
        ),
    );
    check_two_step_on(&v);
    // The administrator turns it off for a lost phone; the password
    // alone works again. Then on again in the browser, and off there.
    let off = admin_ok(
        &p.data,
        &["credential", "two-step-off", "JANE@athen.localhost"],
        "",
    );
    assert_eq!(
        off,
        json!({"login": "jane@athen.localhost", "was_on": true})
    );
    let again = admin_ok(
        &p.data,
        &["credential", "two-step-off", "jane@athen.localhost"],
        "",
    );
    assert_eq!(again["was_on"], false);
    let v = browse(
        p.server.port,
        &p.ca,
        &format!(
            r#"
import pyotp
{LOGINS}
sub = {sub}
r = {{}}
r["after admin"] = api_login("jane@athen.localhost", {JANE_PW:?})
b = Browser()
s, path, page = b.login("jane@athen.localhost", {JANE_PW:?})
r["no code asked"] = path
s, path, page = b.get("/settings/two-step")
s, path, page = b.post("/settings/two-step/start", {{"csrf": csrf(page), "current": {JANE_PW:?}}})
key = re.search(r'<p class="code">([^<]+)</p>', page).group(1).replace(" ", "")
sealed = re.search(r'name="sealed" value="([0-9a-f]+)"', page).group(1)
b.post("/settings/two-step/on", {{"csrf": csrf(page), "sealed": sealed, "code": pyotp.TOTP(key).now()}})
# Off again, with the password.
s, path, page = b.get("/settings/two-step")
r["shows on"] = "Two-step sign-in is on</strong>" in page
totp = pyotp.TOTP(key)
r["off wrong password"] = b.post("/settings/two-step/off", {{"csrf": csrf(page), "current": "wrong", "code": totp.at(time.time() + 30)}})[0]
r["off no code"] = b.post("/settings/two-step/off", {{"csrf": csrf(page), "current": {JANE_PW:?}}})[0]
s, path, page = b.post("/settings/two-step/off", {{"csrf": csrf(page), "current": {JANE_PW:?}, "code": totp.at(time.time() + 30)}})
r["turned off"] = [s, "the password alone signs in" in page]
r["password again"] = [api_login("jane@athen.localhost", {JANE_PW:?}), smtp_login("jane@athen.localhost", {JANE_PW:?})]
print(json.dumps(r))
"#
        ),
    );
    assert_eq!(v["after admin"], 201, "{v}");
    assert_eq!(v["no code asked"], "/mail/Inbox", "{v}");
    assert_eq!(v["shows on"], true, "{v}");
    assert_eq!(v["off wrong password"], 422, "{v}");
    assert_eq!(v["off no code"], 422, "{v}");
    assert_eq!(v["turned off"], json!([200, true]), "{v}");
    assert_eq!(v["password again"], json!([201, 235]), "{v}");
}

fn check_two_step_on(v: &serde_json::Value) {
    assert_eq!(v["linked"], true, "{v}");
    assert_eq!(v["off"], json!([200, true]), "{v}");
    assert_eq!(v["start no csrf"], 403, "{v}");
    assert_eq!(v["start wrong password"], json!([422, true]), "{v}");
    assert_eq!(v["setup"], json!([200, true, 32]), "{v}");
    assert_eq!(v["on wrong code"], 422, "{v}");
    assert_eq!(v["on forged"], 400, "{v}");
    assert_eq!(v["on"], json!([200, true]), "{v}");
    assert_eq!(
        v["asks"],
        json!([200, "/login", true, ["__Host-athen_step"]]),
        "{v}"
    );
    assert_eq!(v["code no csrf"], 403, "{v}");
    assert_eq!(v["wrong code"], json!([401, true]), "{v}");
    assert_eq!(v["replayed"], json!([401, true]), "{v}");
    assert_eq!(v["signed in"], json!([200, "/mail/Inbox"]), "{v}");
    assert_eq!(v["second use"], json!([401, true]), "{v}");
    assert_eq!(v["stale page"], 403, "{v}");
    let smtp = &v["smtp password"];
    assert_eq!(smtp[0], 535, "{v}");
    assert!(smtp[1].as_str().unwrap().contains("app token"), "{v}");
    let api = &v["api password"];
    assert_eq!(api[0], 401, "{v}");
    assert!(api[1].as_str().unwrap().contains("two steps"), "{v}");
    assert_eq!(v["api bad code"][0], 401, "{v}");
    assert_eq!(v["code box"], true, "{v}");
    assert_eq!(v["reauth no code"], json!([422, true]), "{v}");
    assert_eq!(v["token"], json!([235, 201]), "{v}");
}
