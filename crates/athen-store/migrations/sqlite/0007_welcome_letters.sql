-- Welcome letters waiting to be printed and posted. The confirmation code
-- is printed in the letter, so it must be kept until then; it is kept
-- sealed with the server's queue key (never in the clear), and the row
-- goes when the account stops being provisional. A resent letter
-- replaces the row and the account's confirmation hash together, so the
-- code of a lost letter stops working.
CREATE TABLE welcome_letters (
    account_id  INTEGER PRIMARY KEY REFERENCES accounts (id),
    sealed_code BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    posted_at   INTEGER
);
