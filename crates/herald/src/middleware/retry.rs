//! Retry with exponential backoff: the policy and its math.
//!
//! The consumer runner applies it per partition: while a message waits for its next attempt only that
//! partition stops (its queue fills and the runner pauses it); other partitions keep flowing and the
//! group member keeps polling and heartbeating. After [`RetryPolicy::max_attempts`] failed attempts the
//! message goes to the dead-letter topic (see [`super::dead_letter`]). This module does no I/O.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Upper bound on `max_attempts`, so a typo cannot wedge a partition for days.
pub const ATTEMPTS_MAX: u32 = 1_000;

/// How often and how patiently a failing message is retried.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in total, the first included; after this many failures the message is dead-lettered.
    pub max_attempts: u32,
    /// Wait after the first failure, in milliseconds.
    pub initial_backoff_ms: u64,
    /// Longest wait between two attempts, in milliseconds.
    pub max_backoff_ms: u64,
    /// Factor by which the wait grows after each further failure.
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff_ms: 200,
            max_backoff_ms: 30_000,
            multiplier: 2.0,
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` failed attempts (1 = after the first failure):
    /// `initial * multiplier^(failures-1)`, capped at `max_backoff_ms`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(64) as i32;
        let millis = self.initial_backoff_ms as f64 * self.multiplier.powi(exponent);
        let capped = millis.min(self.max_backoff_ms as f64).max(0.0);
        Duration::from_millis(capped as u64)
    }

    /// Whether a message that failed `failures` times gets another attempt.
    pub fn should_retry(&self, failures: u32) -> bool {
        failures < self.max_attempts
    }

    /// Checks the policy's ranges.
    pub fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 || self.max_attempts > ATTEMPTS_MAX {
            return Err(Error::config(
                "retry.max_attempts",
                format!("must be 1..={ATTEMPTS_MAX}"),
            ));
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(Error::config("retry.multiplier", "must be a number >= 1"));
        }
        if self.initial_backoff_ms > self.max_backoff_ms {
            return Err(Error::config(
                "retry.initial_backoff_ms",
                "must not exceed retry.max_backoff_ms",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        // Proves the exponential schedule and its cap, including absurd failure counts.
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
            multiplier: 2.0,
        };
        let waits: Vec<u64> = (1..=6)
            .map(|n| policy.backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_millis(1_000));
    }

    #[test]
    fn attempts_count_the_first_try() {
        // Proves max_attempts = 3 means two retries after the first failure, then dead-letter.
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(policy.should_retry(1));
        assert!(policy.should_retry(2));
        assert!(!policy.should_retry(3));
    }

    #[test]
    fn nonsense_policies_are_rejected() {
        // Proves validation catches zero attempts, shrinking multipliers and inverted bounds.
        let bad = [
            RetryPolicy {
                max_attempts: 0,
                ..RetryPolicy::default()
            },
            RetryPolicy {
                multiplier: 0.5,
                ..RetryPolicy::default()
            },
            RetryPolicy {
                multiplier: f64::NAN,
                ..RetryPolicy::default()
            },
            RetryPolicy {
                initial_backoff_ms: 10,
                max_backoff_ms: 1,
                ..RetryPolicy::default()
            },
        ];
        for policy in bad {
            assert!(policy.validate().is_err(), "{policy:?}");
        }
        assert!(RetryPolicy::default().validate().is_ok());
    }
}
