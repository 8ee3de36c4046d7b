//! The store conformance suite: the contract of [`jobcast::store::Store`], written once and run
//! against every backend (modelled on River's `riverdrivertest`).
//!
//! Every public method of `Store` and its doc comment is the contract; each test here pins one
//! guarantee of it (claim order, leases and their recovery, the status transitions, versions
//! and change numbers, log lines, idempotency keys, retention, uploads, listing) through the
//! public API only, never through SQL. A backend is accepted when it passes this suite: a new
//! backend, or a change to an existing one, is done when `cargo test --test conformance` is
//! green on it.
//!
//! Each test is an `async fn(Store)` declared once with `conformance!(name)`, which expands to
//! a module `name` holding two `#[tokio::test]`s, `name::sqlite` and `name::postgres`, each
//! handing the test a fresh store of its own (see `backends.rs`):
//!
//! - SQLite always: a new database file in a temporary folder.
//! - PostgreSQL when `JOBCAST_TEST_POSTGRES_URL` names a server (a role that may create
//!   databases): a new database made there for the test, dropped after it passes (kept after
//!   a failure, for a look; leftovers older than 15 minutes are dropped by later runs).
//!   Without the variable the PostgreSQL half does not run and says so on stderr, past the
//!   test runner's output capture.
//!
//! ```text
//! cargo test --test conformance                      # SQLite (PostgreSQL skipped, loudly)
//! JOBCAST_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo test --test conformance
//! cargo test --test conformance ::postgres           # one backend only
//! ```
//!
//! Time never passes by sleeping and hoping: where it must (a lease expiring, a job coming
//! due), leases are short or times lie in the past, and the test polls with a deadline.

/// Declares a conformance test, `async fn $name(store: Store)` in the same file, once for every
/// backend: `conformance!(name);`, or `conformance!(multi_thread name);` for a test whose
/// tasks must really run at once (a runtime of two worker threads). Attributes before the
/// name (`#[ignore = "why"]`) apply to both halves; `postgres: #[ignore = "why"]` after it
/// to the PostgreSQL half only, `sqlite: ...` to the SQLite half only.
macro_rules! conformance {
    // `conformance!(two_stores name)`: `async fn name(store: Store, other: Store)`, two stores
    // on one database, as two processes would have (multi-threaded).
    (two_stores $name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::backends::run_two(
                    $crate::backends::Backend::Sqlite,
                    concat!(module_path!(), "::sqlite"),
                    super::$name,
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::backends::run_two(
                    $crate::backends::Backend::Postgres,
                    concat!(module_path!(), "::postgres"),
                    super::$name,
                )
                .await;
            }
        }
    };
    ($(#[$both:meta])* multi_thread $name:ident $(; sqlite: #[$sqlite:meta])? $(; postgres: #[$postgres:meta])?) => {
        conformance!(@expand [flavor = "multi_thread", worker_threads = 2] $name [$($both)*] [$($sqlite)?] [$($postgres)?]);
    };
    ($(#[$both:meta])* $name:ident $(; sqlite: #[$sqlite:meta])? $(; postgres: #[$postgres:meta])?) => {
        conformance!(@expand [flavor = "current_thread"] $name [$($both)*] [$($sqlite)?] [$($postgres)?]);
    };
    (@expand [$($flavor:tt)*] $name:ident [$($both:meta)*] [$($sqlite:meta)?] [$($postgres:meta)?]) => {
        mod $name {
            #[tokio::test($($flavor)*)]
            $(#[$both])*
            $(#[$sqlite])?
            async fn sqlite() {
                $crate::backends::run(
                    $crate::backends::Backend::Sqlite,
                    concat!(module_path!(), "::sqlite"),
                    super::$name,
                )
                .await;
            }

            #[tokio::test($($flavor)*)]
            $(#[$both])*
            $(#[$postgres])?
            async fn postgres() {
                $crate::backends::run(
                    $crate::backends::Backend::Postgres,
                    concat!(module_path!(), "::postgres"),
                    super::$name,
                )
                .await;
            }
        }
    };
}

mod backends;
mod fixtures;

mod attempts;
mod changes;
mod claims;
mod control;
mod families;
mod idempotency;
mod leases;
mod listing;
mod logs;
mod reads;
mod retention;
mod transitions;
mod uploads;
