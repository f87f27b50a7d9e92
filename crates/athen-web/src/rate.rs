//! A per-address limit on how often a public page may be asked for (the
//! directory and its suggestions): enough for any person, not enough to
//! copy the directory wholesale or to tie up the server.

use athen_core::clock::UnixTime;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// At most `per_minute` requests from one address in each minute; 0 is no
/// limit.
pub struct RateLimit {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, (UnixTime, u32)>>,
}

/// Beyond this many addresses, those of past minutes are forgotten.
const MAX_ADDRESSES: usize = 100_000;

impl RateLimit {
    pub fn new(per_minute: u32) -> Self {
        RateLimit {
            per_minute,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request; `Err(seconds)` to wait if the address is over.
    pub fn allow(&self, from: Option<IpAddr>, now: UnixTime) -> Result<(), u64> {
        let Some(from) = from else { return Ok(()) };
        if self.per_minute == 0 {
            return Ok(());
        }
        let minute = now - now.rem_euclid(60);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_ADDRESSES {
            seen.retain(|_, (m, _)| *m == minute);
        }
        let entry = seen.entry(from).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= self.per_minute {
            return Err(u64::try_from(minute + 60 - now).unwrap_or(60).max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_share_each_minute() {
        let r = RateLimit::new(3);
        let a = Some("192.0.2.1".parse().unwrap());
        let b = Some("192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert!(r.allow(a, 1_800_000_010).is_ok());
        }
        assert_eq!(r.allow(a, 1_800_000_015), Err(45));
        assert!(r.allow(b, 1_800_000_015).is_ok());
        assert!(r.allow(a, 1_800_000_060).is_ok());
        let off = RateLimit::new(0);
        for _ in 0..1000 {
            assert!(off.allow(a, 5).is_ok());
        }
    }
}
