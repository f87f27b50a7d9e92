-- Files the downloader's upload folder sent (issue 7), by the key the
-- downloader gives each (a SHA-256 of the file's name and bytes), so that
-- a file sent again after a crash is not sent twice. No names, no content.
CREATE TABLE sent_uploads (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id),
    key        BLOB    NOT NULL,
    sent_at    INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, key)
) WITHOUT ROWID;
