-- Where an entry is found by place and kind of service: its own suburb,
-- postcode and category, or for staff without their own, those of their
-- organisation. Kept in columns (by the triggers below) so that a search
-- by place walks one index in name order and stops at the page's end,
-- instead of joining every staff member to their organisation first.
ALTER TABLE directory_entries ADD COLUMN place_suburb TEXT;
ALTER TABLE directory_entries ADD COLUMN place_postcode TEXT;
ALTER TABLE directory_entries ADD COLUMN place_category TEXT;

UPDATE directory_entries SET
    place_suburb = COALESCE(suburb_key, (SELECT o.suburb_key FROM accounts a
        JOIN directory_entries o ON o.id = a.entry_id WHERE a.id = directory_entries.account_id)),
    place_postcode = COALESCE(postcode, (SELECT o.postcode FROM accounts a
        JOIN directory_entries o ON o.id = a.entry_id WHERE a.id = directory_entries.account_id)),
    place_category = COALESCE(category, (SELECT o.category FROM accounts a
        JOIN directory_entries o ON o.id = a.entry_id WHERE a.id = directory_entries.account_id));

CREATE INDEX directory_entries_place_suburb ON directory_entries (place_suburb, name_key);
CREATE INDEX directory_entries_place_postcode ON directory_entries (place_postcode, name_key);
CREATE INDEX directory_entries_place_category ON directory_entries (place_category, name_key);

-- A new entry: its own place, else its organisation's.
CREATE TRIGGER directory_place_insert AFTER INSERT ON directory_entries BEGIN
    UPDATE directory_entries SET
        place_suburb = COALESCE(new.suburb_key, (SELECT o.suburb_key FROM accounts a
            JOIN directory_entries o ON o.id = a.entry_id WHERE a.id = new.account_id AND o.id <> new.id)),
        place_postcode = COALESCE(new.postcode, (SELECT o.postcode FROM accounts a
            JOIN directory_entries o ON o.id = a.entry_id WHERE a.id = new.account_id AND o.id <> new.id)),
        place_category = COALESCE(new.category, (SELECT o.category FROM accounts a
            JOIN directory_entries o ON o.id = a.entry_id WHERE a.id = new.account_id AND o.id <> new.id))
    WHERE id = new.id;
END;

-- A changed entry: its own place again, and when it is an organisation's,
-- that of its staff who have none of their own.
CREATE TRIGGER directory_place_update AFTER UPDATE OF suburb_key, postcode, category ON directory_entries BEGIN
    UPDATE directory_entries SET
        place_suburb = COALESCE(new.suburb_key, (SELECT o.suburb_key FROM accounts a
            JOIN directory_entries o ON o.id = a.entry_id WHERE a.id = new.account_id AND o.id <> new.id)),
        place_postcode = COALESCE(new.postcode, (SELECT o.postcode FROM accounts a
            JOIN directory_entries o ON o.id = a.entry_id WHERE a.id = new.account_id AND o.id <> new.id)),
        place_category = COALESCE(new.category, (SELECT o.category FROM accounts a
            JOIN directory_entries o ON o.id = a.entry_id WHERE a.id = new.account_id AND o.id <> new.id))
    WHERE id = new.id;
    UPDATE directory_entries SET
        place_suburb = COALESCE(suburb_key, new.suburb_key),
        place_postcode = COALESCE(postcode, new.postcode),
        place_category = COALESCE(category, new.category)
    WHERE account_id = new.account_id AND role = 'staff' AND new.role <> 'staff';
END;
