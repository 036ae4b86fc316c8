//! Who may open a signaling socket: pages of this site (or an allowed one), and at most so
//! many connections from one IP address.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::http::{header, HeaderMap};

/// Signaling connections per IP address, capped.
pub struct Admission {
    max_per_ip: u32,
    counts: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// One counted connection from an IP address; dropping it frees the slot.
pub struct IpSlot {
    counts: Arc<Mutex<HashMap<IpAddr, u32>>>,
    ip: IpAddr,
}

fn lock(counts: &Mutex<HashMap<IpAddr, u32>>) -> MutexGuard<'_, HashMap<IpAddr, u32>> {
    counts
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Admission {
    pub fn new(max_per_ip: u32) -> Self {
        Self {
            max_per_ip,
            counts: Arc::default(),
        }
    }

    /// Count one more connection from `ip`, or refuse it past the cap.
    pub fn admit(&self, ip: IpAddr) -> Option<IpSlot> {
        let mut counts = lock(&self.counts);
        let count = counts.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            counts: self.counts.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Browsers always send `Origin`; it must be this site (the `Host` it asked for) or one the
/// server allows. Clients without `Origin` (OBS, tools) are not browsers and cannot be hijacked.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let own = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                == Some(host)
        });
    own || allowed.iter().any(|a| a.trim_end_matches('/') == origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn origin_must_be_the_site_or_allowed() {
        let allowed = vec!["https://intranet.example".to_string()];
        assert!(origin_allowed(&headers(None, "a:3000"), &allowed));
        assert!(origin_allowed(
            &headers(Some("http://a:3000"), "a:3000"),
            &allowed
        ));
        assert!(origin_allowed(
            &headers(Some("https://a:3000"), "a:3000"),
            &allowed
        ));
        assert!(origin_allowed(
            &headers(Some("https://intranet.example"), "a:3000"),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(Some("http://evil.example"), "a:3000"),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(Some("http://a:3000.evil"), "a:3000"),
            &allowed
        ));
    }

    #[test]
    fn the_cap_counts_live_slots_per_address() {
        let admission = Admission::new(2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let first = admission.admit(ip).unwrap();
        let _second = admission.admit(ip).unwrap();
        assert!(admission.admit(ip).is_none());
        assert!(admission.admit("10.0.0.2".parse().unwrap()).is_some());
        drop(first);
        assert!(admission.admit(ip).is_some());
    }
}
