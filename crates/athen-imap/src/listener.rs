//! Accepting IMAP connections (143 with STARTTLS, 993 with TLS from the
//! first byte) within the connection limits.

use crate::ImapContext;
use athen_core::connections::Slots;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves one IMAP port until `stop` changes; connections in progress
/// are given a few seconds, then ended (each ends its vault session, so
/// their mailboxes lock).
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ImapContext>,
    implicit_tls: bool,
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
                    tracing::warn!(error = %e, "IMAP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        let per_minute = ctx.config.connections_per_minute_per_address;
        let slot = (per_minute == 0 || slots.rate_ok(peer.ip(), per_minute))
            .then(|| {
                slots.take(
                    peer.ip(),
                    ctx.config.max_connections_per_address,
                    ctx.config.max_connections,
                )
            })
            .flatten();
        let Some(slot) = slot else {
            if !implicit_tls {
                let _ = tcp
                    .write_all(b"* BYE Too many connections from your address; try again later\r\n")
                    .await;
            }
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let ctx = ctx.clone();
        tasks.spawn(async move {
            let _slot = slot;
            crate::session::serve(ctx, tcp, peer, implicit_tls).await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
}
