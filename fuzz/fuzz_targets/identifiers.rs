//! Everything a person types into a registration form goes through these
//! checks: none may panic, and whatever they accept must be accepted again
//! unchanged (canonical forms are fixed points).
#![no_main]

use athen_core::directory::{EntryInput, EntryRole};
use athen_core::identifiers::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let checks: [fn(&str) -> Result<String, athen_core::Invalid>; 6] = [
        medicare_number,
        provider_number,
        dva_number,
        ahpra_number,
        email_address,
        postcode,
    ];
    for check in checks {
        if let Ok(v) = check(s) {
            assert_eq!(check(&v).as_deref(), Ok(v.as_str()));
        }
    }
    if let Ok(v) = phone_number("Phone", s) {
        assert_eq!(phone_number("Phone", &v).as_deref(), Ok(v.as_str()));
    }
    for kind in [
        HealthIdentifierKind::Ihi,
        HealthIdentifierKind::HpiI,
        HealthIdentifierKind::HpiO,
    ] {
        let _ = health_identifier(kind, s);
    }
    let parts: Vec<&str> = s.split('\u{1f}').collect();
    let field = |i: usize| parts.get(i).map(|p| p.to_string());
    let input = EntryInput {
        organisation_name: field(0),
        family_name: field(1),
        state: field(2),
        postcode: field(3),
        phone: field(4),
        provider_numbers: field(5).into_iter().collect(),
        hpi: field(6),
        category: field(7),
        ..Default::default()
    };
    for role in [
        EntryRole::Organisation,
        EntryRole::Individual,
        EntryRole::Staff,
    ] {
        let _ = input.validate(role);
    }
});
