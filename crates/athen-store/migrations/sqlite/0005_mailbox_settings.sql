-- What each mailbox's owner chose for incoming letters (issue 5): the
-- delivery formats in order of preference, comma separated. Plain: it
-- names a clinical program, nothing about any patient or letter.
CREATE TABLE mailbox_settings (
    mailbox_id       INTEGER PRIMARY KEY REFERENCES mailboxes (id),
    delivery_formats TEXT    NOT NULL
);
