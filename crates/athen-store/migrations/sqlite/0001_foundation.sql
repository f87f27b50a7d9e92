-- ATHEN foundation schema (issue 2). Only routing and accounting data is in
-- the clear here; see docs/threat-model.md. Message bodies, subjects,
-- correspondents and patient details are only ever stored encrypted.

CREATE TABLE accounts (
    id                INTEGER PRIMARY KEY,
    kind              TEXT    NOT NULL CHECK (kind IN ('organisation', 'individual')),
    status            TEXT    NOT NULL CHECK (status IN ('provisional', 'confirmed', 'suspended', 'closed')),
    address           TEXT    NOT NULL UNIQUE,
    name              TEXT    NOT NULL,
    entry_id          INTEGER,
    mailbox_id        INTEGER,
    created_at        INTEGER NOT NULL,
    status_changed_at INTEGER NOT NULL,
    confirmed_at      INTEGER,
    flagged_at        INTEGER,
    confirmation_hash BLOB
);
CREATE INDEX accounts_status ON accounts (status, created_at);

-- Public directory data. `details` is the JSON of EntryDetails; the *_key
-- columns are lower-cased, accent-folded copies for searching.
CREATE TABLE directory_entries (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts (id),
    role          TEXT    NOT NULL CHECK (role IN ('organisation', 'individual', 'staff')),
    details       TEXT    NOT NULL,
    name_key      TEXT    NOT NULL,
    suburb_key    TEXT,
    postcode      TEXT,
    specialty_key TEXT,
    category      TEXT
);
CREATE INDEX directory_entries_account ON directory_entries (account_id);
CREATE INDEX directory_entries_postcode ON directory_entries (postcode);
CREATE INDEX directory_entries_suburb ON directory_entries (suburb_key);

CREATE TABLE provider_numbers (
    entry_id INTEGER NOT NULL REFERENCES directory_entries (id) ON DELETE CASCADE,
    number   TEXT    NOT NULL,
    PRIMARY KEY (entry_id, number)
);
CREATE INDEX provider_numbers_number ON provider_numbers (number);

CREATE TABLE mailboxes (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    public_key TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);

CREATE TABLE logins (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES accounts (id),
    name           TEXT    NOT NULL UNIQUE,
    staff_entry_id INTEGER REFERENCES directory_entries (id),
    created_at     INTEGER NOT NULL,
    disabled_at    INTEGER
);

-- `wrapped` holds KDF parameters, salt and the AEAD-wrapped mailbox secret.
CREATE TABLE credentials (
    id           INTEGER PRIMARY KEY,
    login_id     INTEGER NOT NULL REFERENCES logins (id),
    mailbox_id   INTEGER NOT NULL REFERENCES mailboxes (id),
    kind         TEXT    NOT NULL CHECK (kind IN ('password', 'recovery-code', 'app-token')),
    label        TEXT    NOT NULL,
    wrapped      BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX credentials_login ON credentials (login_id);

CREATE TABLE account_events (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    event      TEXT    NOT NULL,
    detail     TEXT    NOT NULL
);
CREATE INDEX account_events_account ON account_events (account_id, id);

CREATE TABLE folders (
    id           INTEGER PRIMARY KEY,
    mailbox_id   INTEGER NOT NULL REFERENCES mailboxes (id),
    name         TEXT    NOT NULL,
    uid_validity INTEGER NOT NULL,
    uid_next     INTEGER NOT NULL,
    UNIQUE (mailbox_id, name)
);

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    mailbox_id  INTEGER NOT NULL REFERENCES mailboxes (id),
    folder_id   INTEGER NOT NULL REFERENCES folders (id),
    uid         INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    flags       INTEGER NOT NULL,
    blob_key    TEXT    NOT NULL UNIQUE,
    sealed_meta BLOB    NOT NULL,
    UNIQUE (folder_id, uid)
);
CREATE INDEX messages_mailbox ON messages (mailbox_id);

CREATE TABLE spool (
    id          INTEGER PRIMARY KEY,
    mailbox_id  INTEGER NOT NULL REFERENCES mailboxes (id),
    blob_key    TEXT    NOT NULL UNIQUE,
    size        INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX spool_mailbox ON spool (mailbox_id, id);

CREATE TABLE operators (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    login      TEXT    NOT NULL UNIQUE,
    verifier   BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE bootstrap_token (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    hash       BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
