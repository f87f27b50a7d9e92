//! Files of the downloader's upload folder come from the practice's PC
//! over the API (`POST /api/v1/outbox`): any bytes, as any kind, must get
//! an addressee or a reason, never a panic; an addressee's provider number
//! is always one that passes its check.
#![no_main]

use athen_clinical::date::Date;
use athen_clinical::upload::{UploadKind, read};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let kind = [UploadKind::Pit, UploadKind::Hl7, UploadKind::Rtf, UploadKind::Docx][pick as usize % 4];
    if let Ok(a) = read(kind, bytes, Date::new(2026, 12, 1).unwrap()) {
        assert!(athen_core::identifiers::provider_number(&a.provider_number).is_ok());
    }
});
