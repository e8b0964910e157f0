//! Graceful shutdown: one [`CancellationToken`] that every task watches and
//! one [`TaskTracker`] that counts them.
//!
//! The listener stops accepting as soon as the token is cancelled. Each
//! connection finishes the batch it is executing, writes its replies, and
//! ends at its next read. [`Shutdown::finish`] then waits for all of them,
//! but only until a deadline: a client that stopped reading must not keep
//! the process alive (its task is dropped with the runtime).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The shutdown handles shared by the listener and the connections.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    /// The token tasks select on.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The tracker tasks are spawned on.
    pub(crate) fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Signals every task, then waits up to `deadline` for them to end.
    /// Returns whether all ended in time.
    pub(crate) async fn finish(&self, deadline: Duration) -> bool {
        self.token.cancel();
        self.tracker.close();
        let done = tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok();
        if !done {
            tracing::warn!(
                remaining = self.tracker.len(),
                "shutdown deadline passed with connections still open"
            );
        }
        done
    }
}
