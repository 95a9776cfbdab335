//! Closing consumers off the request path. A consumer with a group id takes about 100 ms to drop
//! (rdkafka polls until librdkafka reports it closed), so pages hand theirs to [`Closer`], whose
//! threads close them meanwhile.

use std::sync::Arc;

use super::Reader;

/// Consumers waiting to be closed off the request path (more blocks the caller until one closes).
pub const CONSUMERS_CLOSING_MAX: usize = 64;
/// Threads that close consumers. A consumer with a group id takes ~100 ms to close (rdkafka polls
/// until librdkafka says it is closed), mostly waiting, so a few threads close many at once.
pub const CLOSING_THREADS: usize = 8;

/// Closes consumers on its own threads, so that a page never waits for a close. The threads end
/// when the `Cluster` (the only sender) is dropped and the queue is drained.
pub(crate) struct Closer {
    sender: std::sync::mpsc::SyncSender<Reader>,
}

impl Closer {
    pub(crate) fn start() -> Closer {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Reader>(CONSUMERS_CLOSING_MAX);
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        for i in 0..CLOSING_THREADS {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("console-close-{i}"))
                .spawn(move || loop {
                    let next = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    match next {
                        Ok(consumer) => drop(consumer),
                        Err(_) => return,
                    }
                });
            if let Err(error) = spawned {
                tracing::warn!(%error, "cannot start a consumer-closing thread");
            }
        }
        Closer { sender }
    }

    /// Hands `consumer` over to be closed; closes it here when the queue is full or gone.
    pub(crate) fn close(&self, consumer: Reader) {
        match self.sender.try_send(consumer) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(consumer))
            | Err(std::sync::mpsc::TrySendError::Disconnected(consumer)) => drop(consumer),
        }
    }
}
