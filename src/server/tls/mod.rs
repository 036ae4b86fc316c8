//! HTTPS. Browsers hand out the camera only on a secure page: a broadcaster on another machine
//! of the LAN needs the server to speak HTTPS, and `--tls` makes that one flag.
//!
//! - [`certificate`]: the certificate: the one given (`--tls-cert`, `--tls-key`), or a
//!   self-signed one for this machine's names and addresses, made once and kept in the data
//!   directory.
//! - [`listener`]: the port: TLS handshakes off the accept loop, and plain HTTP on the same
//!   port answered with a redirect to HTTPS.

mod certificate;
mod listener;

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use rustls::ServerConfig;

pub use listener::TlsListener;

use super::config::TlsSettings;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("cannot write {0}: {1} (pick another directory with --data-dir)")]
    Write(PathBuf, std::io::Error),
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("{0} holds no PEM private key")]
    NoKey(PathBuf),
    #[error("{0} is not PEM: {1}")]
    BadPem(PathBuf, String),
    #[error("the certificate and key cannot be used: {0}")]
    Unusable(#[from] rustls::Error),
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// What the server needs to speak HTTPS, and what to tell the person who started it.
pub struct Tls {
    pub(super) config: Arc<ServerConfig>,
    /// SHA-256 of the certificate, as browsers show it (`AB:CD:…`).
    pub fingerprint: String,
    /// Where the certificate came from, for the start-up log.
    pub origin: String,
}

/// The certificate `settings` asks for, ready to serve on `addr`; `None` without HTTPS.
pub fn load(settings: &TlsSettings, addr: SocketAddr) -> Result<Option<Tls>, TlsError> {
    if !settings.enabled() {
        return Ok(None);
    }
    let (chain, key, origin) = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => {
            let (chain, key) = certificate::read(cert, key)?;
            (chain, key, format!("the certificate in {}", cert.display()))
        }
        _ => {
            let dir = settings.data_dir();
            let names = certificate::machine_names(addr.ip());
            let made = certificate::self_signed(&dir, &names)?;
            let origin = format!(
                "a self-signed certificate {} {} for {} (browsers warn about it once: \
                 check the fingerprint, then accept it)",
                if made.new { "made in" } else { "kept in" },
                dir.display(),
                names.join(", ")
            );
            (made.chain, made.key, origin)
        }
    };
    let fingerprint = certificate::fingerprint(&chain[0]);
    // The provider named, not the process default: no other crate's choice can change it.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // HTTP/1.1 only: the WebSocket upgrade needs it, and the pages are few requests.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Tls {
        config: Arc::new(config),
        fingerprint,
        origin,
    }))
}
