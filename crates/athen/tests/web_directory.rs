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
