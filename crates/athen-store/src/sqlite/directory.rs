//! The public directory: entries, and the word index its search uses
//! (each word of a name by its first letters, so a search by prefix is an
//! index lookup).

use super::*;

fn entry_from_row(r: &SqliteRow, prefix: &str) -> Result<DirectoryEntry, StoreError> {
    let col = |c: &str| format!("{prefix}{c}");
    let role: String = r.try_get(col("role").as_str()).map_err(db_err)?;
    let details: String = r.try_get(col("details").as_str()).map_err(db_err)?;
    Ok(DirectoryEntry {
        id: EntryId(r.try_get(col("id").as_str()).map_err(db_err)?),
        account_id: AccountId(r.try_get(col("account_id").as_str()).map_err(db_err)?),
        role: role.parse().map_err(|e| decode_err("entry role", e))?,
        details: serde_json::from_str(&details).map_err(|e| decode_err("entry details", e))?,
    })
}

/// The searchable copies of an entry's details.
struct EntryKeys {
    name: String,
    suburb: Option<String>,
    postcode: Option<String>,
    specialty: Option<String>,
    category: Option<String>,
}

/// The name an entry is searched and sorted by: its display name and
/// position ("Anna Müller Practice Manager").
fn searched_name(d: &EntryDetails) -> String {
    let mut name = d.display_name();
    if let Some(p) = &d.position {
        name.push(' ');
        name.push_str(p);
    }
    name
}

fn entry_keys(d: &EntryDetails) -> EntryKeys {
    EntryKeys {
        name: search_key(&searched_name(d)),
        suburb: d.suburb.as_deref().map(search_key),
        postcode: d.postcode.clone(),
        specialty: d.specialty.as_deref().map(search_key),
        category: d.category.map(|c| c.slug().to_string()),
    }
}

/// The longest beginning of a word kept as a key (migration 0011).
const WORD_EDGE: usize = 6;

/// The keys a word is found by: its beginnings of up to [`WORD_EDGE`]
/// letters.
fn word_keys(word: &str) -> impl Iterator<Item = &str> + '_ {
    word.char_indices()
        .map(|(i, c)| &word[..i + c.len_utf8()])
        .take(WORD_EDGE)
}

/// The key a search for `word` reads: its first [`WORD_EDGE`] letters.
fn search_key_of(word: &str) -> &str {
    word_keys(word).last().unwrap_or(word)
}

/// Writes the keys an entry is found by (migration 0011) in place of
/// those it had: from the words of its name and of its specialty.
async fn index_entry_words(
    conn: &mut SqliteConnection,
    id: i64,
    account: i64,
    d: &EntryDetails,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM directory_words WHERE entry_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let name = searched_name(d);
    let mut words = Vec::new();
    for (field, text) in [
        ("name", Some(name.clone())),
        ("specialty", d.specialty.clone()),
    ] {
        for word in text.as_deref().map(search_words).unwrap_or_default() {
            words.extend(word_keys(&word).map(|k| (field, k.to_string(), word.clone())));
        }
    }
    if words.is_empty() {
        return Ok(());
    }
    let name_key = search_key(&name);
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT INTO directory_words (field, word, whole, entry_id, name_key, account_id) ",
    );
    q.push_values(words, |mut row, (field, word, whole)| {
        row.push_bind(field)
            .push_bind(word)
            .push_bind(whole)
            .push_bind(id)
            .push_bind(name_key.clone())
            .push_bind(account);
    });
    q.build().execute(&mut *conn).await.map_err(db_err)?;
    // The place as the entry's triggers (migration 0010) have set it.
    sqlx::query(
        "UPDATE directory_words SET (place_suburb, place_postcode, place_category) = \
         (SELECT place_suburb, place_postcode, place_category FROM directory_entries WHERE id = $1) \
         WHERE entry_id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Indexes the words of every entry: migration 0011, in its transaction.
pub(crate) async fn index_every_entry(
    tx: &mut Transaction<'static, Sqlite>,
) -> Result<(), StoreError> {
    let rows: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT id, account_id, details FROM directory_entries")
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err)?;
    for (id, account, json) in rows {
        let details: EntryDetails =
            serde_json::from_str(&json).map_err(|e| decode_err("directory entry details", e))?;
        index_entry_words(tx, id, account, &details).await?;
    }
    Ok(())
}

pub(super) async fn insert_entry(
    tx: &mut Transaction<'static, Sqlite>,
    account: AccountId,
    role: EntryRole,
    details: &EntryDetails,
) -> Result<EntryId, StoreError> {
    let keys = entry_keys(details);
    let json = serde_json::to_string(details).map_err(|e| StoreError::Io(e.to_string()))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO directory_entries (account_id, role, details, name_key, suburb_key, postcode, specialty_key, category) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(account.0)
    .bind(role.as_str())
    .bind(json)
    .bind(keys.name)
    .bind(keys.suburb)
    .bind(keys.postcode)
    .bind(keys.specialty)
    .bind(keys.category)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    index_entry_words(tx, id, account.0, details).await?;
    for p in &details.provider_numbers {
        sqlx::query("INSERT INTO provider_numbers (entry_id, number) VALUES ($1, $2)")
            .bind(id)
            .bind(p)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    Ok(EntryId(id))
}

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn entry(&self, id: EntryId) -> StoreResult<Option<DirectoryEntry>> {
        sqlx::query("SELECT id, account_id, role, details FROM directory_entries WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?
            .map(|r| entry_from_row(&r, ""))
            .transpose()
    }

    async fn entries_of_account(&self, id: AccountId) -> StoreResult<Vec<DirectoryEntry>> {
        sqlx::query("SELECT id, account_id, role, details FROM directory_entries WHERE account_id = $1 ORDER BY id")
            .bind(id.0)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| entry_from_row(r, ""))
            .collect()
    }

    async fn add_entry(
        &self,
        account: AccountId,
        role: EntryRole,
        details: EntryDetails,
    ) -> StoreResult<EntryId> {
        let mut tx = self.tx().await?;
        let id = insert_entry(&mut tx, account, role, &details).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(id)
    }

    async fn update_entry(&self, id: EntryId, details: EntryDetails) -> StoreResult<()> {
        let keys = entry_keys(&details);
        let json = serde_json::to_string(&details).map_err(|e| StoreError::Io(e.to_string()))?;
        let mut tx = self.tx().await?;
        let account: Option<i64> = sqlx::query_scalar(
            "UPDATE directory_entries SET details = $1, name_key = $2, suburb_key = $3, postcode = $4, \
             specialty_key = $5, category = $6 WHERE id = $7 RETURNING account_id",
        )
        .bind(json)
        .bind(keys.name)
        .bind(keys.suburb)
        .bind(keys.postcode)
        .bind(keys.specialty)
        .bind(keys.category)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(account) = account else {
            return Err(StoreError::NotFound(format!("directory entry {id}")));
        };
        index_entry_words(&mut tx, id.0, account, &details).await?;
        sqlx::query("DELETE FROM provider_numbers WHERE entry_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for p in &details.provider_numbers {
            sqlx::query("INSERT INTO provider_numbers (entry_id, number) VALUES ($1, $2)")
                .bind(id.0)
                .bind(p)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn remove_entry(&self, id: EntryId) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM directory_entries WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        match role.as_deref() {
            None => return Err(StoreError::NotFound(format!("directory entry {id}"))),
            Some("staff") => {}
            Some(_) => {
                return Err(StoreError::State(
                    "only staff entries can be removed; close the account instead".into(),
                ));
            }
        }
        let logins: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM logins WHERE staff_entry_id = $1 AND disabled_at IS NULL",
        )
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if logins > 0 {
            return Err(StoreError::State(
                "this staff member still has a login; disable it first".into(),
            ));
        }
        sqlx::query("UPDATE logins SET staff_entry_id = NULL WHERE staff_entry_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM directory_entries WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn search(&self, query: &DirectoryQuery) -> StoreResult<Vec<DirectoryHit>> {
        // e: the matching entry; o: the account's own entry (the organisation,
        // for staff). Place and category are the organisation's when a staff
        // entry has none of its own (migration 0010 keeps them in `place_*`).
        //
        // Each word typed must begin a word of the name or specialty
        // (migration 0011): its first six letters are one key of the words
        // index; a longer word must also begin the whole word in the row
        // (from it up to the last string it begins: no word has U+10FFFF,
        // the greatest code point). The first word's rows drive the
        // search: they carry the entry's name, account and place, so the
        // candidates are checked without being read, in name order, and
        // the walk stops at the page's end; the other words and provider
        // numbers are sets of entry ids. Without a word, the entries are
        // walked in name order through the place or category index.
        // `+a.status` keeps the planner from starting at the accounts.
        //
        // The page's entries are chosen first by id and name alone, and only
        // those are read whole.
        let typed = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(typed_words)
        };
        let mut words: Vec<(&str, String)> = Vec::new();
        for (field, text) in [("name", &query.name), ("specialty", &query.specialty)] {
            if let Some(w) = typed(text) {
                if w.is_empty() {
                    // Typed, but nothing to look for ("%%"): nothing is found.
                    return Ok(Vec::new());
                }
                // Every word must appear, in any order: "citizen jane"
                // finds "Dr Jane Citizen".
                words.extend(w.into_iter().take(8).map(|w| (field, w)));
            }
        }
        let place = query
            .place
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(search_key);
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT e.id AS e_id, e.account_id AS e_account_id, e.role AS e_role, e.details AS e_details, \
             o.id AS o_id, o.account_id AS o_account_id, o.role AS o_role, o.details AS o_details, \
             a.address, a.status FROM (",
        );
        // A word is found through its first WORD_EDGE letters; a longer one
        // must also begin the whole word.
        let word_key = |q: &mut QueryBuilder<Sqlite>, alias: &str, field: &str, word: &str| {
            q.push(format!(" AND {alias}.field = "))
                .push_bind(field.to_string())
                .push(format!(" AND {alias}.word = "))
                .push_bind(search_key_of(word).to_string());
            if word.chars().count() > WORD_EDGE {
                q.push(format!(" AND {alias}.whole >= "))
                    .push_bind(word.to_string())
                    .push(format!(" AND {alias}.whole < "))
                    .push_bind(format!("{word}\u{10FFFF}"));
            }
        };
        let mut words = words.into_iter();
        // A postcode is four digits, a suburb never is.
        let place = place.map(|key| {
            let column = if key.chars().all(|c| c.is_ascii_digit()) {
                "place_postcode"
            } else {
                "place_suburb"
            };
            (column, key)
        });
        let (t, id, name) = if let Some((field, word)) = words.next() {
            q.push(
                "SELECT w.entry_id AS hit_id, w.name_key AS hit_name FROM directory_words w \
                 JOIN accounts a ON a.id = w.account_id WHERE 1=1",
            );
            word_key(&mut q, "w", field, &word);
            ("w", "w.entry_id", "w.name_key")
        } else {
            q.push(
                "SELECT e.id AS hit_id, e.name_key AS hit_name FROM directory_entries e \
                 JOIN accounts a ON a.id = e.account_id WHERE 1=1",
            );
            ("e", "e.id", "e.name_key")
        };
        if !query.include_unconfirmed {
            q.push(" AND +a.status = 'confirmed'");
        }
        for (field, word) in words {
            q.push(format!(
                " AND {id} IN (SELECT x.entry_id FROM directory_words x WHERE 1=1"
            ));
            word_key(&mut q, "x", field, &word);
            q.push(")");
        }
        if let Some(p) = &query.provider_number {
            let p = athen_core::identifiers::provider_number(p)
                .unwrap_or_else(|_| p.trim().to_ascii_uppercase());
            q.push(format!(
                " AND {id} IN (SELECT entry_id FROM provider_numbers WHERE number = "
            ))
            .push_bind(p)
            .push(")");
        }
        if let Some((column, key)) = place {
            q.push(format!(" AND {t}.{column} = ")).push_bind(key);
        }
        if let Some(c) = query.category {
            q.push(format!(" AND {t}.place_category = "))
                .push_bind(c.slug());
        }
        let limit = if query.limit == 0 {
            50
        } else {
            query.limit.min(500)
        };
        if t == "w" {
            // Two words of one entry can share a key ("Lee Leeson"):
            // GROUP BY keeps one row, walking the key's rows in the index's
            // (name) order without sorting them.
            q.push(format!(" GROUP BY {name}, {id}"));
        }
        // The limit is written into the SQL, not bound: SQLite plans with
        // the value of a bound LIMIT, so it would prepare the statement
        // again each time it is bound (SQLITE_STMTSTATUS_REPREPARE).
        q.push(format!(" ORDER BY {name}, {id} LIMIT {limit}"))
            .push(
                ") hit JOIN directory_entries e ON e.id = hit.hit_id \
                 JOIN accounts a ON a.id = e.account_id \
                 JOIN directory_entries o ON o.id = a.entry_id \
                 ORDER BY hit.hit_name, hit.hit_id",
            );
        let rows = q.build().fetch_all(&self.read).await.map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let entry = entry_from_row(r, "e_")?;
                let org = entry_from_row(r, "o_")?;
                let status: String = r.try_get("status").map_err(db_err)?;
                Ok(DirectoryHit {
                    organisation: (entry.role == EntryRole::Staff).then_some(org),
                    entry,
                    address: r.try_get("address").map_err(db_err)?,
                    account_status: status
                        .parse()
                        .map_err(|e| decode_err("account status", e))?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_by_their_first_six_letters() {
        fn keys(w: &str) -> Vec<&str> {
            word_keys(w).collect()
        }
        assert_eq!(keys("lee"), ["l", "le", "lee"]);
        assert_eq!(
            keys("nguyen12"),
            ["n", "ng", "ngu", "nguy", "nguye", "nguyen"]
        );
        assert_eq!(search_key_of("nguyen12"), "nguyen");
        assert_eq!(search_key_of("lee"), "lee");
        // Letters, not bytes.
        assert_eq!(keys("小明"), ["小", "小明"]);
        assert!(keys("").is_empty());
    }
}
