//! Opening a PostgreSQL store: one connection first (so a refusal says why at once), the pool,
//! the migrations, the listener for other processes' changes, and the group-commit writer.

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::Connection as _;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::listen::{listen, Bumps, CHANNEL};
use super::{Batches, PgStore, MIGRATOR};
use crate::store::batch::Writes;
use crate::store::{PoolOptions, StoreError};

impl PgStore {
    /// Connects to the database at `url` with a pool as `pool` says (and one
    /// connection more, for LISTEN) and applies migrations (several processes starting at once
    /// take turns: sqlx holds an advisory lock while migrating). The database must exist.
    pub async fn connect(url: &str, pool: PoolOptions) -> Result<PgStore, StoreError> {
        let open_err = |source| StoreError::Open {
            url: redacted(url),
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(open_err)?;
        // One connection first: a pool retries until its timeout and then reports only that,
        // while this says why (refused, no such database, authentication failed) at once.
        sqlx::PgConnection::connect_with(&options)
            .await
            .map_err(open_err)?
            .close()
            .await
            .map_err(open_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections.max(1))
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        MIGRATOR.run(&pool).await?;
        let changed = Arc::new(watch::Sender::new(0u64));
        let became_queued = Arc::new(watch::Sender::new(0u64));
        let stop_listening = CancellationToken::new();
        // Listening starts before the store is handed out, so no write after that is missed.
        let mut listener = PgListener::connect(url).await.map_err(open_err)?;
        listener.listen(CHANNEL).await.map_err(open_err)?;
        tokio::spawn(listen(
            listener,
            url.to_owned(),
            Bumps {
                changed: changed.clone(),
                queued: became_queued.clone(),
            },
            stop_listening.clone(),
        ));
        let keep_log_lines = Arc::new(AtomicI64::new(i64::MAX));
        let commits = Arc::new(AtomicU64::new(0));
        let notify = changed.clone();
        let writes = Writes::start(
            Batches { pool: pool.clone() },
            keep_log_lines.clone(),
            commits.clone(),
            move || notify.send_modify(|n| *n = n.wrapping_add(1)),
        );
        Ok(PgStore {
            pool,
            changed,
            became_queued,
            keep_log_lines,
            commits,
            writes,
            stop_listening,
        })
    }
}

/// `url` without its password, for error messages: `postgres://user:***@host/db`.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_left_out_of_urls_in_messages() {
        assert_eq!(
            redacted("postgres://jobcast:s3cret@db:5432/jobs?sslmode=require"),
            "postgres://jobcast:***@db:5432/jobs?sslmode=require"
        );
        assert_eq!(
            redacted("postgresql://postgres@127.0.0.1/test"),
            "postgresql://postgres@127.0.0.1/test"
        );
        assert_eq!(redacted("postgres:///test"), "postgres:///test");
    }
}
