//! The stand-in for the audit trail (issue 5) behind
//! [`athen_core::audit::AuditSink`].

use athen_core::audit::{AuditSink, DeliveryEvent};

/// Until the audit trail exists: one log line per event, without
/// addresses, subjects or content.
pub struct LogOnly;

#[async_trait::async_trait]
impl AuditSink for LogOnly {
    async fn record(&self, event: DeliveryEvent) {
        match event {
            DeliveryEvent::Submitted {
                sender,
                local_recipients,
                remote_recipients,
                ..
            } => tracing::info!(
                mailbox = %sender,
                local_recipients,
                remote_recipients,
                "audit: sent"
            ),
            DeliveryEvent::Attempted {
                queue_id,
                outcome,
                remote_host,
                ..
            } => tracing::info!(
                queue_id = %queue_id,
                outcome = outcome.as_str(),
                host = remote_host.as_deref().unwrap_or("-"),
                "audit: delivery attempt"
            ),
        }
    }
}
