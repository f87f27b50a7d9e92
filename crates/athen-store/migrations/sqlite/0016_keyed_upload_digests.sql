-- sent_uploads keys are now keyed digests (HMAC under a key derived from
-- the mailbox key, issue 20) rather than plain SHA-256 of the downloader's
-- key, which anyone who guessed a file could have confirmed. The plain
-- ones go: a file sent before this and sent again after a crash across the
-- upgrade would be sent twice, which is the lesser harm.
DELETE FROM sent_uploads;
