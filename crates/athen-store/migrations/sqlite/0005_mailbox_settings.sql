-- What each mailbox's owner chose for incoming letters (issue 5): the
-- delivery formats in order of preference, comma separated, and the read
-- receipt policy. Plain: they name a clinical program and a preference,
-- nothing about any patient or letter.
CREATE TABLE mailbox_settings (
    mailbox_id       INTEGER PRIMARY KEY REFERENCES mailboxes (id),
    delivery_formats TEXT    NOT NULL,
    receipt_policy   TEXT    NOT NULL DEFAULT 'always'
        CHECK (receipt_policy IN ('always', 'ask', 'never'))
);
