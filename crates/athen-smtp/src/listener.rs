//! Accepting SMTP connections within limits: open connections per source
//! address and in all, and new connections per address per minute, so one
//! sender cannot exhaust the server.

use crate::reply;
use crate::session;
use crate::{Mode, MxContext};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Counts open connections per address; a slot is released when dropped.
#[derive(Default)]
struct Slots {
    per_address: Mutex<HashMap<IpAddr, usize>>,
    /// When each address last opened connections (sliding 60-second window).
    recent: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

struct Slot {
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
    fn rate_ok(&self, ip: IpAddr, per_minute: usize) -> bool {
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

    fn take(self: &Arc<Self>, ip: IpAddr, per_address: usize, total: usize) -> Option<Slot> {
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

/// Serves one SMTP port until `stop` changes. Connections in progress are
/// given a few seconds to finish their transaction.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<MxContext>,
    mode: Mode,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Slots::default());
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (mut tcp, peer) = tokio::select! {
            _ = stop.changed() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "SMTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        let allowed = slots.rate_ok(peer.ip(), ctx.config.connections_per_minute_per_address);
        let slot = allowed
            .then(|| {
                slots.take(
                    peer.ip(),
                    ctx.config.max_connections_per_address,
                    ctx.config.max_connections,
                )
            })
            .flatten();
        let Some(slot) = slot else {
            // On the implicit-TLS port a plain-text reply would be garbage.
            if mode != (Mode::Submission { implicit_tls: true }) {
                let mut out = Vec::new();
                reply::too_many_connections().write_to(&mut out);
                let _ = tcp.write_all(&out).await;
            }
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let ctx = ctx.clone();
        tasks.spawn(async move {
            let _slot = slot;
            session::serve(ctx, tcp, peer, mode).await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
}
