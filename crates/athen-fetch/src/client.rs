//! The HTTPS client of the ATHEN API (docs/api.md): one HTTP/1.1
//! connection kept open for a whole cycle (hyper over rustls), opened
//! again when the server closed it. TLS only; the certificate is checked
//! either by the computer's trusted roots or against the one pinned at
//! setup ([`Trust`]).

use crate::config::Trust;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroize::Zeroizing;

/// The longest one request may take (a file is small: letters of tens of
/// kilobytes, a few megabytes with a PDF).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// A download larger than this is refused, whatever the list said.
const MAX_DOWNLOAD: u64 = 256 << 20;

/// What went wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the server: {0}")]
    Network(String),
    #[error("the server's certificate is not trusted: {0}")]
    Certificate(String),
    #[error("the server refused the login: {0}")]
    Refused(String),
    #[error("the server answered {status}: {message}")]
    Server { status: u16, message: String },
}

impl ClientError {
    /// Whether trying again later may help (the network, the server), as
    /// against a setting to mend (certificate, token).
    pub fn is_transient(&self) -> bool {
        matches!(self, ClientError::Network(_))
            || matches!(self, ClientError::Server { status, .. } if *status >= 500)
    }
}

/// `https://host[:port]`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerAddress {
    pub host: String,
    pub port: u16,
}

impl ServerAddress {
    pub fn parse(url: &str) -> Result<ServerAddress, String> {
        let rest = url.trim().strip_prefix("https://").ok_or_else(|| {
            "give the address as https://host (the API is over TLS only)".to_string()
        })?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!("{url:?} is not https://host or https://host:port"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("{p:?} is not a port number"))?;
                (h, port)
            }
            _ => (authority, 443),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        Ok(ServerAddress {
            host: host.to_string(),
            port,
        })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 443 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn sha256_hex(der: &[u8]) -> String {
    crate::files::hex(&Sha256::digest(der))
}

/// Accepts only the pinned certificate; the handshake's signatures are
/// still checked with its key, so a copy of the certificate without the
/// private key gets nowhere.
#[derive(Debug)]
struct Pinned {
    sha256: String,
    provider: Arc<CryptoProvider>,
    /// The certificate presented, for the error message.
    seen: Mutex<Option<String>>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = sha256_hex(end_entity);
        if got.eq_ignore_ascii_case(&self.sha256) {
            Ok(ServerCertVerified::assertion())
        } else {
            *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(got);
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// How a connection's certificate is checked, and what it saw.
enum Checker {
    System,
    Pinned(Arc<Pinned>),
}

fn tls_config(trust: &Trust) -> Result<(rustls::ClientConfig, Checker), ClientError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Certificate(e.to_string()))?;
    let (mut config, checker) = match trust {
        Trust::System => {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(ClientError::Certificate(
                    "this computer has no trusted certificate authorities to check the server with"
                        .into(),
                ));
            }
            (
                builder.with_root_certificates(roots).with_no_client_auth(),
                Checker::System,
            )
        }
        Trust::Pinned { sha256 } => {
            let pinned = Arc::new(Pinned {
                sha256: sha256.clone(),
                provider,
                seen: Mutex::new(None),
            });
            (
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(pinned.clone())
                    .with_no_client_auth(),
                Checker::Pinned(pinned),
            )
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, checker))
}

/// The certificate a server presents, whatever it is (for `setup` to show
/// and pin on first use). Checked against a pin no certificate has, it is
/// recorded and refused, so nothing is ever sent over this connection.
pub async fn presented_certificate(address: &ServerAddress) -> Result<String, ClientError> {
    let (config, checker) = tls_config(&Trust::Pinned {
        sha256: String::new(),
    })?;
    let _ = tls_connect(address, config).await;
    let seen = match checker {
        Checker::Pinned(p) => p.seen.lock().unwrap_or_else(|x| x.into_inner()).take(),
        Checker::System => None,
    };
    seen.ok_or_else(|| {
        ClientError::Network(format!(
            "no TLS server answered at {}",
            address.host_header()
        ))
    })
}

async fn tls_connect(
    address: &ServerAddress,
    config: rustls::ClientConfig,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ClientError> {
    let name = ServerName::try_from(address.host.clone())
        .map_err(|_| ClientError::Network(format!("{:?} is not a host name", address.host)))?;
    let tcp = tokio::time::timeout(
        REQUEST_TIMEOUT,
        tokio::net::TcpStream::connect((address.host.as_str(), address.port)),
    )
    .await
    .map_err(|_| ClientError::Network("no answer within a minute".into()))?
    .map_err(|e| ClientError::Network(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    connector.connect(name, tcp).await.map_err(|e| {
        let text = e.to_string();
        if text.contains("certificate") || text.contains("Certificate") {
            ClientError::Certificate(text)
        } else {
            ClientError::Network(text)
        }
    })
}

/// What a request carries.
enum Body<'a> {
    Empty,
    Json(&'a Value),
    File { bytes: Bytes, key: &'a str },
}

/// A connection to one ATHEN server, logged in or not.
pub struct Client {
    address: ServerAddress,
    trust: Trust,
    sender: Option<SendRequest<Full<Bytes>>>,
    session: Option<Zeroizing<String>>,
}

/// An answer: its status, headers and body.
pub struct Answer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `error` of an error answer, or the status's own words.
    pub fn error_text(&self) -> String {
        self.json()["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                self.status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_string()
            })
    }

    pub fn into_error(self) -> ClientError {
        let message = self.error_text();
        match self.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ClientError::Refused(message),
            s => ClientError::Server {
                status: s.as_u16(),
                message,
            },
        }
    }
}

impl Client {
    pub fn new(address: ServerAddress, trust: Trust) -> Client {
        Client {
            address,
            trust,
            sender: None,
            session: None,
        }
    }

    async fn connection(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, ClientError> {
        if self.sender.as_ref().is_some_and(|s| !s.is_closed()) {
            return Ok(self.sender.as_mut().expect("checked just now"));
        }
        let (config, checker) = tls_config(&self.trust)?;
        let tls = tls_connect(&self.address, config).await.map_err(|e| match (&checker, e) {
            (Checker::Pinned(p), ClientError::Certificate(_)) => {
                let seen = p.seen.lock().unwrap_or_else(|x| x.into_inner()).clone();
                ClientError::Certificate(format!(
                    "the server's certificate changed (pinned {}, now {}); if the practice's server really has a new certificate, run \"athen-fetch setup\" again to trust it",
                    p.sha256,
                    seen.as_deref().unwrap_or("unknown")
                ))
            }
            (Checker::System, ClientError::Certificate(why)) => ClientError::Certificate(format!(
                "{why}; for a server with a self-signed certificate, run \"athen-fetch setup\" and pin it"
            )),
            (_, e) => e,
        })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| ClientError::Network(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(self.sender.as_mut().expect("just set"))
    }

    fn request(&self, method: Method, path: &str, body: &Body<'_>) -> Request<Full<Bytes>> {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.address.host_header())
            .header(
                header::USER_AGENT,
                concat!("athen-fetch/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(token) = &self.session {
            b = b.header(header::AUTHORIZATION, format!("Bearer {}", token.as_str()));
        }
        let body = match body {
            Body::Empty => Bytes::new(),
            Body::Json(v) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            Body::File { bytes, key } => {
                b = b
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .header("idempotency-key", *key);
                bytes.clone()
            }
        };
        b.body(Full::new(body)).expect("a request of valid parts")
    }

    /// Sends one request and reads the answer, streaming its body into
    /// `sink` with the answer's status (at most `limit` bytes). A
    /// connection the server had closed is opened again once.
    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        body: &Body<'_>,
        limit: u64,
        sink: &mut dyn FnMut(StatusCode, &[u8]) -> std::io::Result<()>,
    ) -> Result<(StatusCode, hyper::HeaderMap), ClientError> {
        let work = async {
            let mut retried = false;
            let response = loop {
                let req = self.request(method.clone(), path, body);
                let conn = self.connection().await?;
                match conn.send_request(req).await {
                    Ok(r) => break r,
                    Err(e)
                        if !retried
                            && (e.is_canceled() || e.is_closed() || e.is_incomplete_message()) =>
                    {
                        // The server closed a kept-alive connection.
                        self.sender = None;
                        retried = true;
                    }
                    Err(e) => {
                        self.sender = None;
                        return Err(ClientError::Network(e.to_string()));
                    }
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let mut body = response.into_body();
            let mut got = 0u64;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| {
                    self.sender = None;
                    ClientError::Network(format!("the answer broke off: {e}"))
                })?;
                if let Some(data) = frame.data_ref() {
                    got += data.len() as u64;
                    if got > limit {
                        self.sender = None;
                        return Err(ClientError::Server {
                            status: status.as_u16(),
                            message: "the answer is larger than it may be".into(),
                        });
                    }
                    sink(status, data).map_err(|e| {
                        ClientError::Network(format!("cannot keep the answer: {e}"))
                    })?;
                }
            }
            Ok((status, headers))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, work).await {
            Ok(r) => r,
            Err(_) => {
                self.sender = None;
                Err(ClientError::Network(
                    "the server did not answer within a minute".into(),
                ))
            }
        }
    }

    /// A request whose answer is read whole (JSON, small).
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let body = body.map_or(Body::Empty, Body::Json);
        self.call_with(method, path, &body).await
    }

    /// Sends a file as the body, with the key that makes sending it again
    /// harmless (`Idempotency-Key`); the answer is read whole.
    pub async fn send_file(
        &mut self,
        path: &str,
        bytes: Bytes,
        key: &str,
    ) -> Result<Answer, ClientError> {
        self.call_with(Method::POST, path, &Body::File { bytes, key })
            .await
    }

    async fn call_with(
        &mut self,
        method: Method,
        path: &str,
        body: &Body<'_>,
    ) -> Result<Answer, ClientError> {
        let mut buf = Vec::new();
        let (status, headers) = self
            .exchange(method, path, body, 16 << 20, &mut |_, d| {
                buf.extend_from_slice(d);
                Ok(())
            })
            .await?;
        Ok(Answer {
            status,
            headers,
            body: buf,
        })
    }

    /// A request whose answer must be 2xx JSON.
    pub async fn json(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let a = self.call(method, path, body).await?;
        if !a.status.is_success() {
            return Err(a.into_error());
        }
        Ok(a.json())
    }

    /// Downloads into `sink`; returns the headers of a `200`.
    pub async fn download(
        &mut self,
        path: &str,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<hyper::HeaderMap, ClientError> {
        let mut error_body = Vec::new();
        let (status, headers) = self
            .exchange(
                Method::GET,
                path,
                &Body::Empty,
                MAX_DOWNLOAD,
                &mut |status, d| {
                    // Only a 200's body goes to the sink; an error's is read.
                    if status == StatusCode::OK {
                        sink(d)
                    } else {
                        error_body.extend_from_slice(d);
                        Ok(())
                    }
                },
            )
            .await?;
        if status != StatusCode::OK {
            return Err(Answer {
                status,
                headers,
                body: error_body,
            }
            .into_error());
        }
        Ok(headers)
    }

    /// Logs in with the app token; the session is used from then on.
    pub async fn log_in(&mut self, login: &str, token: &str) -> Result<(), ClientError> {
        let body = serde_json::json!({"login": login, "password": token});
        let a = self
            .call(Method::POST, "/api/v1/session", Some(&body))
            .await?;
        if a.status != StatusCode::CREATED {
            return Err(a.into_error());
        }
        let v = a.json();
        let t = v["token"].as_str().ok_or_else(|| ClientError::Server {
            status: 201,
            message: "the log-in answer has no token".into(),
        })?;
        self.session = Some(Zeroizing::new(t.to_string()));
        Ok(())
    }

    /// Logs out (the mailbox locks again if no one else has it open).
    pub async fn log_out(&mut self) {
        if self.session.is_some() {
            let _ = self.call(Method::DELETE, "/api/v1/session", None).await;
            self.session = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_are_https_only() {
        let a = ServerAddress::parse("https://mail.example").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("mail.example", 443));
        let a = ServerAddress::parse("https://localhost:8443/").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("localhost", 8443));
        assert_eq!(a.host_header(), "localhost:8443");
        let a = ServerAddress::parse("https://[::1]:8443").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 8443));
        assert_eq!(a.host_header(), "[::1]:8443");
        for bad in [
            "http://mail.example",
            "mail.example",
            "https://",
            "https://mail.example:0",
            "https://mail.example:99999",
            "https://mail.example/api",
            "https://user@mail.example",
        ] {
            assert!(ServerAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
