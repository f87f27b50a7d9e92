//! How the certificate of the next server is checked, per connection:
//! DANE (RFC 7672) where the host publishes DNSSEC-signed TLSA records,
//! else PKIX against the trusted roots where the domain publishes an
//! MTA-STS policy (RFC 8461) or the operator configured a smarthost, else
//! opportunistic encryption without authentication (RFC 7435). The verdict
//! is recorded for the reports and the queue, so a clinic can see whether a
//! letter travelled over an authenticated channel.

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::{Arc, Mutex};

/// One TLSA record (RFC 6698 §2.1), already filtered to what RFC 7672
/// §3.1 lets an SMTP client use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tlsa {
    /// 2 = DANE-TA, 3 = DANE-EE.
    pub usage: u8,
    /// 0 = the whole certificate, 1 = its SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0 = exact, 1 = SHA-256, 2 = SHA-512.
    pub matching: u8,
    pub data: Vec<u8>,
}

impl Tlsa {
    /// RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are not used for SMTP;
    /// unknown selectors and matching types cannot be used either.
    pub fn usable(&self) -> bool {
        matches!(self.usage, 2 | 3) && self.selector <= 1 && self.matching <= 2
    }

    /// Whether `cert` is the certificate (or key) this record names.
    pub fn matches(&self, cert: &CertificateDer<'_>) -> bool {
        let selected: Vec<u8> = match self.selector {
            0 => cert.as_ref().to_vec(),
            1 => match webpki::anchor_from_trusted_cert(cert) {
                Ok(anchor) => webpki::spki_for_anchor(&anchor).as_ref().to_vec(),
                Err(_) => return false,
            },
            _ => return false,
        };
        let digest = |alg| aws_lc_rs::digest::digest(alg, &selected).as_ref().to_vec();
        let value = match self.matching {
            0 => selected.clone(),
            1 => digest(&aws_lc_rs::digest::SHA256),
            2 => digest(&aws_lc_rs::digest::SHA512),
            _ => return false,
        };
        value == self.data
    }

    fn label(&self) -> String {
        format!("{} {} {}", self.usage, self.selector, self.matching)
    }
}

/// What the certificate of one connection must satisfy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertCheck {
    /// Encrypt, but accept any certificate: nothing says which one is right.
    Opportunistic,
    /// The certificate must be valid for the host name under the trusted
    /// roots. With `enforce` false (an MTA-STS policy in "testing" mode) a
    /// failure is recorded and the mail still goes.
    Pkix {
        enforce: bool,
        /// Why this is checked, for the record ("MTA-STS", "smarthost").
        because: &'static str,
    },
    /// The certificate must match one of these DNSSEC-validated records.
    Dane(Vec<Tlsa>),
}

impl CertCheck {
    /// Whether this check forbids the operator's plain-text exception:
    /// DANE and an enforced MTA-STS policy both mean "TLS or nothing".
    pub fn requires_tls(&self) -> bool {
        matches!(
            self,
            CertCheck::Dane(_) | CertCheck::Pkix { enforce: true, .. }
        )
    }
}

/// The crypto provider and trust roots shared by all outbound connections.
#[derive(Clone, Debug)]
pub struct TlsTrust {
    provider: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
}

impl TlsTrust {
    pub fn new(roots: RootCertStore) -> Self {
        Self {
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            roots: Arc::new(roots),
        }
    }

    /// The system's trust roots (`/etc/ssl/certs` on Debian) plus the PEM
    /// certificates in `extra_ca_file` (a private CA). Returns how many
    /// roots were loaded, for the start-up summary.
    pub fn load(extra_ca_file: Option<&std::path::Path>) -> Result<(Self, usize), String> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::warn!(error = %e, "a system trust root could not be read");
        }
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        let mut count = added;
        if let Some(path) = extra_ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
            use rustls_pki_types::pem::PemObject;
            let mut found = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert =
                    cert.map_err(|e| format!("the CA file {} is not PEM: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("a certificate in {} is unusable: {e}", path.display()))?;
                found += 1;
            }
            if found == 0 {
                return Err(format!(
                    "the CA file {} holds no certificate",
                    path.display()
                ));
            }
            count += found;
        }
        Ok((Self::new(roots), count))
    }

    /// A TLS client configuration for one connection under `check`, and
    /// the slot its verifier writes its verdict into.
    pub fn client_config(&self, check: &CertCheck) -> (Arc<rustls::ClientConfig>, Verdict) {
        let verdict = Verdict::default();
        let pkix = match check {
            CertCheck::Pkix { .. } => self.pkix_verifier(Arc::clone(&self.roots)),
            _ => None,
        };
        let verifier = PolicyVerifier {
            check: check.clone(),
            pkix,
            trust: self.clone(),
            verdict: verdict.clone(),
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .expect("the default provider supports the default TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        (Arc::new(config), verdict)
    }

    /// A plain PKIX client configuration (for fetching MTA-STS policies).
    pub fn webpki_config(&self) -> Arc<rustls::ClientConfig> {
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .expect("the default provider supports the default TLS versions")
            .with_root_certificates(Arc::clone(&self.roots))
            .with_no_client_auth();
        Arc::new(config)
    }

    fn pkix_verifier(&self, roots: Arc<RootCertStore>) -> Option<Arc<WebPkiServerVerifier>> {
        WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&self.provider))
            .build()
            .map_err(|e| tracing::warn!(error = %e, "no certificate verifier: no trust roots"))
            .ok()
    }

    /// RFC 7672 §3.1: DANE-EE(3) matches the server's own certificate or
    /// key, without name or date checks (§3.1.1); DANE-TA(2) matches a
    /// certificate in the chain the server sent, which must then issue a
    /// valid chain to a certificate naming the host (§3.1.2, §3.2.2).
    fn dane_verify(
        &self,
        records: &[Tlsa],
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        host: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<String, String> {
        if let Some(r) = records
            .iter()
            .find(|r| r.usage == 3 && r.matches(end_entity))
        {
            return Ok(format!("certificate verified by DANE (TLSA {})", r.label()));
        }
        let mut why = String::from("the certificate matches none of the host's TLSA records");
        for r in records.iter().filter(|r| r.usage == 2) {
            for anchor in intermediates.iter().filter(|c| r.matches(c)) {
                let mut roots = RootCertStore::empty();
                if roots.add(anchor.clone().into_owned()).is_err() {
                    continue;
                }
                let Some(verifier) = self.pkix_verifier(Arc::new(roots)) else {
                    continue;
                };
                match verifier.verify_server_cert(end_entity, intermediates, host, &[], now) {
                    Ok(_) => {
                        return Ok(format!("certificate verified by DANE (TLSA {})", r.label()));
                    }
                    Err(e) => {
                        why = format!("the chain does not validate from the DANE trust anchor: {e}")
                    }
                }
            }
        }
        Err(why)
    }
}

/// The verdict of a connection's certificate check, e.g. "certificate
/// verified by DANE (TLSA 3 1 1)".
#[derive(Clone, Debug, Default)]
pub struct Verdict(Arc<Mutex<Option<String>>>);

impl Verdict {
    fn set(&self, text: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
    }

    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[derive(Debug)]
struct PolicyVerifier {
    check: CertCheck,
    pkix: Option<Arc<WebPkiServerVerifier>>,
    trust: TlsTrust,
    verdict: Verdict,
}

impl ServerCertVerifier for PolicyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.check {
            CertCheck::Opportunistic => {
                self.verdict.set(
                    "certificate not verified: the domain publishes neither MTA-STS nor DANE"
                        .into(),
                );
                Ok(ServerCertVerified::assertion())
            }
            CertCheck::Pkix { enforce, because } => {
                let result = match &self.pkix {
                    Some(v) => v
                        .verify_server_cert(
                            end_entity,
                            intermediates,
                            server_name,
                            ocsp_response,
                            now,
                        )
                        .map_err(|e| e.to_string()),
                    None => Err("no trust roots are installed".into()),
                };
                match result {
                    Ok(ok) => {
                        self.verdict
                            .set(format!("certificate verified ({because})"));
                        Ok(ok)
                    }
                    Err(e) if !enforce => {
                        self.verdict.set(format!(
                            "certificate NOT valid ({e}); sent anyway because the {because} policy is in testing mode"
                        ));
                        Ok(ServerCertVerified::assertion())
                    }
                    Err(e) => {
                        let text = format!("certificate not valid ({because} requires it): {e}");
                        self.verdict.set(text.clone());
                        Err(rustls::Error::General(text))
                    }
                }
            }
            CertCheck::Dane(records) => {
                match self
                    .trust
                    .dane_verify(records, end_entity, intermediates, server_name, now)
                {
                    Ok(text) => {
                        self.verdict.set(text);
                        Ok(ServerCertVerified::assertion())
                    }
                    Err(e) => {
                        let text = format!("DANE: {e}");
                        self.verdict.set(text.clone());
                        Err(rustls::Error::General(text))
                    }
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.trust.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.trust.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.trust
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Chain {
        ca: CertificateDer<'static>,
        leaf: CertificateDer<'static>,
        leaf_spki: Vec<u8>,
    }

    fn chain(host: &str) -> Chain {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec![host.to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        Chain {
            ca: ca_cert.der().clone(),
            leaf: leaf.der().clone(),
            leaf_spki: rcgen::PublicKeyData::subject_public_key_info(&leaf_key),
        }
    }

    fn sha256(d: &[u8]) -> Vec<u8> {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d)
            .as_ref()
            .to_vec()
    }

    fn tlsa(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Tlsa {
        Tlsa {
            usage,
            selector,
            matching,
            data,
        }
    }

    fn verify(records: &[Tlsa], c: &Chain, host: &str) -> Result<String, String> {
        let trust = TlsTrust::new(RootCertStore::empty());
        let name = ServerName::try_from(host.to_string()).unwrap();
        trust.dane_verify(
            records,
            &c.leaf,
            std::slice::from_ref(&c.ca),
            &name,
            UnixTime::now(),
        )
    }

    #[test]
    fn dane_ee_matches_the_key_or_certificate_and_ignores_the_name() {
        let c = chain("mx.example.test");
        let spki_sha256 = sha256(&c.leaf_spki);
        assert!(verify(&[tlsa(3, 1, 1, spki_sha256.clone())], &c, "other.test").is_ok());
        assert!(verify(&[tlsa(3, 0, 1, sha256(&c.leaf))], &c, "mx.example.test").is_ok());
        assert!(verify(&[tlsa(3, 1, 0, c.leaf_spki.clone())], &c, "mx.example.test").is_ok());
        let sha512 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, &c.leaf_spki);
        assert!(
            verify(
                &[tlsa(3, 1, 2, sha512.as_ref().to_vec())],
                &c,
                "mx.example.test"
            )
            .is_ok()
        );
        let mut wrong = spki_sha256;
        wrong[0] ^= 1;
        let err = verify(&[tlsa(3, 1, 1, wrong)], &c, "mx.example.test").unwrap_err();
        assert!(err.contains("matches none"), "{err}");
    }

    #[test]
    fn dane_ta_needs_the_chain_and_the_host_name() {
        let c = chain("mx.example.test");
        let ta = tlsa(2, 0, 1, sha256(&c.ca));
        let ok = verify(std::slice::from_ref(&ta), &c, "mx.example.test").unwrap();
        assert!(ok.contains("TLSA 2 0 1"), "{ok}");
        let err = verify(&[ta], &c, "wrong.example.test").unwrap_err();
        assert!(err.contains("trust anchor"), "{err}");
        // A TA record naming the leaf itself is not a trust anchor.
        assert!(verify(&[tlsa(2, 0, 1, sha256(&c.leaf))], &c, "mx.example.test").is_err());
    }

    #[test]
    fn pkix_usages_and_unknown_types_are_unusable() {
        assert!(!tlsa(0, 0, 1, vec![]).usable());
        assert!(!tlsa(1, 1, 1, vec![]).usable());
        assert!(!tlsa(3, 2, 1, vec![]).usable());
        assert!(!tlsa(3, 1, 3, vec![]).usable());
        assert!(tlsa(2, 1, 2, vec![]).usable());
    }
}
