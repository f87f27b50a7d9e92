//! Limits on connections: open ones per source address and in all, and
//! new ones per address per minute, so one client cannot exhaust a
//! listening service (SMTP, IMAP, HTTPS). An IPv6 address is counted by
//! its /64, which one customer network holds whole.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counts open connections per address; a slot is released when dropped.
#[derive(Default)]
pub struct Slots {
    per_address: Mutex<HashMap<IpAddr, usize>>,
    /// When each address last opened connections (sliding 60-second window).
    recent: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

pub struct Slot {
    slots: Arc<Slots>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self
            .slots
            .per_address
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// The address limits are counted under: an IPv4 address as it is (an
/// IPv4-mapped IPv6 one as IPv4), an IPv6 address as its /64.
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Slots {
    /// Records a new connection from `ip`; false if it opened too many in the
    /// last minute.
    pub fn rate_ok(&self, ip: IpAddr, per_minute: usize) -> bool {
        let ip = network_of(ip);
        let now = Instant::now();
        let window = Duration::from_secs(60);
        let mut m = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 10_000 {
            m.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let q = m.entry(ip).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        if q.len() >= per_minute {
            return false;
        }
        q.push_back(now);
        true
    }

    pub fn take(self: &Arc<Self>, ip: IpAddr, per_address: usize, total: usize) -> Option<Slot> {
        let ip = network_of(ip);
        let mut m = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        let all: usize = m.values().sum();
        let mine = m.get(&ip).copied().unwrap_or(0);
        if mine >= per_address || all >= total {
            return None;
        }
        m.insert(ip, mine + 1);
        Some(Slot {
            slots: self.clone(),
            ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_network_shares_its_slots() {
        let slots = Arc::new(Slots::default());
        let a: IpAddr = "2001:db8:5:6::1".parse().unwrap();
        let b: IpAddr = "2001:db8:5:6:ffff::2".parse().unwrap();
        let other: IpAddr = "2001:db8:5:7::1".parse().unwrap();
        let held = slots.take(a, 2, 100).unwrap();
        let _also = slots.take(b, 2, 100).unwrap();
        assert!(slots.take(b, 2, 100).is_none());
        assert!(slots.take(other, 2, 100).is_some());
        drop(held);
        assert!(slots.take(a, 2, 100).is_some());
        assert_eq!(
            network_of("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
