//! Accepting SMTP connections within limits: connections per source address
//! and in all, so one sender cannot exhaust the server.

use crate::reply;
use crate::session;
use crate::{Mode, MxContext};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Counts open connections per address; a slot is released when dropped.
#[derive(Default)]
struct Slots {
    per_address: Mutex<HashMap<IpAddr, usize>>,
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
        let Some(slot) = slots.take(
            peer.ip(),
            ctx.config.max_connections_per_address,
            ctx.config.max_connections,
        ) else {
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
