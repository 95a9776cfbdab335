//! The one error type of the herald library.

/// Everything that can go wrong in herald.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Placeholder until the real variants land.
    #[error("{0}")]
    Other(String),
}

/// `Result` with herald's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
