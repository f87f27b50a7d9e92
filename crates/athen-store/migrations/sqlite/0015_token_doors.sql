-- Which doors an app token opens (issue 20): a bit set of athen_core's
-- Doors (2 the JSON API, 4 its download routes, 8 IMAP, 16 SMTP
-- submission). Tokens made before keep every door a token could open.
ALTER TABLE credentials ADD COLUMN doors INTEGER NOT NULL DEFAULT 30;
