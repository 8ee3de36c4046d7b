//! The harness: a fresh store on each backend for each test, and the test run against it
//! within a time limit.
//!
//! - SQLite: a new file in a temporary folder, `Store::connect("sqlite://PATH")`.
//! - PostgreSQL: a new database `jobcast_conformance_<unix seconds>_<uuid>` on the server that
//!   `JOBCAST_TEST_POSTGRES_URL` names, dropped once the test has passed (in the background,
//!   see [`TestDatabase::drop_in_background`]). After a failure it is kept for a look (its URL
//!   is printed); the first test of a later run drops leftovers once they are older than
//!   [`STALE_DATABASE`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::Duration;

use jobcast::store::Store;

/// The server the PostgreSQL half runs on; without it that half is skipped, loudly.
pub const POSTGRES_URL_VAR: &str = "JOBCAST_TEST_POSTGRES_URL";

/// Longer than any test here takes on either backend; a test still running then has hung.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Databases of earlier runs older than this are dropped (no test takes this long).
const STALE_DATABASE: Duration = Duration::from_secs(15 * 60);

/// The prefix of every database this suite makes.
const DATABASE_PREFIX: &str = "jobcast_conformance_";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `test` (the test `name`) against a fresh store on `backend`.
pub async fn run<F, Fut>(backend: Backend, name: &str, test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    run_two(backend, name, |store, other: Store| async move {
        other.close().await;
        test(store).await
    })
    .await
}

/// Runs `test` against two stores opened on one fresh database on `backend`, as two processes
/// would open it: each with its own connections and its own batch writer.
pub async fn run_two<F, Fut>(backend: Backend, name: &str, test: F)
where
    F: FnOnce(Store, Store) -> Fut,
    Fut: Future<Output = ()>,
{
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let url = format!("sqlite://{}", dir.path().join("jobcast.db").display());
            let store = Store::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
            let other = Store::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("cannot open {url} again: {e}"));
            within_time_limit(name, test(store.clone(), other.clone())).await;
            store.close().await;
            other.close().await;
        }
        Backend::Postgres => {
            let Some(server) = postgres_server(name) else {
                return;
            };
            let database = TestDatabase::create(&server).await;
            let store = Store::connect(&database.url)
                .await
                .unwrap_or_else(|e| panic!("cannot open {}: {e}", database.url));
            let other = Store::connect(&database.url)
                .await
                .unwrap_or_else(|e| panic!("cannot open {} again: {e}", database.url));
            within_time_limit(name, test(store.clone(), other.clone())).await;
            store.close().await;
            other.close().await;
            database.drop_in_background();
        }
    }
}

async fn within_time_limit(name: &str, test: impl Future<Output = ()>) {
    if tokio::time::timeout(TIME_LIMIT, test).await.is_err() {
        panic!("{name} did not finish within {TIME_LIMIT:?}");
    }
}

/// The PostgreSQL server to test on, or `None` (said on stderr) when none is configured.
fn postgres_server(name: &str) -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            say_postgres_skipped(name);
            None
        }
    }
}

/// Straight to the process's stderr: libtest captures `eprintln!` from a passing test, and a
/// run that never touched PostgreSQL must not look like one that passed on it.
fn say_postgres_skipped(name: &str) {
    use std::io::Write;
    static BANNER: Once = Once::new();
    let mut stderr = std::io::stderr();
    BANNER.call_once(|| {
        let _ = writeln!(
            stderr,
            "\n*** The PostgreSQL half of the store conformance suite is NOT RUNNING: \
             {POSTGRES_URL_VAR} is not set. Its tests report ok without testing anything. \
             Run it with\n***   {POSTGRES_URL_VAR}=postgres://postgres@127.0.0.1:5432/test \
             cargo test --test conformance\n"
        );
    });
    let _ = writeln!(stderr, "*** SKIPPED (no {POSTGRES_URL_VAR}): {name}");
}

/// A database made for one test on the PostgreSQL server.
struct TestDatabase {
    /// The server's URL as configured (its database is where we connect to make ours).
    server: String,
    name: String,
    url: String,
    dropped: bool,
}

impl TestDatabase {
    async fn create(server: &str) -> TestDatabase {
        use sqlx::{Connection, Executor};
        let now = unix_time();
        let name = format!(
            "{DATABASE_PREFIX}{}_{}",
            now.as_secs(),
            uuid::Uuid::now_v7().simple()
        );
        let mut conn = sqlx::PgConnection::connect(server)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {server} ({POSTGRES_URL_VAR}): {e}"));
        static SWEPT: AtomicBool = AtomicBool::new(false);
        if !SWEPT.swap(true, Ordering::SeqCst) {
            drop_stale(&mut conn, now).await;
        }
        conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let _ = conn.close().await;
        TestDatabase {
            url: with_database(server, &name),
            server: server.to_owned(),
            name,
            dropped: false,
        }
    }

    /// Drops the database on a thread of its own, without waiting for it.
    ///
    /// A `DROP DATABASE` makes PostgreSQL checkpoint, hundreds of milliseconds each on a busy
    /// machine: waiting for them tripled the suite's time. Drops under way together share
    /// checkpoints, and the next tests run meanwhile. The last few may be cut short when the
    /// test process exits; a later run drops those once they are stale.
    fn drop_in_background(self) {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the drop")
                .block_on(self.drop_it())
        });
    }

    /// Drops the database (the store is closed by now; `FORCE` ends a connection that is
    /// still on its way out, such as the store's notification listener).
    async fn drop_it(mut self) {
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::PgConnection::connect(&self.server)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.server));
        conn.execute(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name).as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot drop the test database {}: {e}", self.name));
        let _ = conn.close().await;
        self.dropped = true;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if !self.dropped && std::thread::panicking() {
            eprintln!(
                "the PostgreSQL database of this failed test is kept for a look: {}",
                self.url
            );
        }
    }
}

/// Drops this suite's databases older than [`STALE_DATABASE`], left by failed or killed runs.
async fn drop_stale(conn: &mut sqlx::PgConnection, now: Duration) {
    use sqlx::Executor;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(DATABASE_PREFIX)
            .fetch_all(&mut *conn)
            .await
            .expect("listing the databases");
    for stale in names {
        let made = stale
            .strip_prefix(DATABASE_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if made.is_some_and(|made| made + STALE_DATABASE.as_secs() < now.as_secs()) {
            // One still in use (a run that is somehow still going) refuses; leave it be.
            let _ = conn
                .execute(format!("DROP DATABASE IF EXISTS \"{stale}\"").as_str())
                .await;
        }
    }
}

fn unix_time() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
}

/// `url` with its database replaced by `name` (user, host, port and parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("{POSTGRES_URL_VAR} is not a postgres:// URL: {url}"));
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, format!("?{query}")),
        None => (rest, String::new()),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{authority}/{name}{query}")
}

#[test]
fn the_database_name_replaces_only_the_path_of_the_url() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "db1"),
        "postgres://postgres@127.0.0.1:5432/db1"
    );
    assert_eq!(
        with_database("postgresql://u:p@h/test?sslmode=disable", "db2"),
        "postgresql://u:p@h/db2?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "db3"), "postgres://h/db3");
}
