//! Change notifications between the processes sharing a database: every write that changes a
//! job sends `NOTIFY jobcast_changes` (delivered at commit), and one connection per process
//! listens, so streams and idle runners everywhere look at once. The pollers' ticks remain the
//! fallback should a notification be lost while the listener reconnects.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The channel writes notify and [`listen`] listens on.
pub(super) const CHANNEL: &str = "jobcast_changes";

/// How long the listener waits before connecting again after a failure.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Bumps `changed` on every notification of a change, from any process, until `stop`;
/// `listener` already listens. A lost connection is made again (after [`LISTEN_RETRY`] if
/// that fails); notifications sent meanwhile are lost, so each reconnection bumps once too,
/// and the pollers look.
pub(super) async fn listen(
    mut listener: PgListener,
    url: String,
    bumps: Bumps,
    stop: CancellationToken,
) {
    let bump = |sender: &watch::Sender<u64>| sender.send_modify(|n| *n = n.wrapping_add(1));
    // After a gap in listening anything may have changed, a queued job too.
    let bump_all = || {
        bump(&bumps.changed);
        bump(&bumps.queued);
    };
    let mut listening = true;
    loop {
        if !listening {
            match listener.listen(CHANNEL).await {
                Ok(()) => listening = true,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for changes; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(LISTEN_RETRY) => {}
                    }
                    if let Ok(fresh) = PgListener::connect(&url).await {
                        listener = fresh;
                    }
                    continue;
                }
            }
        }
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            next = listener.try_recv() => next,
        };
        match next {
            Ok(Some(notification)) => {
                bump(&bumps.changed);
                if notification.payload() == "queued" {
                    bump(&bumps.queued);
                }
            }
            // Reconnected (sqlx listens again on the new connection): changes may have been
            // missed in between.
            Ok(None) => bump_all(),
            Err(error) => {
                tracing::warn!(%error, "lost the change notifications; reconnecting");
                listening = false;
                bump_all();
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(LISTEN_RETRY) => {}
                }
            }
        }
    }
}

/// What [`listen`] tells the rest of the process.
pub(super) struct Bumps {
    /// Any job changed.
    pub(super) changed: Arc<watch::Sender<u64>>,
    /// A job became queued.
    pub(super) queued: Arc<watch::Sender<u64>>,
}
