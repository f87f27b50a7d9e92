-- The per-mailbox audit trail (issue 5). Only each entry's place in the
-- chain, its time and its link hash are plain; what happened, to which
-- message, with whom, is in `sealed` (encrypted with the mailbox data key).
CREATE TABLE audit_entries (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id),
    seq        INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    sealed     BLOB    NOT NULL,
    hash       BLOB    NOT NULL,
    PRIMARY KEY (mailbox_id, seq)
);

-- Where the kept part of a trail starts once retention removed its oldest
-- entries: the last removed entry's number and link.
CREATE TABLE audit_anchors (
    mailbox_id INTEGER PRIMARY KEY REFERENCES mailboxes (id),
    seq        INTEGER NOT NULL,
    hash       BLOB    NOT NULL
);

-- Events recorded while the mailbox was locked, sealed to its public key
-- (age), merged into the chain at the next unlock.
CREATE TABLE audit_pending (
    id         INTEGER PRIMARY KEY,
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id),
    at         INTEGER NOT NULL,
    sealed     BLOB    NOT NULL
);
CREATE INDEX audit_pending_mailbox ON audit_pending (mailbox_id, id);
