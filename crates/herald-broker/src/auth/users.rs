//! The users file (`--sasl-users FILE`): who may log in, with salted credentials, never passwords.
//!
//! One credential per line, `#` starts a comment, blank lines are skipped:
//!
//! ```text
//! # name:mechanism:iterations:salt:stored_key:server_key   (salt and keys in standard base64)
//! alice:SCRAM-SHA-256:4096:c2FsdA==:...:...
//! alice:SCRAM-SHA-512:4096:c2FsdA==:...:...
//! bob:PLAIN:4096:c2FsdA==:...:...
//! ```
//!
//! mechanism is `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`. Every entry is a SCRAM stored credential
//! (RFC 5802: StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword,
//! "Server Key")); a `PLAIN` entry is derived with SHA-256. A SCRAM login needs an entry for its own
//! mechanism; a PLAIN login checks the password against the user's PLAIN entry, else its
//! SCRAM-SHA-256, else its SCRAM-SHA-512 entry. [`credential_line`] writes a line from a password
//! (`herald broker --hash-password`). Not here: the exchange itself (`scram.rs`, `plain.rs`).
//!
//! Main types: [`Users`], [`Mechanism`].

use std::collections::HashMap;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::RngCore;

use super::scram::{ScramCredential, ScramMechanism, ITERATIONS_MAX, ITERATIONS_MIN};
use crate::BrokerError;

/// Bytes of random salt in a generated credential.
const SALT_BYTES: usize = 16;

/// A SASL mechanism this broker offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
}

impl Mechanism {
    /// Every mechanism, in the order SaslHandshake lists them.
    pub const ALL: [Mechanism; 3] = [
        Mechanism::Plain,
        Mechanism::Scram(ScramMechanism::Sha256),
        Mechanism::Scram(ScramMechanism::Sha512),
    ];

    /// The SASL name (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`).
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(m) => m.name(),
        }
    }

    /// The mechanism named `name` (case-sensitive, as SASL names are).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The hash the stored credential of this mechanism uses.
    fn scram(self) -> ScramMechanism {
        match self {
            Mechanism::Plain => ScramMechanism::Sha256,
            Mechanism::Scram(m) => m,
        }
    }
}

/// Every user's credentials, by (name, mechanism).
#[derive(Debug, Default, Clone)]
pub struct Users {
    credentials: HashMap<(String, Mechanism), ScramCredential>,
}

impl Users {
    /// Reads and parses the users file.
    pub fn load(path: &Path) -> Result<Self, BrokerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BrokerError::io("read users file", path, e))?;
        Self::parse(&text).map_err(|reason| BrokerError::InvalidSecurityFile {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses the users file's text; the error names the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut users = Users::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, mechanism, credential) =
                parse_line(line).map_err(|reason| format!("line {}: {reason}", index + 1))?;
            users.credentials.insert((name, mechanism), credential);
        }
        Ok(users)
    }

    /// The stored credential of `name` for `mechanism`.
    pub fn credential(&self, name: &str, mechanism: Mechanism) -> Option<&ScramCredential> {
        self.credentials.get(&(name.to_string(), mechanism))
    }

    /// Whether `password` is `name`'s password (a PLAIN login); false for unknown users.
    pub fn verify_password(&self, name: &str, password: &str) -> bool {
        let found = self
            .first_credential_mechanism(name)
            .and_then(|m| self.credential(name, m).map(|c| (m, c)));
        match found {
            Some((m, c)) => c.verifies(m.scram(), password),
            None => {
                // Spend the same work as a real check, so timing does not reveal who exists.
                let _ = ScramCredential::derive(
                    ScramMechanism::Sha256,
                    password,
                    b"unknown user",
                    ITERATIONS_MIN,
                );
                false
            }
        }
    }

    /// Whether `name` has any credential here.
    pub fn has_user(&self, name: &str) -> bool {
        self.first_credential_mechanism(name).is_some()
    }

    fn first_credential_mechanism(&self, name: &str) -> Option<Mechanism> {
        Mechanism::ALL
            .into_iter()
            .find(|m| self.credential(name, *m).is_some())
    }

    /// Sets `name`'s credential for `mechanism`.
    pub fn insert(&mut self, name: &str, mechanism: Mechanism, credential: ScramCredential) {
        self.credentials
            .insert((name.to_string(), mechanism), credential);
    }

    /// Removes `name`'s credential for `mechanism`; whether there was one.
    pub fn remove(&mut self, name: &str, mechanism: Mechanism) -> bool {
        self.credentials
            .remove(&(name.to_string(), mechanism))
            .is_some()
    }

    /// Every (name, mechanism, credential), sorted by name then mechanism name.
    pub fn entries(&self) -> Vec<(&str, Mechanism, &ScramCredential)> {
        let mut entries: Vec<_> = self
            .credentials
            .iter()
            .map(|((name, mechanism), c)| (name.as_str(), *mechanism, c))
            .collect();
        entries.sort_by(|a, b| (a.0, a.1.name()).cmp(&(b.0, b.1.name())));
        entries
    }

    /// The users file's text for these credentials (what [`Users::parse`] reads back).
    pub fn to_text(&self) -> String {
        let mut text = String::from("# name:mechanism:iterations:salt:stored_key:server_key\n");
        for (name, mechanism, c) in self.entries() {
            text.push_str(&format!(
                "{name}:{}:{}:{}:{}:{}\n",
                mechanism.name(),
                c.iterations,
                BASE64.encode(&c.salt),
                BASE64.encode(&c.stored_key),
                BASE64.encode(&c.server_key)
            ));
        }
        text
    }

    /// How many credentials are loaded.
    pub fn len(&self) -> usize {
        self.credentials.len()
    }

    /// Whether the file held no credential.
    pub fn is_empty(&self) -> bool {
        self.credentials.is_empty()
    }
}

fn parse_line(line: &str) -> Result<(String, Mechanism, ScramCredential), String> {
    let fields: Vec<&str> = line.split(':').collect();
    let [name, mechanism, iterations, salt, stored_key, server_key] = fields.as_slice() else {
        return Err(format!(
            "expected name:mechanism:iterations:salt:stored_key:server_key, found {} fields",
            fields.len()
        ));
    };
    if name.is_empty() {
        return Err("empty user name".into());
    }
    let mechanism = Mechanism::from_name(mechanism)
        .ok_or_else(|| format!("unknown mechanism {mechanism:?}"))?;
    let iterations: u32 = iterations
        .parse()
        .ok()
        .filter(|i| (ITERATIONS_MIN..=ITERATIONS_MAX).contains(i))
        .ok_or_else(|| {
            format!("iterations {iterations:?} not in {ITERATIONS_MIN}..={ITERATIONS_MAX}")
        })?;
    let decode = |what: &str, value: &str| {
        BASE64
            .decode(value)
            .map_err(|e| format!("{what} is not base64: {e}"))
    };
    let credential = ScramCredential {
        salt: decode("salt", salt)?,
        iterations,
        stored_key: decode("stored_key", stored_key)?,
        server_key: decode("server_key", server_key)?,
    };
    Ok((name.to_string(), mechanism, credential))
}

/// A users-file line for `name` logging in with `mechanism` and `password` (random salt, 4096
/// iterations).
pub fn credential_line(name: &str, mechanism: Mechanism, password: &str) -> String {
    let mut salt = [0u8; SALT_BYTES];
    rand::thread_rng().fill_bytes(&mut salt);
    let c = ScramCredential::derive(mechanism.scram(), password, &salt, ITERATIONS_MIN);
    format!(
        "{name}:{}:{}:{}:{}:{}",
        mechanism.name(),
        c.iterations,
        BASE64.encode(&c.salt),
        BASE64.encode(&c.stored_key),
        BASE64.encode(&c.server_key)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Generated lines parse back, verify their password for PLAIN, and nothing else verifies.
    #[test]
    fn generated_lines_round_trip() {
        let text = format!(
            "# comment\n\n{}\n{}\n",
            credential_line("alice", Mechanism::Scram(ScramMechanism::Sha512), "pw1"),
            credential_line("bob", Mechanism::Plain, "pw2"),
        );
        let users = Users::parse(&text).unwrap();
        assert_eq!(users.len(), 2);
        assert!(users.verify_password("alice", "pw1"));
        assert!(users.verify_password("bob", "pw2"));
        assert!(!users.verify_password("bob", "pw1"));
        assert!(!users.verify_password("carol", "pw1"));
        assert!(users
            .credential("alice", Mechanism::Scram(ScramMechanism::Sha512))
            .is_some());
        assert!(users
            .credential("alice", Mechanism::Scram(ScramMechanism::Sha256))
            .is_none());
    }

    // Malformed lines are refused with their line number rather than skipped.
    #[test]
    fn malformed_lines_are_refused() {
        for bad in [
            "alice",
            "alice:PLAIN:4096:c2FsdA==:AA==",
            ":PLAIN:4096:c2FsdA==:AA==:AA==",
            "alice:MD5:4096:c2FsdA==:AA==:AA==",
            "alice:PLAIN:1:c2FsdA==:AA==:AA==",
            "alice:PLAIN:4096:!!!:AA==:AA==",
        ] {
            let error = Users::parse(&format!("# x\n{bad}\n")).unwrap_err();
            assert!(error.starts_with("line 2:"), "{error}");
        }
    }
}
