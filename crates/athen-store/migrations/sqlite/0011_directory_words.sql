-- Directory search by the beginnings of words, from a plain B-tree index
-- (and so the same on PostgreSQL later). It replaces the FTS5 trigram
-- index of 0008, whose phrase matching cost milliseconds a search.
--
-- Each word of an entry's name and specialty is stored as its beginnings
-- of one to six letters (edge n-grams: "smith" is s, sm, smi, smit,
-- smith), each row with the whole word beside it. A search for a word is
-- one key, its first six letters, whose rows are in name order (a longer
-- word also checks the whole word in the row): the page's 50 are the first
-- 50 that pass the other criteria, however common the word ("sm" while
-- typing, "cardiology").
--
-- The rows are written by the store from
-- `athen_core::directory::search_words` (which SQL cannot split as Rust
-- does), also for the entries already here, in this migration's
-- transaction; they go with their entry (ON DELETE CASCADE). Each row
-- carries what the search checks (account, place: 0010's place_* columns,
-- copied by the store and kept by the trigger below), so the candidates are
-- not read until they are on the page.
DROP TRIGGER directory_text_insert;
DROP TRIGGER directory_text_delete;
DROP TRIGGER directory_text_update;
DROP TABLE directory_text;

CREATE TABLE directory_words (
    field          TEXT    NOT NULL CHECK (field IN ('name', 'specialty')),
    word           TEXT    NOT NULL,
    whole          TEXT    NOT NULL,
    name_key       TEXT    NOT NULL,
    entry_id       INTEGER NOT NULL REFERENCES directory_entries (id) ON DELETE CASCADE,
    account_id     INTEGER NOT NULL,
    place_suburb   TEXT,
    place_postcode TEXT,
    place_category TEXT,
    PRIMARY KEY (field, word, name_key, entry_id, whole)
) WITHOUT ROWID;
CREATE INDEX directory_words_entry ON directory_words (entry_id);

CREATE TRIGGER directory_words_place AFTER UPDATE OF place_suburb, place_postcode, place_category
ON directory_entries BEGIN
    UPDATE directory_words SET
        place_suburb = new.place_suburb,
        place_postcode = new.place_postcode,
        place_category = new.place_category
    WHERE entry_id = new.id;
END;
