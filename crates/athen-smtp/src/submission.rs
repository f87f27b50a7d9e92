//! Our users' mail, whichever door it comes through: the submission ports
//! (RFC 6409) and the web app's compose page go through the same steps, so
//! a letter written in the browser is checked, followed and reported on
//! exactly as one sent from Outlook.
//!
//! 1. Each recipient is looked up: an account of this server that receives
//!    mail, or (for our users only) an address on another server.
//! 2. The message is checked and completed ([`athen_mail::submit::prepare`]).
//! 3. Other servers' recipients are queued first, then local mailboxes get
//!    their sealed copy, the trail hears of the submission, local
//!    "delivered" reports go out, and the Sent copy is filed.

use crate::reply::{self, Reply};
use crate::{MxContext, outbound::OutboundRecipient};
use athen_core::MailboxId;
use athen_core::account::AccountStatus;
use athen_core::clock::UnixTime;
use athen_core::mailbox::Mailbox;
use athen_core::queue::{Notify, Ret};
use athen_mail::submit::{SendAs, SendError, Sent, Submitter};
use athen_vault::MailboxSecret;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A recipient with a mailbox on this server.
pub(crate) struct LocalRecipient {
    /// The address as accepted (lower case).
    pub(crate) address: String,
    pub(crate) mailbox: Mailbox,
    /// RFC 3461 ORCPT and NOTIFY, for the "delivered" report.
    pub(crate) orcpt: Option<String>,
    pub(crate) notify: Notify,
}

/// Where a recipient address leads.
pub(crate) enum Lookup {
    Local(LocalRecipient),
    /// On another server (submission only).
    Remote(OutboundRecipient),
    /// Not accepted: the reply says why.
    Refused(Reply),
}

/// Looks a recipient up. `submission`: the sender is one of our users, so
/// addresses on other servers are accepted (when this server may send);
/// otherwise only our own accounts are (no open relay).
pub(crate) async fn look_up(
    ctx: &MxContext,
    address: &str,
    orcpt: Option<String>,
    notify: Notify,
    submission: bool,
) -> Lookup {
    let address = address.trim().to_ascii_lowercase();
    let Some((_, domain)) = address.rsplit_once('@') else {
        return Lookup::Refused(reply::syntax("The recipient address needs a domain"));
    };
    let store = &ctx.store;
    let temporary = || {
        Lookup::Refused(Reply::new(
            451,
            "4.3.0 Temporary failure looking up the recipient; try again later",
        ))
    };
    let account = match store.account_by_address(&address).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "recipient lookup failed");
            return temporary();
        }
    };
    let Some(account) = account else {
        let local =
            domain == ctx.config.domain || store.domain_in_use(domain).await.unwrap_or(false);
        return match (local, submission) {
            (true, _) => Lookup::Refused(reply::no_such_user()),
            (false, false) => Lookup::Refused(reply::relay_denied()),
            (false, true) if ctx.outbound.is_some() => Lookup::Remote(OutboundRecipient {
                address,
                orcpt,
                notify,
            }),
            (false, true) => Lookup::Refused(Reply::new(
                550,
                "5.7.1 This server is not set up to send to other mail servers; \
only addresses on this server can be reached",
            )),
        };
    };
    if !account.status.receives_mail() {
        // From outside, a suspended or closed account is no different from
        // one that does not exist; our own users are told why.
        if !submission {
            return Lookup::Refused(reply::no_such_user());
        }
        let status = match account.status {
            AccountStatus::Suspended => "suspended",
            _ => "closed",
        };
        return Lookup::Refused(reply::mailbox_disabled(status));
    }
    match store.mailbox(account.mailbox_id).await {
        Ok(Some(mailbox)) => Lookup::Local(LocalRecipient {
            address,
            mailbox,
            orcpt,
            notify,
        }),
        _ => temporary(),
    }
}

/// The signed-in user a message comes from.
pub(crate) struct Sender<'a> {
    pub(crate) address: &'a str,
    pub(crate) mailbox: MailboxId,
    /// The login that sent it (a staff member's), for the trail.
    pub(crate) login: &'a str,
    pub(crate) secret: &'a MailboxSecret,
    pub(crate) ask_receipt: bool,
}

/// Sends a message from `sender` to the recipients already looked up.
/// `envelope`: RFC 3461 ENVID (one is made if absent) and RET.
pub(crate) async fn submit(
    ctx: &MxContext,
    sender: &Sender<'_>,
    local: &[LocalRecipient],
    remote: Vec<OutboundRecipient>,
    envelope: (Option<String>, Option<Ret>),
    body: &[u8],
) -> Reply {
    let now = ctx.clock.now();
    if let Err(why) = athen_mail::header::one_of_each_identity_field(body) {
        return Reply::new(550, format!("5.6.0 {why}"));
    }
    // Only the final delivery server writes Return-Path (RFC 5321 §4.4),
    // and only this server says whether a sender is confirmed.
    let body = &*athen_mail::header::without(body, |f| {
        let name = athen_mail::header::name(f);
        name.eq_ignore_ascii_case(b"return-path")
            || name.eq_ignore_ascii_case(athen_mail::header::SENDER_STATUS.as_bytes())
    });
    // An account whose posted code has not been entered yet writes only
    // to this server's mailboxes, and they are told it is unconfirmed.
    let unconfirmed = match ctx.store.account_by_address(sender.address).await {
        Ok(a) => a.is_some_and(|a| a.status == AccountStatus::Provisional),
        Err(e) => {
            tracing::error!(error = %e, "sender lookup failed");
            return reply::temporary_failure();
        }
    };
    if unconfirmed && !remote.is_empty() {
        return Reply::new(
            550,
            "5.7.1 Your account is not confirmed yet: until you enter the code from the letter we posted, \
you can write only to addresses on this server",
        );
    }
    let prepared = match athen_mail::submit::prepare(
        body,
        sender.address,
        &ctx.config.hostname,
        now,
        sender.ask_receipt,
    ) {
        Ok(p) => p,
        Err(problem) => return Reply::new(550, format!("5.7.1 {problem}")),
    };
    let from = sender.address.to_string();
    let mut delivered = Zeroizing::new(Vec::with_capacity(prepared.len() + 256));
    // RFC 5321 §4.4: the final delivery MTA adds Return-Path.
    delivered.extend_from_slice(format!("Return-Path: <{from}>\r\n").as_bytes());
    if unconfirmed {
        delivered.extend_from_slice(
            format!("{}: unconfirmed\r\n", athen_mail::header::SENDER_STATUS).as_bytes(),
        );
    }
    delivered.extend_from_slice(&prepared);
    let mailboxes: Vec<Mailbox> = local.iter().map(|r| r.mailbox.clone()).collect();
    // RFC 3461 §4.4: an ENVID lets reports be matched to this message;
    // one is made when the mail program gave none.
    let envid = match envelope.0 {
        Some(e) => e,
        None => match athen_mail::random_id() {
            Ok(id) => id,
            Err(_) => return reply::temporary_failure(),
        },
    };
    // Other servers' recipients first: if queuing fails nothing has been
    // delivered yet, so the client's retry duplicates nothing.
    let remote_count = remote.len();
    let remote_addresses: Vec<String> = remote.iter().map(|r| r.address.clone()).collect();
    if !remote.is_empty() {
        let Some(outbound) = &ctx.outbound else {
            return reply::temporary_failure();
        };
        if let Err(e) = outbound
            .enqueue(
                Some(sender.mailbox),
                &from,
                Some(envid.clone()),
                envelope.1,
                remote,
                &prepared,
            )
            .await
        {
            tracing::error!(error = %e, "could not queue a submitted message");
            return reply::temporary_failure();
        }
    }
    if !mailboxes.is_empty()
        && let Err(e) = athen_mail::spool::deliver_to_all(
            ctx.blobs.as_ref(),
            ctx.store.as_ref(),
            &mailboxes,
            &delivered,
            ctx.config.max_message_bytes + 4096,
            now,
        )
        .await
    {
        tracing::error!(error = %e, "could not deliver a submitted message");
        if remote_count > 0 {
            // The queued part will go; say plainly what did not.
            return Reply::new(
                554,
                "5.3.0 Queued for other servers, but delivery to this server's recipients failed; \
send it again to them only",
            );
        }
        return reply::temporary_failure();
    }
    // The trail hears of the submission before any report about it is
    // sent, so the report always finds the message it is about.
    ctx.audit
        .record(athen_core::audit::DeliveryEvent::Submitted {
            sender: sender.mailbox,
            login: sender.login.to_string(),
            envid: envid.clone(),
            message_id: athen_mail::meta::extract(&prepared).message_id,
            local_recipients: local.iter().map(|r| r.address.clone()).collect(),
            remote_recipients: remote_addresses,
        })
        .await;
    if !mailboxes.is_empty() {
        report_delivered(
            ctx,
            local,
            (&from, Some(&envid), Some(sender.mailbox)),
            &prepared,
            now,
        )
        .await;
    }
    // The sender's own copy; if this fails the message has still gone,
    // so say so rather than invite a resend.
    let copy = athen_mail::submit::store_sent_copy(
        ctx.blobs.as_ref(),
        ctx.store.as_ref(),
        sender.mailbox,
        sender.secret,
        &prepared,
        now,
    )
    .await;
    let counts = format!(
        "delivered to {} mailbox(es), queued for {} on other servers",
        mailboxes.len(),
        remote_count
    );
    match copy {
        Ok(_) => Reply::new(250, format!("2.0.0 OK: {counts}; copy in Sent")),
        Err(e) => {
            tracing::error!(error = %e, "sent copy not stored");
            Reply::new(
                250,
                format!("2.0.0 OK: {counts}; the Sent copy could not be stored"),
            )
        }
    }
}

/// RFC 3461 §6.2.1: tells the sender, for each local recipient that asked
/// with NOTIFY=SUCCESS, that the message reached its mailbox. The message
/// is already safe, so a failure here is logged, not answered.
/// `on`: the envelope sender, ENVID, and the sending mailbox if it is ours.
pub(crate) async fn report_delivered(
    ctx: &MxContext,
    recipients: &[LocalRecipient],
    on: (&str, Option<&str>, Option<MailboxId>),
    message: &[u8],
    now: UnixTime,
) {
    let (mail_from, envid, sender_mailbox) = on;
    let wanted: Vec<&LocalRecipient> = recipients
        .iter()
        .filter(|r| r.notify.success && !r.notify.never)
        .collect();
    if wanted.is_empty() || mail_from.is_empty() {
        return;
    }
    let Some(outbound) = &ctx.outbound else {
        tracing::warn!("a delivery report was asked for, but this server cannot send mail");
        return;
    };
    const DELIVERED: &str =
        "2.0.0 delivered to the recipient's mailbox (sealed; only the recipient can read it)";
    let on = crate::outbound::report::ReportOn {
        mail_from,
        envid,
        arrived: now,
        original: message,
        return_full: false,
    };
    let reports: Vec<crate::outbound::report::RecipientReport<'_>> = wanted
        .iter()
        .map(|r| crate::outbound::report::RecipientReport {
            address: &r.address,
            orcpt: r.orcpt.as_deref(),
            reply: Some(DELIVERED),
            remote_host: None,
            tls: None,
        })
        .collect();
    if let Err(e) = outbound
        .send_report(
            crate::outbound::report::Action::Delivered,
            &on,
            &reports,
            sender_mailbox,
            now,
            None,
        )
        .await
    {
        tracing::warn!(error = %e, "the \"delivered\" report could not be sent");
    }
}

/// Submission for the web app: the same steps, with every letter followed
/// (NOTIFY=SUCCESS,FAILURE,DELAY: athen-original.md, "Audit trail and
/// receipts") and a refusal said in words rather than as an SMTP reply.
pub struct WebSubmission(pub Arc<MxContext>);

#[async_trait::async_trait]
impl Submitter for WebSubmission {
    async fn send(
        &self,
        from: SendAs<'_>,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Sent, SendError> {
        let ctx = &self.0;
        if recipients.is_empty() {
            return Err(SendError::Refused(
                "Please give at least one address to send to.".into(),
            ));
        }
        if message.len() > ctx.config.max_message_bytes {
            return Err(SendError::Refused(format!(
                "The letter with its attachments is {} KB, more than this server's limit of {} KB.",
                message.len() / 1024,
                ctx.config.max_message_bytes / 1024
            )));
        }
        let notify = Notify {
            never: false,
            success: true,
            failure: true,
            delay: true,
        };
        let mut local: Vec<LocalRecipient> = Vec::new();
        let mut remote: Vec<OutboundRecipient> = Vec::new();
        for address in recipients {
            match look_up(ctx, address, None, notify, true).await {
                Lookup::Local(r) => {
                    if !local.iter().any(|x| x.mailbox.id == r.mailbox.id) {
                        local.push(r);
                    }
                }
                Lookup::Remote(r) => {
                    if !remote.iter().any(|x| x.address == r.address) {
                        remote.push(r);
                    }
                }
                Lookup::Refused(reply) if reply.code >= 500 => {
                    return Err(SendError::Recipient {
                        address: address.clone(),
                        reason: words(&reply),
                    });
                }
                Lookup::Refused(reply) => return Err(SendError::Temporary(words(&reply))),
            }
        }
        let sender = Sender {
            address: from.address,
            mailbox: from.mailbox,
            login: from.login,
            secret: from.secret,
            ask_receipt: from.ask_receipt,
        };
        let remote_count = remote.len();
        let reply = submit(ctx, &sender, &local, remote, (None, None), message).await;
        match reply.code {
            200..=299 => Ok(Sent {
                local: local.len(),
                remote: remote_count,
            }),
            400..=499 => Err(SendError::Temporary(words(&reply))),
            _ => Err(SendError::Refused(words(&reply))),
        }
    }
}

/// A reply's words for people: without the enhanced status code (RFC 3463).
fn words(reply: &Reply) -> String {
    reply
        .lines
        .iter()
        .map(|l| {
            let mut parts = l.splitn(2, ' ');
            match (parts.next(), parts.next()) {
                (Some(code), Some(rest))
                    if code.split('.').count() == 3
                        && code.chars().all(|c| c.is_ascii_digit() || c == '.') =>
                {
                    rest.to_string()
                }
                _ => l.clone(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
