//! The server's certificate: the one the operator gives, or a self-signed one for this
//! machine's names and addresses. The self-signed one is made once and kept, so a browser that
//! accepted it once keeps accepting it; it is made again only when it no longer names every
//! address the machine has (it moved to another network).

use std::{
    fs,
    io::Write,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
};

use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use x509_parser::{extensions::GeneralName, prelude::FromDer};

use super::TlsError;

/// The self-signed certificate's files in the data directory.
const CERT_FILE: &str = "tls-cert.pem";
const KEY_FILE: &str = "tls-key.pem";

pub(super) struct SelfSigned {
    pub(super) chain: Vec<CertificateDer<'static>>,
    pub(super) key: PrivateKeyDer<'static>,
    /// Made on this start (a browser must accept it once), not kept from an earlier one.
    pub(super) new: bool,
}

/// The chain and key in two PEM files.
pub(super) fn read(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| pem_error(cert, err))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|err| match err {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey(key.to_owned()),
        other => pem_error(key, other),
    })?;
    Ok((chain, key))
}

fn pem_error(path: &Path, err: rustls::pki_types::pem::Error) -> TlsError {
    match err {
        rustls::pki_types::pem::Error::Io(err) => TlsError::Read(path.to_owned(), err),
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoCertificate(path.to_owned()),
        other => TlsError::BadPem(path.to_owned(), other.to_string()),
    }
}

/// The names a browser on the LAN may use for this machine: `localhost`, its host name (and
/// `<name>.local`), every interface address, and `listen` if it is a specific one.
pub(super) fn machine_names(listen: IpAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_owned()];
    if let Some(host) = host_name() {
        if !host.contains('.') {
            names.push(format!("{host}.local"));
        }
        names.insert(1, host);
    }
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|interfaces| interfaces.iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    ips.extend([
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        listen,
    ]);
    for ip in ips {
        let name = ip.to_string();
        if !ip.is_unspecified() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty() && name != "localhost")
}

/// The self-signed certificate in `dir` if it names all of `names`; else a new one, saved
/// there.
pub(super) fn self_signed(dir: &Path, names: &[String]) -> Result<SelfSigned, TlsError> {
    let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if cert_path.exists() && key_path.exists() {
        let (chain, key) = read(&cert_path, &key_path)?;
        let named = names_in(&chain[0]);
        if names.iter().all(|name| named.contains(name)) {
            return Ok(SelfSigned {
                chain,
                key,
                new: false,
            });
        }
        tracing::warn!(
            "the kept certificate does not name all of this machine's addresses any more: \
             making a new one (browsers must accept it again)"
        );
    }
    let mut params = CertificateParams::new(names.to_vec())?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("onair on {}", names[0]));
    let key_pair = KeyPair::generate()?;
    let cert = params.self_signed(&key_pair)?;
    fs::create_dir_all(dir).map_err(|err| TlsError::Write(dir.to_owned(), err))?;
    write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
    write_file(&key_path, key_pair.serialize_pem().as_bytes(), 0o600)?;
    let key = PrivateKeyDer::try_from(key_pair.serialize_der())
        .map_err(|err| TlsError::BadPem(key_path, err.to_owned()))?;
    Ok(SelfSigned {
        chain: vec![cert.der().clone()],
        key,
        new: true,
    })
}

/// Write `contents` to `path` whole (a new file renamed over the old), readable as `mode`
/// says: a key only by its owner.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let partial: PathBuf = path.with_extension("partial");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    options
        .open(&partial)
        .and_then(|mut file| file.write_all(contents).and_then(|()| file.sync_all()))
        .and_then(|()| fs::rename(&partial, path))
        .map_err(|err| TlsError::Write(path.to_owned(), err))
}

/// The DNS names and addresses a certificate is for.
fn names_in(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(cert) else {
        return Vec::new();
    };
    let Ok(Some(names)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    names
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// SHA-256 of the certificate, as browsers show it: `AB:CD:…`.
pub(super) fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref())
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_certificate_is_reused_until_the_machine_gets_a_new_address() {
        let dir =
            std::env::temp_dir().join(format!("onair-tls-{}", crate::server::secrets::new_token()));
        let names = vec!["localhost".to_owned(), "192.0.2.7".to_owned()];
        let first = self_signed(&dir, &names).unwrap();
        assert!(first.new);
        assert_eq!(names_in(&first.chain[0]), names);
        let again = self_signed(&dir, &names).unwrap();
        assert!(!again.new);
        assert_eq!(fingerprint(&again.chain[0]), fingerprint(&first.chain[0]));
        let moved = [names.clone(), vec!["198.51.100.3".to_owned()]].concat();
        let renewed = self_signed(&dir, &moved).unwrap();
        assert!(renewed.new);
        assert_ne!(fingerprint(&renewed.chain[0]), fingerprint(&first.chain[0]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is its owner's only");
        }
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn the_machine_names_hold_localhost_and_the_loopback_addresses() {
        let names = machine_names(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(names[0], "localhost");
        assert!(names.contains(&"127.0.0.1".to_owned()));
        assert!(names.contains(&"::1".to_owned()));
        assert!(!names.contains(&"0.0.0.0".to_owned()));
    }

    #[test]
    fn a_fingerprint_reads_like_a_browsers() {
        let print = fingerprint(&CertificateDer::from(vec![1u8, 2, 3]));
        assert_eq!(print.len(), 32 * 3 - 1);
        assert!(print.starts_with("03:90:58:C6"), "{print}");
    }
}
