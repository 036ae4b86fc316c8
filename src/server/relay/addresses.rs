//! The addresses the relay announces to browsers as its ICE candidates.
//!
//! A datagram's destination address must be one of these (str0m matches it against its local
//! candidates), so the socket reports the destination of each datagram it reads.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use str0m::Candidate;

use super::RelayError;

/// Where the media socket listens: the HTTP server's address when it is a specific one (the
/// operator chose that interface), every IPv4 address otherwise.
pub(super) fn bind_ip(http_ip: IpAddr) -> IpAddr {
    if is_specific(http_ip) {
        http_ip
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// A specific address serves browsers by itself; otherwise every IPv4 interface address does
/// (loopback too: a browser on this machine, and the tests, reach the server there).
/// `public_ip`, behind a 1:1 NAT, is announced besides them as a server-reflexive candidate.
pub(super) fn candidates(
    http_ip: IpAddr,
    port: u16,
    public_ip: Option<IpAddr>,
) -> Result<Vec<Candidate>, RelayError> {
    let mut ips: Vec<IpAddr> = if is_specific(http_ip) {
        vec![http_ip]
    } else {
        interface_ips()
    };
    // Interface addresses first: a browser elsewhere on the LAN tries them first.
    ips.sort_by_key(|ip| ip.is_loopback());
    ips.dedup();
    let mut candidates: Vec<Candidate> = ips
        .iter()
        .filter_map(|ip| Candidate::host(SocketAddr::new(*ip, port), "udp").ok())
        .collect();
    let base = ips.iter().find(|ip| !ip.is_loopback()).or(ips.first());
    if let (Some(public), Some(base)) = (public_ip, base) {
        match Candidate::server_reflexive(
            SocketAddr::new(public, port),
            SocketAddr::new(*base, port),
            "udp",
        ) {
            Ok(candidate) => candidates.push(candidate),
            Err(err) => tracing::warn!("--public-ip {public} is not announced: {err}"),
        }
    }
    if candidates.is_empty() {
        return Err(RelayError::NoAddress);
    }
    Ok(candidates)
}

fn is_specific(ip: IpAddr) -> bool {
    !ip.is_unspecified() && !ip.is_loopback()
}

/// The machine's IPv4 addresses (the socket listens on IPv4).
fn interface_ips() -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|interfaces| interfaces.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_else(|err| {
            tracing::warn!("cannot list the network interfaces: {err}");
            Vec::new()
        });
    ips.retain(|ip| ip.is_ipv4());
    if !ips.iter().any(|ip| ip.is_loopback()) {
        ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specific_address_is_the_only_one() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let found = candidates(ip, 4000, None).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].addr(), SocketAddr::new(ip, 4000));
        assert_eq!(bind_ip(ip), ip);
    }

    #[test]
    fn any_address_announces_the_interfaces_then_loopback_and_the_public_one() {
        let public: IpAddr = "203.0.113.9".parse().unwrap();
        let found = candidates("0.0.0.0".parse().unwrap(), 4000, Some(public)).unwrap();
        let addrs: Vec<SocketAddr> = found.iter().map(|c| c.addr()).collect();
        assert!(
            addrs.contains(&"127.0.0.1:4000".parse().unwrap()),
            "{addrs:?}"
        );
        assert_eq!(addrs.last(), Some(&SocketAddr::new(public, 4000)));
        assert!(addrs.iter().all(|a| a.port() == 4000));
        assert!(bind_ip("127.0.0.1".parse().unwrap()).is_unspecified());
    }
}
