//! Delivery reports quote the original message's header section (RFC 3464,
//! RFC 3462), which comes from anyone: any bytes must give a report whose
//! own header section has no bare line feeds and ends where it should.
#![no_main]

use athen_smtp::outbound::report::{Action, RecipientReport, ReportOn, Reporter, build};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let by = Reporter {
        hostname: "mx.athen.test",
        domain: "athen.test",
    };
    let on = ReportOn {
        mail_from: "a@b.test",
        envid: Some("E1"),
        arrived: 1_700_000_000,
        original: data,
        return_full: data.first() == Some(&b'F'),
    };
    let r = RecipientReport {
        address: "c@d.test",
        orcpt: None,
        reply: Some("550 5.1.1 no"),
        remote_host: None,
        tls: None,
    };
    for action in [Action::Failed, Action::Delivered] {
        let out = build(action, &by, &on, &[r.clone()], 1_700_000_100, None, "id");
        let end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header section");
        let head = &out[..end + 2];
        assert!(
            head.windows(2)
                .enumerate()
                .all(|(i, w)| w[1] != b'\n' || w[0] == b'\r' || i == 0),
            "bare LF in the report's header"
        );
    }
});
