//! Settings → Sign-in and app tokens through the real server (urllib as
//! the browser): an app token made in the browser signs in to the API and
//! to SMTP submission (smtplib) and stops working when revoked; only its
//! own login may revoke it; the current password is asked again for every
//! new credential; the password changes (old one refused, new one works,
//! mail untouched); a new recovery code is shown once.

mod common;
use common::*;
use serde_json::json;

#[test]
fn a_practice_makes_and_revokes_app_tokens_and_changes_its_password() {
    let p = TwoPractices::start(|_| {});
    let sub = p.server.port_of("Submission port:");
    let v = browse(
        p.server.port,
        &p.ca,
        &format!(
            r#"
import smtplib
r = {{}}
def api_login(who, secret):
    req = urllib.request.Request(base + "/api/v1/session", data=json.dumps({{"login": who, "password": secret}}).encode(),
                                 headers={{"Content-Type": "application/json"}})
    try:
        return urllib.request.urlopen(req, context=ctx, timeout=30).status
    except urllib.error.HTTPError as e:
        return e.code
def smtp_login(who, secret):
    c = smtplib.SMTP("localhost", {sub}, timeout=30)
    c.starttls(context=ctx)
    try:
        c.login(who, secret)
        return 235
    except smtplib.SMTPAuthenticationError as e:
        return e.smtp_code
    finally:
        c.quit()
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
s, path, page = j.post("/settings/tokens", {{"csrf": t, "label": "Downloader at <front> desk", "current_again": {JANE_PW:?}}})
token = re.search(r'<p class="code">([^<]+)</p>', page).group(1)
r["made"] = [s, "Downloader at &lt;front&gt; desk" in page]
r["token signs in"] = [api_login("jane@athen.localhost", token), smtp_login("jane@athen.localhost", token)]
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
print(json.dumps(r))
"#
        ),
    );
    assert_eq!(v["linked"], true, "{v}");
    assert_eq!(v["page"], json!([200, true]), "{v}");
    assert_eq!(v["wrong password"], json!([422, true, false]), "{v}");
    assert_eq!(v["no csrf"], 403);
    assert_eq!(v["made"], json!([200, true]), "{v}");
    assert_eq!(v["token signs in"], json!([201, 235]), "{v}");
    assert_eq!(v["listed"], 1);
    assert_eq!(v["not theirs"], 404);
    assert_eq!(v["still works"], 201);
    assert_eq!(v["revoked"], json!([200, true, 401, 535]), "{v}");
    assert_eq!(v["mismatch"], json!([422, true]), "{v}");
    assert_eq!(v["too short"], 422);
    assert_eq!(v["changed"], json!([200, true]), "{v}");
    assert_eq!(v["old refused"], 401);
    assert_eq!(v["new works"], json!([201, 235]), "{v}");
    assert_eq!(v["recovery"], json!([200, true]), "{v}");
}
