//! Accepting SMTP connections within limits: open connections per source
//! address and in all, and new connections per address per minute, so one
//! sender cannot exhaust the server.

use crate::reply;
use crate::session;
use crate::{Mode, MxContext};
use athen_core::connections::Slots;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

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
