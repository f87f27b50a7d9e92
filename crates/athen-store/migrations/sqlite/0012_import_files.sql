-- The files made for the clinical system (HL7, PIT) and how far the
-- practice's downloader has taken each (issue 7): one row per message that
-- carries one, gone with its message. Only the state is here; the file's
-- name and checksum are in the message's sealed metadata.
CREATE TABLE import_files (
    message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id),
    state      TEXT    NOT NULL CHECK (state IN ('waiting', 'downloaded', 'imported', 'failed')),
    failures   INTEGER NOT NULL DEFAULT 0,
    changed_at INTEGER NOT NULL
);
CREATE INDEX import_files_by_state ON import_files (mailbox_id, state, message_id);
