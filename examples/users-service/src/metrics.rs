//! The service's Prometheus metrics: request outcomes kept in atomics, rendered as text on
//! `GET /metrics`. Deliberately tiny (no global recorder, so several services can share a process
//! in tests). Not here: herald's own consumer metrics.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one service instance.
#[derive(Debug, Default)]
pub struct Counters {
    /// Users created (201).
    pub created: AtomicU64,
    /// Users updated (200 on PUT).
    pub updated: AtomicU64,
    /// Users deleted (200 on DELETE).
    pub deleted: AtomicU64,
    /// Writes refused with a 4xx.
    pub rejected: AtomicU64,
    /// Writes failed with a 5xx.
    pub failed: AtomicU64,
}

impl Counters {
    /// Counts a failed write by its class; successes are counted where they happen.
    pub(crate) fn count(&self, error: Option<axum::http::StatusCode>) {
        if let Some(status) = error {
            let counter = if status.is_server_error() {
                &self.failed
            } else {
                &self.rejected
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The Prometheus text exposition of `counters` and the outbox backlog (`None`: unreadable).
pub fn render(counters: &Counters, outbox_unsent: Option<u64>) -> String {
    let mut text = String::new();
    for (name, help, value) in [
        ("users_created_total", "Users created.", &counters.created),
        ("users_updated_total", "Users updated.", &counters.updated),
        ("users_deleted_total", "Users deleted.", &counters.deleted),
        (
            "users_rejected_total",
            "Writes refused as invalid or conflicting (4xx).",
            &counters.rejected,
        ),
        (
            "users_failed_total",
            "Writes failed on the server side (5xx).",
            &counters.failed,
        ),
    ] {
        let _ = writeln!(
            text,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            value.load(Ordering::Relaxed)
        );
    }
    if let Some(unsent) = outbox_unsent {
        let _ = writeln!(text, "# HELP users_outbox_unsent Events written but not yet published.\n# TYPE users_outbox_unsent gauge\nusers_outbox_unsent {unsent}");
    }
    text
}
