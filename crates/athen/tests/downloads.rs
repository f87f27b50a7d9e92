//! The downloader's API through the real server with Python's urllib:
//! the import files waiting, each file's bytes and checksum (checked by
//! hl7apy), reports of downloaded, imported and failed (idempotent, in
//! order, checked against the checksum), the letter moving to Downloaded,
//! and its sender's trail saying "downloaded" and "imported" from the
//! notices the recipient's server sent.

mod common;
use common::*;
use serde_json::Value;

#[test]
fn a_file_is_listed_fetched_with_its_checksum_and_followed_to_import() {
    let p = TwoPractices::start(|d| takes_hl7(d, "reception@northside.example"));
    let dir = p._dir.path();
    let v = p.api_run(
        &format!(
            r#"
send_letter("[CITIZEN, John (M) DOB:01/02/1960] Referral QZONE", "QZONE")
send_letter("[CITIZEN, Mary (F) DOB:03/04/1970] Referral QZTWO", "QZTWO")
send_letter("Practice meeting QZMEET", "QZMEET")
t = login("reception@northside.example", os.environ["PW"])
settled(t)
out = {{}}
s, _, l = api("GET", "/api/v1/downloads", token=t)
assert s == 200, (s, l)
out["list"] = l
one = [d for d in l["downloads"] if d["message_id"] == "QZONE@athen.localhost"][0]
s, h, body = api("GET", "/api/v1/downloads/" + one["id"], token=t)
open(os.path.join({dir:?}, one["file"]), "wb").write(body)
out["fetch"] = {{"status": s, "type": h.get("content-type"), "disposition": h.get("content-disposition"),
    "hex": h.get("athen-sha256"), "digest": h.get("repr-digest"),
    "sha": hashlib.sha256(body).hexdigest(),
    "b64": base64.b64encode(hashlib.sha256(body).digest()).decode()}}
path = "/api/v1/downloads/" + one["id"] + "/report"
out["imported_first"] = api("POST", path, {{"state": "imported"}}, token=t)[::2]
out["no_sha"] = api("POST", path, {{"state": "downloaded"}}, token=t)[::2]
out["wrong_sha"] = api("POST", path, {{"state": "downloaded", "sha256": "00" * 32}}, token=t)[::2]
out["downloaded"] = api("POST", path, {{"state": "downloaded", "sha256": out["fetch"]["sha"].upper()}}, token=t)[::2]
out["downloaded_again"] = api("POST", path, {{"state": "downloaded", "sha256": out["fetch"]["sha"]}}, token=t)[::2]
out["after"] = api("GET", "/api/v1/downloads", token=t)[2]
out["awaiting"] = api("GET", "/api/v1/downloads?state=downloaded", token=t)[2]
out["inbox"] = [m["subject"] for m in api("GET", "/api/v1/folders/Inbox/messages", token=t)[2]["messages"]]
out["downloaded_folder"] = api("GET", "/api/v1/folders/Downloaded/messages", token=t)[2]["messages"]
out["failed_late"] = api("POST", path, {{"state": "failed", "reason": "x"}}, token=t)[::2]
out["imported"] = api("POST", path, {{"state": "imported"}}, token=t)[::2]
out["imported_again"] = api("POST", path, {{"state": "imported"}}, token=t)[::2]
out["downloaded_late"] = api("POST", path, {{"state": "downloaded", "sha256": out["fetch"]["sha"]}}, token=t)[::2]
uid = out["downloaded_folder"][0]["uid"]
out["trail"] = api("GET", "/api/v1/folders/Downloaded/messages/%d/audit" % uid, token=t)[2]

# The second letter: the downloader could not write it, twice; then it did.
two = [d for d in l["downloads"] if d["message_id"] == "QZTWO@athen.localhost"][0]
path2 = "/api/v1/downloads/" + two["id"] + "/report"
out["failed"] = api("POST", path2, {{"state": "failed", "reason": "No space left on device (os error 28)\nsecond line"}}, token=t)[::2]
out["failed_again"] = api("POST", path2, {{"state": "failed", "reason": "No space left on device (os error 28)"}}, token=t)[::2]
out["still_offered"] = api("GET", "/api/v1/downloads", token=t)[2]
inbox = api("GET", "/api/v1/folders/Inbox/messages", token=t)[2]["messages"]
uid2 = [m for m in inbox if m["message_id"] == "QZTWO@athen.localhost"][0]["uid"]
out["trail2"] = api("GET", "/api/v1/folders/Inbox/messages/%d/audit" % uid2, token=t)[2]
out["bad"] = [api("GET", "/api/v1/downloads/" + x, token=t)[0] for x in ["0", "-1", "abc", "999999"]]
out["bad_state"] = api("POST", path2, {{"state": "lost"}}, token=t)[::2]
out["bad_list"] = [api("GET", "/api/v1/downloads?" + q, token=t)[0] for q in ["state=lost", "limit=0", "limit=501", "after=x"]]
out["nobody"] = [api("GET", "/api/v1/downloads")[0], api("GET", "/api/v1/downloads/" + one["id"])[0],
                 api("POST", path, {{"state": "imported"}})[0]]

# Jane, who sent them, sees none of Northside's files, and her trail
# follows the first letter to the clinical system.
j = login("jane@athen.localhost", os.environ["PW"])
settled(j)
out["jane_list"] = api("GET", "/api/v1/downloads?state=waiting,downloaded,imported,failed", token=j)[2]
out["jane_fetch"] = api("GET", "/api/v1/downloads/" + one["id"], token=j)[0]
out["jane_report"] = api("POST", path, {{"state": "imported"}}, token=j)[0]
out["jane_inbox"] = api("GET", "/api/v1/folders/Inbox/messages", token=j)[2]["messages"]
sent = api("GET", "/api/v1/folders/Sent/messages", token=j)[2]["messages"]
sent_uid = [m for m in sent if m["message_id"] == "QZONE@athen.localhost"][0]["uid"]
out["jane_trail"] = api("GET", "/api/v1/folders/Sent/messages/%d/audit" % sent_uid, token=j)[2]
print(json.dumps(out))
"#
        ),
    );
    // Two letters name a patient and were converted; the meeting notice
    // was not, and is not offered.
    let list = v["list"]["downloads"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    let one = list
        .iter()
        .find(|d| d["message_id"] == "QZONE@athen.localhost")
        .unwrap();
    assert_eq!(one["state"], "waiting");
    assert_eq!(one["folder"], "Inbox");
    assert_eq!(one["format"], "hl7-oru:adrm2021");
    assert_eq!(one["failures"], 0);
    let name = one["file"].as_str().unwrap();
    assert!(
        name.len() == 12 && name.ends_with(".HL7"),
        "an 8.3 name: {name}"
    );
    assert!(
        one.get("subject").is_none(),
        "no subject in the list: {one}"
    );

    // The bytes are the file, with the checksum the list gave, in both headers.
    let f = &v["fetch"];
    assert_eq!(f["status"], 200);
    assert_eq!(f["hex"], one["sha256"]);
    assert_eq!(f["sha"], one["sha256"]);
    assert_eq!(
        f["digest"],
        format!("sha-256=:{}:", f["b64"].as_str().unwrap())
    );
    assert_eq!(f["disposition"], format!("attachment; filename=\"{name}\""));
    let report = hl7_validate_with_pdf(&dir.join(name));
    assert!(report.contains("ORU_R01"), "{report}");

    // Reports follow the file's life, once each.
    let status = |k: &str| v[k][0].as_u64().unwrap();
    assert_eq!(status("imported_first"), 409, "{}", v["imported_first"]);
    assert!(
        v["imported_first"][1]["error"]
            .as_str()
            .unwrap()
            .contains("downloaded\" first")
    );
    assert_eq!(status("no_sha"), 400);
    assert_eq!(status("wrong_sha"), 409);
    assert!(
        v["wrong_sha"][1]["error"]
            .as_str()
            .unwrap()
            .contains("checksum")
    );
    assert_eq!(status("downloaded"), 200);
    assert_eq!(v["downloaded"][1]["state"], "downloaded");
    assert_eq!(v["downloaded"][1]["changed"], true);
    assert_eq!(v["downloaded"][1]["sender_told"], "jane@athen.localhost");
    assert_eq!(v["downloaded_again"][1]["changed"], false);
    assert_eq!(v["downloaded_again"][1]["sender_told"], Value::Null);

    // Downloaded: no longer offered, awaiting import, moved out of the Inbox.
    let after: Vec<&str> = v["after"]["downloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(after, ["QZTWO@athen.localhost"]);
    assert_eq!(v["awaiting"]["downloads"][0]["id"], one["id"]);
    assert_eq!(v["awaiting"]["downloads"][0]["folder"], "Downloaded");
    let inbox: Vec<&str> = v["inbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(!inbox.iter().any(|s| s.contains("QZONE")), "{inbox:?}");
    assert_eq!(inbox.len(), 2, "{inbox:?}");
    assert_eq!(v["downloaded_folder"].as_array().unwrap().len(), 1);

    assert_eq!(status("failed_late"), 409);
    assert_eq!(v["imported"][1]["changed"], true);
    assert_eq!(v["imported"][1]["state"], "imported");
    assert_eq!(v["imported_again"][1]["changed"], false);
    assert_eq!(v["downloaded_late"][1]["changed"], false);
    assert_eq!(v["downloaded_late"][1]["state"], "imported");

    // The recipient's trail: received, converted, downloaded, imported,
    // each by the login that reported it.
    let kinds = |trail: &Value| -> Vec<String> {
        trail["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        kinds(&v["trail"]),
        ["received", "converted", "downloaded", "imported"],
        "{}",
        v["trail"]
    );
    let downloaded = &v["trail"]["events"][2];
    assert_eq!(downloaded["actor"], "reception@northside.example");
    assert_eq!(downloaded["file"], name);
    assert!(
        downloaded["detail"]
            .as_str()
            .unwrap()
            .contains("jane@athen.localhost was told"),
        "{downloaded}"
    );

    // A failure is kept with its reason once, counted each time, and the
    // file is offered again.
    assert_eq!(v["failed"][1]["state"], "failed");
    assert_eq!(v["failed"][1]["failures"], 1);
    assert_eq!(v["failed_again"][1]["failures"], 2);
    assert_eq!(v["failed_again"][1]["changed"], true);
    let offered = &v["still_offered"]["downloads"];
    assert_eq!(offered[0]["state"], "failed", "{offered}");
    assert_eq!(offered[0]["failures"], 2);
    assert_eq!(
        kinds(&v["trail2"]),
        ["received", "converted", "import_failed"],
        "{}",
        v["trail2"]
    );
    assert_eq!(
        v["trail2"]["events"][2]["detail"],
        "the downloader could not deliver it: No space left on device (os error 28) second line"
    );

    // Bad ids, states and lists are told apart; no token, no answer.
    assert_eq!(v["bad"], serde_json::json!([404, 404, 404, 404]));
    assert_eq!(status("bad_state"), 400);
    assert_eq!(v["bad_list"], serde_json::json!([400, 400, 400, 400]));
    assert_eq!(v["nobody"], serde_json::json!([401, 401, 401]));

    // Jane cannot see or report Northside's files.
    assert_eq!(v["jane_list"]["downloads"], serde_json::json!([]));
    assert_eq!(v["jane_fetch"], 404);
    assert_eq!(v["jane_report"], 404);
    // Her server's notices went into her trail, not her Inbox.
    assert_eq!(
        v["jane_inbox"],
        serde_json::json!([]),
        "{}",
        v["jane_inbox"]
    );
    let jane = kinds(&v["jane_trail"]);
    assert!(
        jane.ends_with(&["downloaded".to_string(), "imported".to_string()]),
        "{}",
        v["jane_trail"]
    );
    let last = v["jane_trail"]["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert_eq!(last["correspondent"], "reception@northside.example");
    assert_eq!(last["file"], name);
    assert_eq!(
        last["detail"],
        "processed by the recipient's clinical system"
    );
}
