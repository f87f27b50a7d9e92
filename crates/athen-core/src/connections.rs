//! Limits on connections: open ones per source address and in all, and
//! new ones per address per minute, so one client cannot exhaust a
//! listening service (SMTP, IMAP).

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

impl Slots {
    /// Records a new connection from `ip`; false if it opened too many in the
    /// last minute.
    pub fn rate_ok(&self, ip: IpAddr, per_minute: usize) -> bool {
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
