-- Pages of a folder, newest first, without reading the whole folder (an
-- inbox page of a 10,000-message mailbox). Arrival times are in seconds;
-- `arrival` orders messages of the same second as they arrived (the
-- spool entry's number; 0 for messages filed directly, such as Sent
-- copies, which then go by UID).
ALTER TABLE messages ADD COLUMN arrival INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_page ON messages (folder_id, received_at, arrival, uid);

-- The patient register of each mailbox: a local patient number for each
-- patient (family name, first given name, date of birth) its letters
-- were about, so every letter about one patient carries the same
-- identifier into the clinical system (HL7 PID-3). Only a keyed digest
-- of the name and date of birth is kept (its key derived from the
-- mailbox's data key), never the name.
CREATE TABLE patient_register (
    mailbox_id  INTEGER NOT NULL REFERENCES mailboxes (id),
    patient_key BLOB    NOT NULL,
    number      INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, patient_key),
    UNIQUE (mailbox_id, number)
);
