-- Directory search without reading every entry: names and specialties in
-- an FTS5 index of trigrams (SQLite's `trigram` tokenizer, 3.34+), which
-- answers "contains" searches of three letters or more from the index,
-- exactly as `LIKE '%word%'` on the *_key columns did; kept in step with
-- directory_entries by triggers. Kinds of service get an index too.
CREATE VIRTUAL TABLE directory_text USING fts5(
    name_key, specialty_key,
    content = 'directory_entries', content_rowid = 'id',
    tokenize = 'trigram'
);
INSERT INTO directory_text (directory_text) VALUES ('rebuild');

CREATE TRIGGER directory_text_insert AFTER INSERT ON directory_entries BEGIN
    INSERT INTO directory_text (rowid, name_key, specialty_key)
    VALUES (new.id, new.name_key, new.specialty_key);
END;
CREATE TRIGGER directory_text_delete AFTER DELETE ON directory_entries BEGIN
    INSERT INTO directory_text (directory_text, rowid, name_key, specialty_key)
    VALUES ('delete', old.id, old.name_key, old.specialty_key);
END;
CREATE TRIGGER directory_text_update AFTER UPDATE OF name_key, specialty_key ON directory_entries BEGIN
    INSERT INTO directory_text (directory_text, rowid, name_key, specialty_key)
    VALUES ('delete', old.id, old.name_key, old.specialty_key);
    INSERT INTO directory_text (rowid, name_key, specialty_key)
    VALUES (new.id, new.name_key, new.specialty_key);
END;

CREATE INDEX directory_entries_category ON directory_entries (category);
