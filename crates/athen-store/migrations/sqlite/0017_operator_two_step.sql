-- Two-step sign-in for operators (issue 20): the key sealed with the
-- server's key (operators have no mailbox), and the 30-second step of the
-- last code accepted, so no code is accepted twice (RFC 6238 §5.2).
ALTER TABLE operators ADD COLUMN totp_sealed BLOB;
ALTER TABLE operators ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
