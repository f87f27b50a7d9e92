//! Logins, their credentials (passwords and app tokens, each with its
//! wrapped mailbox key) and two-step secrets.

use super::*;

fn login_from_row(r: &SqliteRow) -> Result<Login, StoreError> {
    Ok(Login {
        id: LoginId(r.try_get("id").map_err(db_err)?),
        account_id: AccountId(r.try_get("account_id").map_err(db_err)?),
        name: r.try_get("name").map_err(db_err)?,
        staff_entry_id: r
            .try_get::<Option<i64>, _>("staff_entry_id")
            .map_err(db_err)?
            .map(EntryId),
        created_at: r.try_get("created_at").map_err(db_err)?,
        disabled_at: r.try_get("disabled_at").map_err(db_err)?,
    })
}

fn credential_from_row(r: &SqliteRow) -> Result<CredentialRecord, StoreError> {
    let kind: String = r.try_get("kind").map_err(db_err)?;
    Ok(CredentialRecord {
        id: CredentialId(r.try_get("id").map_err(db_err)?),
        login_id: LoginId(r.try_get("login_id").map_err(db_err)?),
        mailbox_id: MailboxId(r.try_get("mailbox_id").map_err(db_err)?),
        kind: kind.parse().map_err(|e| decode_err("credential kind", e))?,
        label: r.try_get("label").map_err(db_err)?,
        wrapped: r.try_get("wrapped").map_err(db_err)?,
        created_at: r.try_get("created_at").map_err(db_err)?,
        last_used_at: r.try_get("last_used_at").map_err(db_err)?,
        revoked_at: r.try_get("revoked_at").map_err(db_err)?,
        doors: Doors::from_bits(r.try_get("doors").map_err(db_err)?),
    })
}

pub(super) async fn insert_credential(
    tx: &mut Transaction<'static, Sqlite>,
    login: LoginId,
    mailbox: MailboxId,
    c: &NewCredential,
    at: UnixTime,
) -> Result<CredentialId, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO credentials (login_id, mailbox_id, kind, label, wrapped, created_at, doors) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(login.0)
    .bind(mailbox.0)
    .bind(c.kind.as_str())
    .bind(&c.label)
    .bind(&c.wrapped)
    .bind(at)
    .bind(i64::from(c.doors.bits()))
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(CredentialId(id))
}

const LOGIN_COLUMNS: &str = "id, account_id, name, staff_entry_id, created_at, disabled_at";
const CREDENTIAL_COLUMNS: &str =
    "id, login_id, mailbox_id, kind, label, wrapped, created_at, last_used_at, revoked_at, doors";

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn login_by_name(&self, name: &str) -> StoreResult<Option<Login>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {LOGIN_COLUMNS} FROM logins WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| login_from_row(&r))
        .transpose()
    }

    async fn login(&self, id: LoginId) -> StoreResult<Option<Login>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {LOGIN_COLUMNS} FROM logins WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| login_from_row(&r))
        .transpose()
    }

    async fn logins_of_account(&self, id: AccountId) -> StoreResult<Vec<Login>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {LOGIN_COLUMNS} FROM logins WHERE account_id = $1 ORDER BY id"
        )))
        .bind(id.0)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(login_from_row)
        .collect()
    }

    async fn add_login(
        &self,
        account: AccountId,
        name: &str,
        staff_entry: Option<EntryId>,
        credential: NewCredential,
        at: UnixTime,
    ) -> StoreResult<(LoginId, CredentialId)> {
        let mut tx = self.tx().await?;
        let mailbox: i64 = sqlx::query_scalar("SELECT mailbox_id FROM accounts WHERE id = $1")
            .bind(account.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("account {account}")))?;
        let login: i64 = sqlx::query_scalar(
            "INSERT INTO logins (account_id, name, staff_entry_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(account.0)
        .bind(name)
        .bind(staff_entry.map(|e| e.0))
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("the login name {name} is already in use")),
            other => other,
        })?;
        let cred =
            insert_credential(&mut tx, LoginId(login), MailboxId(mailbox), &credential, at).await?;
        tx.commit().await.map_err(db_err)?;
        Ok((LoginId(login), cred))
    }

    async fn disable_login(&self, id: LoginId, at: UnixTime) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query("UPDATE logins SET disabled_at = COALESCE(disabled_at, $1) WHERE id = $2")
            .bind(at)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "UPDATE credentials SET revoked_at = $1 WHERE login_id = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn live_credentials(&self, login: LoginId) -> StoreResult<Vec<CredentialRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT c.{} FROM credentials c JOIN logins l ON l.id = c.login_id \
             JOIN accounts a ON a.id = l.account_id \
             WHERE c.login_id = $1 AND c.revoked_at IS NULL AND l.disabled_at IS NULL \
             AND c.mailbox_id = a.mailbox_id ORDER BY c.id",
            CREDENTIAL_COLUMNS.replace(", ", ", c.")
        )))
        .bind(login.0)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(credential_from_row)
        .collect()
    }

    async fn credential(&self, id: CredentialId) -> StoreResult<Option<CredentialRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .map(|r| credential_from_row(&r))
        .transpose()
    }

    async fn credentials_of_account(&self, id: AccountId) -> StoreResult<Vec<CredentialRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT c.{} FROM credentials c JOIN logins l ON l.id = c.login_id WHERE l.account_id = $1 ORDER BY c.id",
            CREDENTIAL_COLUMNS.replace(", ", ", c.")
        )))
        .bind(id.0)
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?
        .iter()
        .map(credential_from_row)
        .collect()
    }

    async fn add_credential(
        &self,
        login: LoginId,
        credential: NewCredential,
        at: UnixTime,
    ) -> StoreResult<CredentialId> {
        let mut tx = self.tx().await?;
        let mailbox: i64 = sqlx::query_scalar(
            "SELECT a.mailbox_id FROM logins l JOIN accounts a ON a.id = l.account_id WHERE l.id = $1",
        )
        .bind(login.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("login {login}")))?;
        let id = insert_credential(&mut tx, login, MailboxId(mailbox), &credential, at).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(id)
    }

    async fn rewrap_credential(&self, id: CredentialId, wrapped: Vec<u8>) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        let n =
            sqlx::query("UPDATE credentials SET wrapped = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(wrapped)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("credential {id}")));
        }
        tx.commit().await.map_err(db_err)
    }

    async fn revoke_credential(&self, id: CredentialId, at: UnixTime) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "UPDATE credentials SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
        )
        .bind(at)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("credential {id}")));
        }
        tx.commit().await.map_err(db_err)
    }

    async fn touch_credential(&self, id: CredentialId, at: UnixTime) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query("UPDATE credentials SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn totp(&self, login: LoginId) -> StoreResult<Option<TotpRecord>> {
        let row: Option<(i64, Vec<u8>, i64, i64)> = sqlx::query_as(
            "SELECT mailbox_id, sealed_key, last_step, created_at FROM login_totp WHERE login_id = $1",
        )
        .bind(login.0)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?;
        Ok(
            row.map(|(mailbox, sealed_key, last_step, created_at)| TotpRecord {
                login_id: login,
                mailbox_id: MailboxId(mailbox),
                sealed_key,
                last_step,
                created_at,
            }),
        )
    }

    async fn set_totp(&self, r: TotpRecord) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query(
            "INSERT INTO login_totp (login_id, mailbox_id, sealed_key, last_step, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (login_id) DO UPDATE SET mailbox_id = excluded.mailbox_id, sealed_key = excluded.sealed_key,
             last_step = excluded.last_step, created_at = excluded.created_at",
        )
        .bind(r.login_id.0)
        .bind(r.mailbox_id.0)
        .bind(r.sealed_key)
        .bind(r.last_step)
        .bind(r.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn remove_totp(&self, login: LoginId) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query("DELETE FROM login_totp WHERE login_id = $1")
            .bind(login.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn use_totp_step(&self, login: LoginId, step: i64) -> StoreResult<bool> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "UPDATE login_totp SET last_step = $1 WHERE login_id = $2 AND last_step < $1",
        )
        .bind(step)
        .bind(login.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(n == 1)
    }
}
