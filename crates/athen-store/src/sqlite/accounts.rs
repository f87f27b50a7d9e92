//! Accounts: creation with their entry, mailbox and first login in one
//! transaction, status changes, the account log and the welcome letters.

use super::credentials::insert_credential;
use super::directory::insert_entry;
use super::*;

fn account_from_row(r: &SqliteRow) -> Result<Account, StoreError> {
    let kind: String = r.try_get("kind").map_err(db_err)?;
    let status: String = r.try_get("status").map_err(db_err)?;
    Ok(Account {
        id: AccountId(r.try_get("id").map_err(db_err)?),
        kind: kind.parse().map_err(|e| decode_err("account kind", e))?,
        status: status
            .parse()
            .map_err(|e| decode_err("account status", e))?,
        address: r.try_get("address").map_err(db_err)?,
        name: r.try_get("name").map_err(db_err)?,
        entry_id: EntryId(r.try_get("entry_id").map_err(db_err)?),
        mailbox_id: MailboxId(r.try_get("mailbox_id").map_err(db_err)?),
        created_at: r.try_get("created_at").map_err(db_err)?,
        status_changed_at: r.try_get("status_changed_at").map_err(db_err)?,
        confirmed_at: r.try_get("confirmed_at").map_err(db_err)?,
        flagged_at: r.try_get("flagged_at").map_err(db_err)?,
    })
}

const ACCOUNT_COLUMNS: &str = "id, kind, status, address, name, entry_id, mailbox_id, created_at, \
     status_changed_at, confirmed_at, flagged_at";

async fn insert_mailbox(
    tx: &mut Transaction<'static, Sqlite>,
    account: AccountId,
    public_key: &str,
    at: UnixTime,
) -> Result<MailboxId, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO mailboxes (account_id, public_key, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(account.0)
    .bind(public_key)
    .bind(at)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    // UIDVALIDITY must change if a folder is ever recreated (RFC 9051 §2.3.1.1);
    // the creation time (plus position) is a simple strictly-new value.
    for (i, folder) in SpecialFolder::ALL.iter().enumerate() {
        sqlx::query(
            "INSERT INTO folders (mailbox_id, name, uid_validity, uid_next) VALUES ($1, $2, $3, 1)",
        )
        .bind(id)
        .bind(folder.name())
        .bind((at as u32).wrapping_add(i as u32) as i64)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(MailboxId(id))
}

async fn insert_event(
    tx: &mut Transaction<'static, Sqlite>,
    e: &AccountEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO account_events (account_id, at, actor, event, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(e.account_id.0)
    .bind(e.at)
    .bind(&e.actor)
    .bind(&e.event)
    .bind(&e.detail)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(&self, new: NewAccount) -> StoreResult<CreatedAccount> {
        let mut tx = self.tx().await?;
        let account_id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (kind, status, address, name, created_at, status_changed_at, confirmation_hash) \
             VALUES ($1, 'provisional', $2, $3, $4, $4, $5) RETURNING id",
        )
        .bind(new.kind.as_str())
        .bind(&new.address)
        .bind(&new.name)
        .bind(new.created_at)
        .bind(&new.confirmation_hash)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("the address {} is already in use", new.address))
            }
            other => other,
        })?;
        let account = AccountId(account_id);
        let role = match new.kind {
            AccountKind::Organisation => EntryRole::Organisation,
            AccountKind::Individual => EntryRole::Individual,
        };
        let entry = insert_entry(&mut tx, account, role, &new.details).await?;
        let mailbox = insert_mailbox(&mut tx, account, &new.public_key, new.created_at).await?;
        sqlx::query("UPDATE accounts SET entry_id = $1, mailbox_id = $2 WHERE id = $3")
            .bind(entry.0)
            .bind(mailbox.0)
            .bind(account_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let login_id: i64 = sqlx::query_scalar(
            "INSERT INTO logins (account_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(account_id)
        .bind(&new.address)
        .bind(new.created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("the login name {} is already in use", new.address))
            }
            other => other,
        })?;
        for c in &new.credentials {
            insert_credential(&mut tx, LoginId(login_id), mailbox, c, new.created_at).await?;
        }
        insert_event(
            &mut tx,
            &AccountEvent {
                account_id: account,
                at: new.created_at,
                actor: "system".into(),
                event: "created".into(),
                detail: format!("{} account created, provisional", new.kind),
            },
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(CreatedAccount {
            account_id: account,
            entry_id: entry,
            mailbox_id: mailbox,
            login_id: LoginId(login_id),
        })
    }

    async fn account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| account_from_row(&r))
        .transpose()
    }

    async fn account_of_live_login(&self, login: LoginId) -> StoreResult<Option<Account>> {
        // One query for every signed-in request: the account through its
        // login, only while the login is on.
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = \
             (SELECT account_id FROM logins WHERE id = $1 AND disabled_at IS NULL)"
        )))
        .bind(login.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| account_from_row(&r))
        .transpose()
    }

    async fn account_by_address(&self, address: &str) -> StoreResult<Option<Account>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE address = $1"
        )))
        .bind(address)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| account_from_row(&r))
        .transpose()
    }

    async fn domain_in_use(&self, domain: &str) -> StoreResult<bool> {
        // Addresses are stored lower case; the domain is what follows the last '@'.
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE address LIKE $1 ESCAPE '\\'")
                .bind(format!("%@{}", like_escape(domain)))
                .fetch_one(&self.read)
                .await
                .map_err(db_err)?;
        Ok(n > 0)
    }

    async fn list_accounts(&self, filter: &AccountFilter) -> StoreResult<Vec<Account>> {
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE 1=1"
        ));
        if let Some(s) = filter.status {
            q.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(k) = filter.kind {
            q.push(" AND kind = ").push_bind(k.as_str());
        }
        if let Some(t) = filter.provisional_before {
            q.push(" AND status = 'provisional' AND created_at < ")
                .push_bind(t);
        }
        q.push(" ORDER BY id");
        q.build()
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(account_from_row)
            .collect()
    }

    async fn set_status(
        &self,
        id: AccountId,
        status: AccountStatus,
        event: AccountEvent,
    ) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        let confirmed = if status == AccountStatus::Confirmed {
            Some(event.at)
        } else {
            None
        };
        let n = sqlx::query(
            "UPDATE accounts SET status = $1, status_changed_at = $2, \
             confirmed_at = COALESCE(confirmed_at, $3), \
             flagged_at = CASE WHEN $1 = 'provisional' THEN flagged_at ELSE NULL END \
             WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(event.at)
        .bind(confirmed)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("account {id}")));
        }
        if status != AccountStatus::Provisional {
            // The code has done its work (or never will): it is not kept.
            sqlx::query("DELETE FROM welcome_letters WHERE account_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn flag_account(&self, id: AccountId, event: AccountEvent) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query("UPDATE accounts SET flagged_at = $1 WHERE id = $2 AND flagged_at IS NULL")
            .bind(event.at)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn record_event(&self, event: AccountEvent) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn events(&self, id: AccountId) -> StoreResult<Vec<AccountEvent>> {
        sqlx::query("SELECT account_id, at, actor, event, detail FROM account_events WHERE account_id = $1 ORDER BY id")
            .bind(id.0)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(AccountEvent {
                    account_id: AccountId(r.try_get("account_id").map_err(db_err)?),
                    at: r.try_get("at").map_err(db_err)?,
                    actor: r.try_get("actor").map_err(db_err)?,
                    event: r.try_get("event").map_err(db_err)?,
                    detail: r.try_get("detail").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn operator_events(&self, limit: u32) -> StoreResult<Vec<(AccountEvent, String)>> {
        sqlx::query(
            "SELECT e.account_id, e.at, e.actor, e.event, e.detail, a.address \
             FROM account_events e JOIN accounts a ON a.id = e.account_id \
             WHERE e.actor LIKE 'operator:%' OR e.actor = 'admin-cli' \
             ORDER BY e.id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok((
                AccountEvent {
                    account_id: AccountId(r.try_get("account_id").map_err(db_err)?),
                    at: r.try_get("at").map_err(db_err)?,
                    actor: r.try_get("actor").map_err(db_err)?,
                    event: r.try_get("event").map_err(db_err)?,
                    detail: r.try_get("detail").map_err(db_err)?,
                },
                r.try_get("address").map_err(db_err)?,
            ))
        })
        .collect()
    }

    async fn confirmation_hash(&self, id: AccountId) -> StoreResult<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT confirmation_hash FROM accounts WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)
            .map(Option::flatten)
    }

    async fn set_welcome_letter(
        &self,
        id: AccountId,
        confirmation_hash: Vec<u8>,
        sealed_code: Vec<u8>,
        event: AccountEvent,
    ) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "UPDATE accounts SET confirmation_hash = $1 WHERE id = $2 AND status = 'provisional'",
        )
        .bind(&confirmation_hash)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("provisional account {id}")));
        }
        sqlx::query(
            "INSERT INTO welcome_letters (account_id, sealed_code, created_at, posted_at) \
             VALUES ($1, $2, $3, NULL) ON CONFLICT (account_id) DO UPDATE SET \
             sealed_code = excluded.sealed_code, created_at = excluded.created_at, posted_at = NULL",
        )
        .bind(id.0)
        .bind(&sealed_code)
        .bind(event.at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn welcome_letters(&self, with_posted: bool) -> StoreResult<Vec<WelcomeLetter>> {
        let rows = sqlx::query(
            "SELECT w.account_id, w.sealed_code, w.created_at, w.posted_at FROM welcome_letters w \
             JOIN accounts a ON a.id = w.account_id \
             WHERE a.status = 'provisional' AND ($1 OR w.posted_at IS NULL) \
             ORDER BY w.created_at, w.account_id",
        )
        .bind(with_posted)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(WelcomeLetter {
                    account_id: AccountId(r.try_get("account_id").map_err(db_err)?),
                    sealed_code: r.try_get("sealed_code").map_err(db_err)?,
                    created_at: r.try_get("created_at").map_err(db_err)?,
                    posted_at: r.try_get("posted_at").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn mark_letter_posted(&self, id: AccountId, event: AccountEvent) -> StoreResult<bool> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "UPDATE welcome_letters SET posted_at = $1 WHERE account_id = $2 AND posted_at IS NULL",
        )
        .bind(event.at)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn replace_mailbox(
        &self,
        id: AccountId,
        public_key: String,
        credentials: Vec<NewCredential>,
        event: AccountEvent,
    ) -> StoreResult<MailboxId> {
        let mut tx = self.tx().await?;
        let row = sqlx::query("SELECT address, mailbox_id FROM accounts WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("account {id}")))?;
        let address: String = row.try_get("address").map_err(db_err)?;
        let old: i64 = row.try_get("mailbox_id").map_err(db_err)?;
        sqlx::query("UPDATE mailboxes SET retired_at = $1 WHERE id = $2")
            .bind(event.at)
            .bind(old)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "UPDATE credentials SET revoked_at = $1 WHERE mailbox_id = $2 AND revoked_at IS NULL",
        )
        .bind(event.at)
        .bind(old)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let mailbox = insert_mailbox(&mut tx, id, &public_key, event.at).await?;
        sqlx::query("UPDATE accounts SET mailbox_id = $1 WHERE id = $2")
            .bind(mailbox.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // Staff logins lose their credentials with the old mailbox; the
        // organisation gives them new ones.
        let owner: i64 =
            sqlx::query_scalar("SELECT id FROM logins WHERE account_id = $1 AND name = $2")
                .bind(id.0)
                .bind(&address)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        for c in &credentials {
            insert_credential(&mut tx, LoginId(owner), mailbox, c, event.at).await?;
        }
        insert_event(&mut tx, &event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(mailbox)
    }
}
