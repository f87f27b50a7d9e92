-- The outbound queue. Routing data only; the message is an encrypted blob.
CREATE TABLE queue_messages (
    id INTEGER PRIMARY KEY,
    sender_mailbox_id INTEGER REFERENCES mailboxes(id),
    mail_from TEXT NOT NULL,
    envid TEXT,
    ret TEXT CHECK (ret IN ('FULL', 'HDRS')),
    blob_key TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    delay_reported INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE queue_recipients (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    domain TEXT NOT NULL,
    orcpt TEXT,
    notify TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'relayed', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_reply TEXT,
    remote_host TEXT,
    tls TEXT,
    reported INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);

CREATE INDEX queue_recipients_due ON queue_recipients (state, next_attempt_at);
CREATE INDEX queue_recipients_message ON queue_recipients (message_id);
