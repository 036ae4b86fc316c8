//! Who may open a signaling socket: pages of this site (or an allowed one), and at most so
//! many connections from one IP address, of which fewer may be waiting to join: a crowd
//! behind one NAT address watches, one client cannot hold open a pile of idle sockets.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::http::{header, HeaderMap};

/// Connections from one address: all of them, and those not joined yet.
#[derive(Default, Debug, Clone, Copy)]
struct Count {
    open: u32,
    pending: u32,
}

type Counts = Arc<Mutex<HashMap<IpAddr, Count>>>;

/// Signaling connections per IP address, capped.
pub struct Admission {
    max_per_ip: u32,
    max_pending_per_ip: u32,
    counts: Counts,
}

/// One counted connection from an IP address; dropping it frees the slot.
pub struct IpSlot {
    counts: Counts,
    ip: IpAddr,
    pending: bool,
}

fn lock(counts: &Mutex<HashMap<IpAddr, Count>>) -> MutexGuard<'_, HashMap<IpAddr, Count>> {
    counts
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Admission {
    pub fn new(max_per_ip: u32, max_pending_per_ip: u32) -> Self {
        Self {
            max_per_ip,
            max_pending_per_ip,
            counts: Arc::default(),
        }
    }

    /// Count one more connection from `ip`, not joined yet, or refuse it past either cap.
    pub fn admit(&self, ip: IpAddr) -> Option<IpSlot> {
        let mut counts = lock(&self.counts);
        let count = counts.entry(ip).or_default();
        if count.open >= self.max_per_ip || count.pending >= self.max_pending_per_ip {
            if count.open == 0 {
                counts.remove(&ip);
            }
            return None;
        }
        count.open += 1;
        count.pending += 1;
        Some(IpSlot {
            counts: self.counts.clone(),
            ip,
            pending: true,
        })
    }
}

impl IpSlot {
    /// The connection joined a room: it no longer counts as waiting.
    pub fn joined(&mut self) {
        if std::mem::take(&mut self.pending) {
            if let Some(count) = lock(&self.counts).get_mut(&self.ip) {
                count.pending = count.pending.saturating_sub(1);
            }
        }
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        if let Some(count) = counts.get_mut(&self.ip) {
            count.open = count.open.saturating_sub(1);
            if self.pending {
                count.pending = count.pending.saturating_sub(1);
            }
            if count.open == 0 {
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
        let admission = Admission::new(2, 2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let first = admission.admit(ip).unwrap();
        let _second = admission.admit(ip).unwrap();
        assert!(admission.admit(ip).is_none());
        assert!(admission.admit("10.0.0.2".parse().unwrap()).is_some());
        drop(first);
        assert!(admission.admit(ip).is_some());
    }

    #[test]
    fn fewer_may_wait_to_join_than_may_be_joined() {
        let admission = Admission::new(4, 2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mut slots: Vec<IpSlot> = (0..2).map(|_| admission.admit(ip).unwrap()).collect();
        assert!(admission.admit(ip).is_none(), "two wait already");
        slots.iter_mut().for_each(IpSlot::joined);
        slots.push(admission.admit(ip).unwrap());
        slots.push(admission.admit(ip).unwrap());
        assert!(admission.admit(ip).is_none(), "four are open");
        // A waiting one that leaves frees both counts; a joined one only the open count.
        slots.pop();
        let mut again = admission.admit(ip).unwrap();
        again.joined();
        slots.remove(0);
        assert!(admission.admit(ip).is_some());
        drop((slots, again));
        assert!(lock(&admission.counts).is_empty());
    }
}
