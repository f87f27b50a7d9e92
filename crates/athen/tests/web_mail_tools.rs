//! The tools of a mail client in the browser, through the real server
//! (Python urllib with a cookie jar; letters sent in with smtplib and
//! Python's own `email` package): an HTML letter shown sanitised, search
//! by patient, correspondent and subject, passing a letter on with its
//! files (but not the import file made here), and drafts kept, taken up
//! again, replaced and sent.

mod common;
use common::*;
use serde_json::json;

#[test]
fn a_practice_searches_forwards_and_keeps_drafts_and_html_is_made_safe() {
    let p = TwoPractices::start(|data| {
        takes_hl7(data, "reception@northside.example");
    });
    p.jane_sends(
        r#"from email.message import EmailMessage
m = EmailMessage()
m["From"] = "Jane Citizen <jane@athen.localhost>"
m["To"] = "reception@northside.example"
m["Subject"] = "[SMITH, John (M) DOB:01/02/1960] Discharge summary"
m.set_content("Dear colleague,\nJohn went home today.\n")
m.add_alternative('<p onclick="steal()">Dear colleague,</p><script>alert(1)</script>'
    '<img src="https://tracker.example/p.gif"><p>John went <b>home</b> today. '
    '<a href="https://example.org/results">Results</a> <a href="javascript:alert(2)">x</a></p>', subtype="html")
m.add_attachment(b"Discharged on day 3.\n", maintype="text", subtype="plain", filename="summary.txt")
c.send_message(m)
m = EmailMessage()
m["From"] = "Jane Citizen <jane@athen.localhost>"
m["To"] = "reception@northside.example"
m["Subject"] = "[CITIZEN, Mary (F) DOB:03/04/1970] Referral"
m.set_content("Please see Mary.\n")
c.send_message(m)"#,
    );
    let v = browse(
        p.server.port,
        &p.ca,
        &format!(
            r#"{MULTIPART}
def links(page, folder):
    return re.findall(r'<a href="/mail/%s/\d+">([^<]+)</a>' % folder, page)
def search(b, q):
    page = b.get("/search?" + urllib.parse.urlencode({{"q": q}}))[2]
    return [links(page, "Inbox"), "No letter matches" in page]
r = {{}}
n = Browser()
n.login("reception@northside.example", {JANE_PW:?})
deadline = time.time() + 30
while len(links(n.get("/mail/Inbox")[2], "Inbox")) < 2 and time.time() < deadline:
    time.sleep(0.3)
uid = {{}}
for u, subject in re.findall(r'<a href="/mail/Inbox/(\d+)">([^<]+)</a>', n.get("/mail/Inbox")[2]):
    uid[subject.split("] ")[1]] = u
s, path, page = n.get("/mail/Inbox/" + uid["Discharge summary"])
letter = page.split('class="letter"', 1)[1].split("</div>", 1)[0]
r["html"] = [s, "John went <b>home</b> today." in letter,
             '<a href="https://example.org/results" rel="noopener noreferrer nofollow">Results</a>' in letter,
             [bad for bad in ["<script", "onclick", "<img", "tracker", "javascript"] if bad in page]]
r["search"] = {{q: search(n, q) for q in ["smith", "CITIZEN", "mary citizen", "jane discharge", "nguyen", "", "smi 1960", "jane@athen.localhost", "DISCHÄRGE"]}}
r["search in folder"] = re.findall(r'</a></td><td>(\w+)</td>', n.get("/search?q=smith")[2])
# Passing the discharge summary on to Jane: its file comes, the HL7 file made here does not.
s, path, page = n.get("/compose?forward=Inbox/" + uid["Discharge summary"])
r["forward form"] = [s, "Fwd: [SMITH, John (M) DOB:01/02/1960] Discharge summary" in page,
                     "---------- Forwarded letter ----------" in page,
                     re.findall(r'<label class="inline" for="keep-\d+">([^ <]+)', page)]
keep = re.search(r'name="keep" value="(\d+)" checked', page).group(1)
carry = re.search(r'name="carry" value="([^"]*)"', page).group(1)
fwd = {{"csrf": csrf(page), "action": "send", "to": "jane@athen.localhost", "carry": carry, "keep": keep,
       "subject": "Fwd: [SMITH, John (M) DOB:01/02/1960] Discharge summary", "body": "For your records."}}
r["forwarded"] = post_multipart(n, "/compose", fwd)[:2]
j = Browser()
j.login("jane@athen.localhost", {JANE_PW:?})
deadline = time.time() + 30
while not links(j.get("/mail/Inbox")[2], "Inbox") and time.time() < deadline:
    time.sleep(0.3)
s, path, page = j.get("/mail/Inbox/1")
r["jane got"] = [re.findall(r'<h1>([^<]+)</h1>', page), re.findall(r'attachments/\d+">([^<]+)<', page)]
# A draft, half done: a birth date not yet right, a file attached.
draft = {{"csrf": csrf(page), "action": "draft", "to": "jane@athen.localhost", "subject": "Results",
         "family_name": "Nguyen", "birth_date": "31/02/19", "body": "Draft text ü; \"quoted\"", "receipt": "yes"}}
s, path, page = n.get("/compose")
draft["csrf"] = csrf(page)
r["draft no csrf"] = post_multipart(n, "/compose", dict(draft, csrf="x"))[0]
s, path, page = post_multipart(n, "/compose", draft, [("attachments", "scan.pdf", b"%PDF-1.4 scan")])
r["saved"] = [s, path, "Your draft was saved" in page, statuses(page), links(page, "Drafts")]
d1 = re.search(r'<a href="/mail/Drafts/(\d+)">', page).group(1)
r["draft page"] = "/compose?draft=Drafts/%s" % d1 in n.get("/mail/Drafts/" + d1)[2]
s, path, page = n.get("/compose?draft=Drafts/" + d1)
r["taken up"] = [s, 'value="jane@athen.localhost"' in page, 'value="Results"' in page, 'value="Nguyen"' in page,
                 'value="31/02/19"' in page, "Draft text ü; &quot;quoted&quot;" in page,
                 re.findall(r'<label class="inline" for="keep-\d+">([^ <]+)', page), 'id="receipt" name="receipt" value="yes" checked' in page]
again = dict(draft, csrf=csrf(page), subject="Results for Ms Nguyen",
             carry=re.search(r'name="carry" value="([^"]*)"', page).group(1),
             draft=re.search(r'name="draft" value="([^"]*)"', page).group(1),
             keep=re.search(r'name="keep" value="(\d+)" checked', page).group(1))
s, path, page = post_multipart(n, "/compose", again)
r["saved again"] = [s, links(page, "Drafts")]
d2 = re.search(r'<a href="/mail/Drafts/(\d+)">', page).group(1)
s, path, page = n.get("/compose?draft=Drafts/" + d2)
send = dict(again, csrf=csrf(page), action="send", draft="Drafts/" + d2, carry="Drafts/" + d2,
            keep=re.search(r'name="keep" value="(\d+)" checked', page).group(1))
s, path, page = post_multipart(n, "/compose", send)
r["send unfinished"] = [s, errors(page), "scan.pdf" in page, len(links(n.get("/mail/Drafts")[2], "Drafts"))]
s, path, page = post_multipart(n, "/compose", dict(send, birth_date="01/02/1980", given_names="Thi"))
r["sent"] = [s, path, links(n.get("/mail/Drafts")[2], "Drafts")]
deadline = time.time() + 30
while len(links(j.get("/mail/Inbox")[2], "Inbox")) < 2 and time.time() < deadline:
    time.sleep(0.3)
s, path, page = j.get("/mail/Inbox/2")
r["jane got draft"] = [re.findall(r'<h1>([^<]+)</h1>', page), re.findall(r'attachments/\d+">([^<]+)<', page)]
# Nobody takes up another practice's draft, or a letter that is not a draft.
r["not hers"] = j.get("/compose?draft=Drafts/" + d2)[0]
r["not a draft"] = n.get("/compose?draft=Inbox/1")[0]
r["anonymous search"] = Browser().get("/search?q=smith")[:2]
print(json.dumps(r))
"#
        ),
    );
    assert_eq!(v["html"], json!([200, true, true, []]), "{v}");
    assert_eq!(
        v["search"],
        json!({
            "smith": [["[SMITH, John (M) DOB:01/02/1960] Discharge summary"], false],
            "CITIZEN": [["[CITIZEN, Mary (F) DOB:03/04/1970] Referral", "[SMITH, John (M) DOB:01/02/1960] Discharge summary"], false],
            "mary citizen": [["[CITIZEN, Mary (F) DOB:03/04/1970] Referral"], false],
            "jane discharge": [["[SMITH, John (M) DOB:01/02/1960] Discharge summary"], false],
            "nguyen": [[], true],
            "": [[], false],
            "smi 1960": [["[SMITH, John (M) DOB:01/02/1960] Discharge summary"], false],
            "jane@athen.localhost": [["[CITIZEN, Mary (F) DOB:03/04/1970] Referral", "[SMITH, John (M) DOB:01/02/1960] Discharge summary"], false],
            "DISCHÄRGE": [["[SMITH, John (M) DOB:01/02/1960] Discharge summary"], false],
        }),
        "{v}"
    );
    assert_eq!(v["search in folder"], json!(["Inbox"]), "{v}");
    assert_eq!(
        v["forward form"],
        json!([200, true, true, ["summary.txt"]]),
        "{v}"
    );
    assert_eq!(v["forwarded"], json!([200, "/mail/Sent"]), "{v}");
    assert_eq!(
        v["jane got"],
        json!([
            ["Fwd: [SMITH, John (M) DOB:01/02/1960] Discharge summary"],
            ["summary.txt"]
        ]),
        "{v}"
    );
    assert_eq!(v["draft no csrf"], 403, "{v}");
    assert_eq!(
        v["saved"],
        json!([200, "/mail/Drafts", true, ["draft"], ["Results"]]),
        "{v}"
    );
    assert_eq!(v["draft page"], true, "{v}");
    assert_eq!(
        v["taken up"],
        json!([200, true, true, true, true, true, ["scan.pdf"], true]),
        "{v}"
    );
    assert_eq!(
        v["saved again"],
        json!([200, ["Results for Ms Nguyen"]]),
        "{v}"
    );
    assert_eq!(
        v["send unfinished"],
        json!([422, ["given_names", "birth_date"], true, 1]),
        "{v}"
    );
    assert_eq!(v["sent"], json!([200, "/mail/Sent", []]), "{v}");
    assert_eq!(
        v["jane got draft"],
        json!([
            ["[NGUYEN, Thi (U) DOB:01/02/1980] Results for Ms Nguyen"],
            ["scan.pdf"]
        ]),
        "{v}"
    );
    assert_eq!(v["not hers"], 404, "{v}");
    assert_eq!(v["not a draft"], 404, "{v}");
    assert_eq!(v["anonymous search"], json!([200, "/login"]), "{v}");
}
