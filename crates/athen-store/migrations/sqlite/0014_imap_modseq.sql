-- IMAP (issue 8). CONDSTORE (RFC 7162 §3): every message has a
-- mod-sequence, and each folder the highest one given in it; filing a
-- message, changing its flags, moving it in or out and removing it all
-- take the folder's next one, so a mail program can ask what changed
-- since it last looked. QRESYNC (RFC 7162 §3.2.5) needs to know which
-- UIDs went away, and when: `expunged` keeps them (numbers only).
ALTER TABLE messages ADD COLUMN modseq INTEGER NOT NULL DEFAULT 1;
ALTER TABLE folders ADD COLUMN highest_modseq INTEGER NOT NULL DEFAULT 1;
CREATE INDEX messages_modseq ON messages (folder_id, modseq);
CREATE TABLE expunged (
    folder_id INTEGER NOT NULL REFERENCES folders (id),
    uid       INTEGER NOT NULL,
    modseq    INTEGER NOT NULL,
    PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged (folder_id, modseq);
-- What SELECT reads of every message of a folder, in one index: a large
-- folder is read without touching the rows (and their sealed data).
CREATE INDEX messages_imap ON messages (folder_id, uid, flags, modseq, mailbox_id);
