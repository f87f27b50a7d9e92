//! Settings → Staff through the real server (urllib as the browser): an
//! organisation lists a staff member in the directory (every problem shown,
//! nothing saved), gives them a login after its own password, the staff
//! member signs in and reads the practice's mail but cannot manage staff;
//! the login turned off ends their open session at once; removal from the
//! directory waits until the login is off. Nobody else reaches these pages.

mod common;
use common::*;
use serde_json::json;

#[test]
fn an_organisation_lists_its_staff_and_gives_and_takes_their_logins() {
    let p = TwoPractices::start(|data| {
        create_organisation(
            data,
            "Southside Clinic",
            "desk@southside.example",
            JANE_PW,
            &[],
        );
        // Only confirmed accounts and their staff are in the directory.
        admin_ok(
            data,
            &["account", "confirm", "reception@northside.example"],
            "",
        );
    });
    let v = browse(
        p.server.port,
        &p.ca,
        &format!(
            r#"
import html
r = {{}}
n = Browser()
n.login("reception@northside.example", {JANE_PW:?})
s, path, page = n.get("/settings")
r["linked"] = "/settings/staff" in page
s, path, page = n.get("/settings/staff")
t = csrf(page)
r["empty"] = [s, "No staff are listed yet." in page]
anna = {{"csrf": t, "title": "Dr", "given_name": "Anna", "family_name": "Müller", "position": "GP", "provider_number": "2426621B"}}
r["no csrf"] = n.post("/settings/staff", dict(anna, csrf="x"))[0]
s, path, page = n.post("/settings/staff", dict(anna, family_name="", provider_number="12"))
r["bad"] = [s, re.findall(r'<span class="error" id="(\w+)-error">', page), 'value="Anna"' in page]
s, path, page = n.post("/settings/staff", anna)
r["added"] = [s, "Dr Anna Müller is now listed" in page]
entry = re.search(r'href="/settings/staff/(\d+)/login"', page).group(1)
r["in directory"] = "Dr Anna Müller" in Browser().get("/directory?name=muller")[2]
s, path, page = n.get("/settings/staff/%s/login" % entry)
r["suggested"] = re.search(r'name="login" type="text" value="([^"]+)"', page).group(1)
give = {{"csrf": t, "login": "reception+anna.muller@northside.example", "password": "anna's own pass", "password_again": "anna's own pass", "current": {JANE_PW:?}}}
s, path, page = n.post("/settings/staff/%s/login" % entry, dict(give, current="wrong"))
r["wrong own password"] = [s, "Current password is not right" in page]
s, path, page = n.post("/settings/staff/%s/login" % entry, dict(give, password_again="other"))
r["mismatch"] = s
s, path, page = n.post("/settings/staff/%s/login" % entry, give)
r["given"] = [s, "can now sign in as <strong>reception+anna.muller@northside.example</strong>" in page]
s, path, page = n.post("/settings/staff/%s/login" % entry, give)
r["taken"] = [s, "is taken already" in page]
s, path, page = n.get("/settings/staff")
login_id = re.search(r'action="/settings/staff/logins/(\d+)/off"', page).group(1)
# Anna signs in, sees the practice's Inbox, cannot manage staff.
a = Browser()
r["anna signs in"] = a.login("reception+anna.muller@northside.example", "anna's own pass")[:2]
r["anna staff page"] = a.get("/settings/staff")[0]
r["anna adds"] = a.post("/settings/staff", dict(anna, csrf=csrf(a.get("/mail/Inbox")[2])))[0]
# Others: a person has no staff; another organisation cannot touch these.
j = Browser()
j.login("jane@athen.localhost", {JANE_PW:?})
r["person"] = j.get("/settings/staff")[0]
so = Browser()
so.login("desk@southside.example", {JANE_PW:?})
st = csrf(so.get("/settings/staff")[2])
r["other org"] = [so.get("/settings/staff/%s/login" % entry)[0], so.post("/settings/staff/%s/remove" % entry, {{"csrf": st}})[0],
                  so.post("/settings/staff/logins/%s/off" % login_id, {{"csrf": st}})[0]]
# Removal waits for the login to be off.
s, path, page = n.post("/settings/staff/%s/remove" % entry, {{"csrf": t}})
r["remove with login"] = [s, "login" in html.unescape(page)]
s, path, page = n.post("/settings/staff/logins/%s/off" % login_id, {{"csrf": t}})
r["off"] = [s, "can no longer sign in" in page]
r["anna's session"] = a.get("/mail/Inbox")[1]
r["anna again"] = a.login("reception+anna.muller@northside.example", "anna's own pass")[0]
s, path, page = n.post("/settings/staff/%s/remove" % entry, {{"csrf": t}})
r["removed"] = [s, "is no longer listed" in page, "Dr Anna Müller" in Browser().get("/directory?name=muller")[2]]
print(json.dumps(r))
"#
        ),
    );
    assert_eq!(v["linked"], true, "{v}");
    assert_eq!(v["empty"], json!([200, true]), "{v}");
    assert_eq!(v["no csrf"], 403, "{v}");
    assert_eq!(
        v["bad"],
        json!([422, ["family_name", "provider_number"], true]),
        "{v}"
    );
    assert_eq!(v["added"], json!([200, true]), "{v}");
    assert_eq!(v["in directory"], true, "{v}");
    assert_eq!(
        v["suggested"], "reception+anna.muller@northside.example",
        "{v}"
    );
    assert_eq!(v["wrong own password"], json!([422, true]), "{v}");
    assert_eq!(v["mismatch"], 422, "{v}");
    assert_eq!(v["given"], json!([200, true]), "{v}");
    assert_eq!(v["taken"], json!([422, true]), "{v}");
    assert_eq!(v["anna signs in"], json!([200, "/mail/Inbox"]), "{v}");
    assert_eq!(v["anna staff page"], 403, "{v}");
    assert_eq!(v["anna adds"], 403, "{v}");
    assert_eq!(v["person"], 403, "{v}");
    assert_eq!(v["other org"], json!([404, 404, 404]), "{v}");
    assert_eq!(v["remove with login"], json!([422, true]), "{v}");
    assert_eq!(v["off"], json!([200, true]), "{v}");
    assert_eq!(v["anna's session"], "/login", "{v}");
    assert_eq!(v["anna again"], 401, "{v}");
    assert_eq!(v["removed"], json!([200, true, false]), "{v}");
}

/// Settings → Directory entry: the practice's own login changes what the
/// directory shows, checked as at registration; staff logins cannot.
#[test]
fn a_practice_keeps_its_directory_entry_up_to_date() {
    let p = TwoPractices::start(|data| {
        for a in ["reception@northside.example", "jane@athen.localhost"] {
            admin_ok(data, &["account", "confirm", a], "");
        }
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
n = Browser()
n.login("reception@northside.example", {JANE_PW:?})
s, path, page = n.get("/settings")
r["linked"] = "/settings/entry" in page
s, path, page = n.get("/settings/entry")
t = csrf(page)
r["page"] = [s, "Northside Medical" in page]
place = {{"csrf": t, "category": "general-practice", "street": "1 New Street", "suburb": "Eastwood", "state": "NSW",
         "postcode": "2122", "phone": "02 9999 0000", "fax": "", "provider_number": ""}}
r["no csrf"] = n.post("/settings/entry", dict(place, csrf="x"))[0]
s, path, page = n.post("/settings/entry", dict(place, postcode="3000", phone="12"))
r["bad"] = [s, re.findall(r'<span class="error" id="(\w+)-error">', page), 'value="Eastwood"' in page]
s, path, page = n.post("/settings/entry", place)
r["saved"] = [s, "Saved" in page]
d = Browser().get("/directory?name=northside")[2]
r["directory"] = ["Eastwood" in d, "2122" in d]
a = Browser()
a.login("reception+anna.jones@northside.example", "anna's own password")
r["staff"] = [a.get("/settings/entry")[0], a.post("/settings/entry", dict(place, csrf=csrf(a.get("/mail/Inbox")[2])))[0]]
j = Browser()
j.login("jane@athen.localhost", {JANE_PW:?})
s, path, page = j.get("/settings/entry")
r["person form"] = ['name="specialty"' in page, 'name="ahpra"' in page]
s, path, page = j.post("/settings/entry", {{"csrf": csrf(page), "title": "Dr", "specialty": "Cardiology", "street": "4 Macquarie St",
    "suburb": "Sydney", "state": "NSW", "postcode": "2000", "phone": "02 9000 5678"}})
r["person saved"] = [s, "Cardiology" in Browser().get("/directory?specialty=cardio")[2]]
print(json.dumps(r))
"#
        ),
    );
    assert_eq!(v["linked"], true, "{v}");
    assert_eq!(v["page"], json!([200, true]), "{v}");
    assert_eq!(v["no csrf"], 403, "{v}");
    assert_eq!(v["bad"], json!([422, ["postcode", "phone"], true]), "{v}");
    assert_eq!(v["saved"], json!([200, true]), "{v}");
    assert_eq!(v["directory"], json!([true, true]), "{v}");
    assert_eq!(v["staff"], json!([403, 403]), "{v}");
    assert_eq!(v["person form"], json!([true, true]), "{v}");
    assert_eq!(v["person saved"], json!([200, true]), "{v}");
}
