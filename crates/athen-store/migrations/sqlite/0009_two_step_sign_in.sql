-- Two-step sign-in (RFC 6238 one-time codes), one key per login. The key
-- is sealed with the mailbox data key, so it is readable only once the
-- password has unlocked the mailbox: a copy of the database gives neither
-- the password nor the codes. `last_step` is the 30-second step of the
-- last code accepted; a code is accepted only for a later step, so none
-- can be used twice (RFC 6238 §5.2).
CREATE TABLE login_totp (
    login_id   INTEGER PRIMARY KEY REFERENCES logins (id),
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id),
    sealed_key BLOB    NOT NULL,
    last_step  INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
