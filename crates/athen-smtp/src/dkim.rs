//! DKIM signing of mail leaving for other servers (RFC 6376), with one
//! RSA-2048 key per server made at first start. The same key signs for every
//! domain this server sends for; `athen dns-records` prints the record each
//! domain must publish at `<selector>._domainkey.<domain>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// Header fields signed (RFC 6376 §5.4.1's recommendations, plus the
/// MIME fields and our patient header, so none can be altered in transit).
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Disposition-Notification-To",
    "X-Athen-Patient",
];

type Signer = DkimSigner<RsaKey<Sha256>, Done>;

pub struct DkimKeys {
    selector: String,
    pkcs8: Zeroizing<Vec<u8>>,
    public_spki: Vec<u8>,
    signers: Mutex<HashMap<String, Arc<Signer>>>,
}

/// Makes a new RSA-2048 private key, PKCS#8 DER.
pub fn generate_key() -> Result<Zeroizing<Vec<u8>>, String> {
    use aws_lc_rs::encoding::AsDer;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|_| "cannot generate a DKIM key".to_string())?;
    let der = key
        .as_der()
        .map_err(|_| "cannot encode the DKIM key".to_string())?;
    Ok(Zeroizing::new(der.as_ref().to_vec()))
}

impl DkimKeys {
    /// From a PKCS#8 DER private key; checks that it is a usable RSA key.
    pub fn new(selector: &str, pkcs8: Zeroizing<Vec<u8>>) -> Result<Self, String> {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair;
        let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8)
            .map_err(|e| format!("the DKIM key is not a valid RSA PKCS#8 key: {e}"))?;
        let public_spki = pair
            .public_key()
            .as_der()
            .map_err(|_| "cannot encode the DKIM public key".to_string())?
            .as_ref()
            .to_vec();
        Ok(Self {
            selector: selector.to_string(),
            pkcs8,
            public_spki,
            signers: Mutex::new(HashMap::new()),
        })
    }

    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// The TXT record for `<selector>._domainkey.<domain>`.
    pub fn dns_record(&self) -> String {
        format!("v=DKIM1; k=rsa; p={}", BASE64.encode(&self.public_spki))
    }

    fn signer(&self, domain: &str) -> Result<Arc<Signer>, String> {
        let mut signers = self.signers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = signers.get(domain) {
            return Ok(Arc::clone(s));
        }
        let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            self.pkcs8.as_slice(),
        )))
        .map_err(|e| format!("DKIM key: {e}"))?;
        let signer = Arc::new(
            DkimSigner::from_key(key)
                .domain(domain)
                .selector(&self.selector)
                .headers(SIGNED_HEADERS.iter().copied())
                // Relaxed survives the whitespace changes relays make.
                .header_canonicalization(Canonicalization::Relaxed)
                .body_canonicalization(Canonicalization::Relaxed),
        );
        signers.insert(domain.to_string(), Arc::clone(&signer));
        Ok(signer)
    }

    /// The `DKIM-Signature:` field (ending in CRLF) for `message`, signed
    /// as `domain`.
    pub fn sign(&self, domain: &str, message: &[u8]) -> Result<String, String> {
        let signature = self
            .signer(&domain.to_ascii_lowercase())?
            .sign(message)
            .map_err(|e| format!("DKIM signing failed: {e}"))?;
        Ok(signature.to_header())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_with_a_generated_key_and_refuses_garbage() {
        let keys = DkimKeys::new("athen", generate_key().unwrap()).unwrap();
        assert!(keys.dns_record().starts_with("v=DKIM1; k=rsa; p=MII"));
        let header = keys
            .sign(
                "Clinic.Example",
                b"From: a@clinic.example\r\nSubject: x\r\n\r\nbody\r\n",
            )
            .unwrap();
        assert!(header.starts_with("DKIM-Signature: v=1; a=rsa-sha256; "));
        assert!(header.contains("d=clinic.example"));
        assert!(header.contains("s=athen"));
        assert!(header.ends_with("\r\n"));
        assert!(DkimKeys::new("athen", Zeroizing::new(vec![1, 2, 3])).is_err());
    }
}
