//! The public directory page through the real server (Python urllib):
//! confirmed providers are found by name, provider number, place,
//! specialty and category, with the address to write to; provisional ones
//! are not listed; what providers entered is escaped.

mod common;
use common::*;

#[test]
fn the_public_finds_confirmed_providers_and_how_to_write_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pw = "correct horse battery";
    admin_ok(
        &data,
        &[
            "account",
            "create",
            "--kind",
            "individual",
            "--name",
            "Dr Priya <b>Raman</b>",
            "--address",
            "priya@heart.example",
            "--password-stdin",
            "--title",
            "Dr",
            "--given",
            "Priya",
            "--family",
            "Raman",
            "--specialty",
            "Cardiology <i>echo</i>",
            "--category",
            "specialist-rooms",
            "--suburb",
            "Northside",
            "--state",
            "NSW",
            "--postcode",
            "2000",
            "--provider-number",
            "2426621B",
        ],
        &format!("{pw}\n"),
    );
    admin_ok(&data, &["account", "confirm", "priya@heart.example"], "");
    create_individual(&data, "Dr Not Yet", "notyet@heart.example", pw);
    let server = Server::start(&data, &[]);
    let ca = data.join("tls/self-signed-cert.pem");
    let out = python(
        server.port,
        &ca,
        &format!(
            "{PY_PRELUDE}
import json
r = {{}}
for key, q in [('name', 'name=raman'), ('provider', 'provider=2426621B'), ('place', 'place=2000'),
               ('specialty', 'specialty=cardio'), ('category', 'category=specialist-rooms'),
               ('unconfirmed', 'name=not+yet'), ('nobody', 'name=zzz')]:
    s, h, page = get('/directory?' + q)
    r[key] = [s, 'priya@heart.example' in page, 'notyet@heart.example' in page]
s, h, page = get('/directory?name=raman')
r['escaped'] = '<i>' not in page and 'Cardiology &lt;i&gt;echo&lt;/i&gt;' in page
r['csp'] = h.get('Content-Security-Policy', h.get('content-security-policy', ''))
r['bad category'] = get('/directory?category=astrology')[0]
r['empty'] = get('/directory')[0]
print(json.dumps(r))
"
        ),
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for key in ["name", "provider", "place", "specialty", "category"] {
        assert_eq!(v[key], serde_json::json!([200, true, false]), "{key}: {v}");
    }
    assert_eq!(
        v["unconfirmed"],
        serde_json::json!([200, false, false]),
        "{v}"
    );
    assert_eq!(v["nobody"], serde_json::json!([200, false, false]));
    assert_eq!(v["escaped"], true, "{v}");
    assert!(v["csp"].as_str().unwrap().contains("default-src 'none'"));
    assert_eq!(v["bad category"], 400);
    assert_eq!(v["empty"], 200);
}

/// One address may search the directory (and ask for compose suggestions)
/// only so often a minute; past that, 429 with Retry-After, and other
/// pages still answer.
#[test]
fn directory_searches_are_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--directory-limit", "4"]);
    let out = python(
        server.port,
        &data.join("tls/self-signed-cert.pem"),
        r#"
import os, ssl, json, urllib.request, urllib.error
ctx = ssl.create_default_context(cafile=os.environ["CA"])
base = "https://localhost:%s" % os.environ["PORT"]
def get(path):
    try:
        r = urllib.request.urlopen(base + path, context=ctx, timeout=30)
        return [r.status, None]
    except urllib.error.HTTPError as e:
        return [e.code, e.headers.get("Retry-After")]
import time
while True:
    # The limit is per clock minute: a run across a minute's end is run again.
    minute = int(time.time() // 60)
    codes = [get("/directory?name=smith")[0] for _ in range(3)] + [get("/directory/suggest?q=sm")[0]]
    over = get("/directory?name=smith")
    also = get("/directory/suggest?q=sm")
    if int(time.time() // 60) == minute:
        break
    time.sleep(61 - time.time() % 60)
print(json.dumps({"within": codes, "over": over[0], "wait": int(over[1]), "suggest": also[0], "home": get("/")[0]}))
"#,
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["within"], serde_json::json!([200, 200, 200, 200]), "{v}");
    assert_eq!(v["over"], 429, "{v}");
    let wait = v["wait"].as_i64().unwrap();
    assert!((1..=60).contains(&wait), "{v}");
    assert_eq!(v["suggest"], 429, "{v}");
    assert_eq!(v["home"], 200, "{v}");
}
