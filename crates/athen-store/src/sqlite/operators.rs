//! The administrators (operators) and the one-time bootstrap token.

use super::*;

#[async_trait]
impl OperatorStore for SqliteStore {
    async fn operator_by_login(&self, login: &str) -> StoreResult<Option<Operator>> {
        sqlx::query("SELECT id, name, login, verifier, totp_sealed, created_at FROM operators WHERE login = $1")
            .bind(login)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?
            .map(|r| {
                Ok(Operator {
                    id: OperatorId(r.try_get("id").map_err(db_err)?),
                    name: r.try_get("name").map_err(db_err)?,
                    login: r.try_get("login").map_err(db_err)?,
                    verifier: r.try_get("verifier").map_err(db_err)?,
                    totp_sealed: r.try_get("totp_sealed").map_err(db_err)?,
                    created_at: r.try_get("created_at").map_err(db_err)?,
                })
            })
            .transpose()
    }

    async fn set_operator_totp(&self, id: OperatorId, sealed: Option<Vec<u8>>) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE operators SET totp_sealed = $1, totp_last_step = 0 WHERE id = $2")
                .bind(sealed)
                .bind(id.0)
                .execute(&self.write)
                .await
                .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("operator {}", id.0)));
        }
        Ok(())
    }

    async fn use_operator_totp_step(&self, id: OperatorId, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE operators SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
        )
        .bind(step)
        .bind(id.0)
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_operators(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM operators")
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?;
        Ok(n as u64)
    }

    async fn add_operator(
        &self,
        name: &str,
        login: &str,
        verifier: Vec<u8>,
        at: UnixTime,
    ) -> StoreResult<OperatorId> {
        let mut tx = self.tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO operators (name, login, verifier, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(login)
        .bind(verifier)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("the operator login {login} is already in use")),
            other => other,
        })?;
        tx.commit().await.map_err(db_err)?;
        Ok(OperatorId(id))
    }

    async fn set_bootstrap_token(&self, hash: Vec<u8>, at: UnixTime) -> StoreResult<()> {
        let mut tx = self.tx().await?;
        sqlx::query(
            "INSERT INTO bootstrap_token (id, hash, created_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at",
        )
        .bind(hash)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn take_bootstrap_token(&self, hash: &[u8]) -> StoreResult<bool> {
        let mut tx = self.tx().await?;
        let n = sqlx::query("DELETE FROM bootstrap_token WHERE id = 1 AND hash = $1")
            .bind(hash)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(n == 1)
    }
}
