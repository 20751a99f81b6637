//! Accounts (tenants) and their API keys.

use finconn_core::keys::KeyKind;
use finconn_core::model::{AccountRecord, ApiKeyRecord};
use finconn_core::StoreError;

use crate::pool::{BeginWrite, Exec, Pools};
use crate::sql::Q;
use crate::{corrupt, db_err};

pub(crate) async fn find_api_key(pools: &Pools, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
    let row: Option<(String, String, String, bool, bool, i64)> = pools
        .opt(
            Q::new("SELECT hash, account_id, kind, livemode, sandbox, created FROM api_keys WHERE hash = $1")
                .bind(hash),
        )
        .await?;
    row.map(|(hash, account, kind, livemode, sandbox, created)| {
        Ok(ApiKeyRecord {
            hash,
            account,
            kind: KeyKind::parse(&kind).ok_or_else(|| corrupt(format!("key kind {kind}")))?,
            livemode,
            sandbox,
            created,
        })
    })
    .transpose()
}

pub(crate) async fn provision_account(
    pools: &Pools,
    account: &AccountRecord,
    keys: &[ApiKeyRecord],
) -> Result<bool, StoreError> {
    on_pool!(pools, write, |p| {
        let mut tx = p.begin_write().await.map_err(db_err)?;
        for k in keys {
            let owner: Option<String> = sqlx::query_scalar("SELECT account_id FROM api_keys WHERE hash = $1")
                .bind(&k.hash)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            if owner.is_some_and(|o| o != account.id) {
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO accounts (id, display_name, sandbox, created) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&account.id)
        .bind(&account.display_name)
        .bind(account.sandbox)
        .bind(account.created)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        for k in keys {
            sqlx::query(
                "INSERT INTO api_keys (hash, account_id, kind, livemode, sandbox, created) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (hash) DO NOTHING",
            )
            .bind(&k.hash)
            .bind(&k.account)
            .bind(k.kind.as_str())
            .bind(k.livemode)
            .bind(k.sandbox)
            .bind(k.created)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    })
}

pub(crate) async fn get_account(pools: &Pools, id: &str) -> Result<Option<AccountRecord>, StoreError> {
    let row: Option<(String, Option<String>, bool, i64)> =
        pools.opt(Q::new("SELECT id, display_name, sandbox, created FROM accounts WHERE id = $1").bind(id)).await?;
    Ok(row.map(|(id, display_name, sandbox, created)| AccountRecord { id, display_name, sandbox, created }))
}
