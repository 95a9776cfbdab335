//! Security: SASL authentication (PLAIN, SCRAM-SHA-256/512), per-principal ACLs and TLS on the
//! listener, all off by default.
//!
//! [`Security`] is loaded once at start from the files `BrokerConfig` names (`sasl_users`, `acl`,
//! `tls`). Each connection owns a [`Session`]: with SASL configured it serves nothing but ApiVersions,
//! SaslHandshake and SaslAuthenticate until a login succeeds ([`Session::admit`]); any other request
//! before that closes the connection, as Kafka does. The SASL steps run in the connection, before
//! dispatch; after login the session hands out an [`Authorizer`] that every request's ACL rule
//! (`rules.rs`, named per API in the registry) consults.
//!
//! Principals are `User:<name>` after a SASL login and `User:ANONYMOUS` without SASL. Without an ACL
//! file every authenticated principal may do everything. SaslHandshake v0 (raw SASL tokens on the
//! wire, outside Kafka framing) is refused with UNSUPPORTED_SASL_MECHANISM; clients use v1 plus
//! SaslAuthenticate. Re-authentication (KIP-368) is not offered (session lifetime 0).
//!
//! Main types: [`Security`], [`Session`], [`Authorizer`], [`Refusal`].

pub mod acl;
pub mod acl_store;
mod authorizer;
pub mod plain;
pub mod rules;
pub mod scram;
pub mod tls;
pub mod users;

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use rand::RngCore;

use crate::{BrokerConfig, BrokerError};
use acl::Acls;
use acl_store::AclStore;
pub use authorizer::Authorizer;
use scram::ScramServer;
use users::{Mechanism, Users};

/// The principal of a connection without SASL.
pub const ANONYMOUS_PRINCIPAL: &str = "User:ANONYMOUS";
/// Random bytes in a SCRAM server nonce (base64-encoded on the wire).
const SERVER_NONCE_BYTES: usize = 24;

/// What the broker's security files say, loaded once at start.
#[derive(Default)]
pub struct Security {
    /// Users who may log in; `Some` turns SASL on for every connection.
    pub users: Option<Users>,
    /// Who may do what (the ACL file plus the admin API's bindings); `None` lets every
    /// authenticated principal do everything, and the ACL APIs answer SECURITY_DISABLED.
    pub acls: Option<Arc<AclStore>>,
    /// TLS for the listener.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("sasl_users", &self.users.as_ref().map(Users::len))
            .field("acls", &self.acls.as_ref().map(|acls| acls.len()))
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Security {
    /// Loads every file `config` names; a missing or malformed file fails the start.
    pub fn load(config: &BrokerConfig) -> Result<Self, BrokerError> {
        let users = config.sasl_users.as_deref().map(Users::load).transpose()?;
        let acls = match config.acl.as_deref() {
            None => None,
            Some(path) => Some(Arc::new(AclStore::open(
                Acls::load(path)?,
                path,
                &config.data_dir,
            )?)),
        };
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        Ok(Self { users, acls, tls })
    }

    /// Whether clients must log in with SASL.
    pub fn sasl_enabled(&self) -> bool {
        self.users.is_some()
    }
}

/// Where a connection's SASL exchange stands.
#[derive(Debug)]
enum SaslState {
    /// Nothing yet (or SASL is off).
    Start,
    /// SaslHandshake chose a mechanism; SaslAuthenticate comes next.
    Handshaken(Mechanism),
    /// SCRAM server-first was sent; client-final comes next.
    ScramFirstSent(Box<ScramServer>),
    /// Logged in (or SASL is off).
    Authenticated,
}

/// One connection's authentication state and principal.
#[derive(Debug)]
pub struct Session {
    security: Arc<Security>,
    sasl: SaslState,
    principal: Option<String>,
}

impl Session {
    /// A fresh connection's session: authenticated as ANONYMOUS when SASL is off.
    pub fn new(security: Arc<Security>) -> Self {
        let (sasl, principal) = if security.sasl_enabled() {
            (SaslState::Start, None)
        } else {
            (
                SaslState::Authenticated,
                Some(ANONYMOUS_PRINCIPAL.to_string()),
            )
        };
        Self {
            security,
            sasl,
            principal,
        }
    }

    /// The principal (`User:alice`) once authenticated.
    pub fn principal(&self) -> Option<&str> {
        self.principal.as_deref()
    }

    /// Whether this connection may send `api_key` now; a refusal closes the connection.
    pub fn admit(&self, api_key: ApiKey) -> Result<(), Refusal> {
        let sasl_api = matches!(api_key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate);
        if sasl_api && !self.security.sasl_enabled() {
            return Err(Refusal::SaslDisabled);
        }
        if self.principal.is_none() && !sasl_api && api_key != ApiKey::ApiVersions {
            return Err(Refusal::Unauthenticated);
        }
        Ok(())
    }

    /// Whether SASL is configured (ApiVersions then lists the SASL steps).
    pub fn sasl_enabled(&self) -> bool {
        self.security.sasl_enabled()
    }

    /// The principal's authorizer, for a client connected from `host` (before login only the
    /// login steps are admitted, and those need none).
    pub fn authorizer(&self, host: &str) -> Authorizer {
        let principal = self.principal.as_deref().unwrap_or(ANONYMOUS_PRINCIPAL);
        Authorizer::new(self.security.acls.clone(), principal, host)
    }

    /// SaslHandshake: picks the mechanism. `Err` is the Kafka error code to answer.
    pub fn handshake(&mut self, mechanism: &str, version: i16) -> Result<(), i16> {
        use kafka_protocol::error::ResponseError;
        if !matches!(self.sasl, SaslState::Start) {
            return Err(ResponseError::IllegalSaslState.code());
        }
        match Mechanism::from_name(mechanism) {
            Some(m) if version >= 1 => {
                self.sasl = SaslState::Handshaken(m);
                Ok(())
            }
            _ => Err(ResponseError::UnsupportedSaslMechanism.code()),
        }
    }

    /// SaslAuthenticate: one client token in, one server token out. `Err` fails the login with a
    /// message for the client; the connection is then closed.
    pub fn authenticate(&mut self, token: &[u8]) -> Result<Bytes, String> {
        let Some(users) = self.security.users.as_ref() else {
            return Err("SASL is not enabled".into());
        };
        match std::mem::replace(&mut self.sasl, SaslState::Start) {
            SaslState::Handshaken(Mechanism::Plain) => {
                let credentials = plain::parse_plain(token).map_err(str::to_string)?;
                if !users.verify_password(&credentials.username, &credentials.password) {
                    return Err(invalid_credentials(Mechanism::Plain));
                }
                self.logged_in(&credentials.username);
                Ok(Bytes::new())
            }
            SaslState::Handshaken(Mechanism::Scram(m)) => {
                let first = scram::parse_client_first(token).map_err(|e| e.to_string())?;
                let mechanism = Mechanism::Scram(m);
                let Some(credential) = users.credential(&first.username, mechanism) else {
                    return Err(invalid_credentials(mechanism));
                };
                let (server, server_first) =
                    ScramServer::start(m, credential.clone(), first, &server_nonce());
                self.sasl = SaslState::ScramFirstSent(Box::new(server));
                Ok(Bytes::from(server_first))
            }
            SaslState::ScramFirstSent(server) => {
                let server_final = server.finish(token).map_err(|e| match e {
                    scram::ScramError::InvalidProof => {
                        invalid_credentials(Mechanism::Scram(server_mechanism(&server)))
                    }
                    other => other.to_string(),
                })?;
                self.logged_in(server.username());
                Ok(Bytes::from(server_final))
            }
            SaslState::Start | SaslState::Authenticated => {
                Err("SaslAuthenticate without a SaslHandshake".into())
            }
        }
    }

    fn logged_in(&mut self, username: &str) {
        tracing::debug!(user = username, "SASL login");
        self.sasl = SaslState::Authenticated;
        self.principal = Some(format!("User:{username}"));
    }
}

fn server_mechanism(server: &ScramServer) -> scram::ScramMechanism {
    server.mechanism()
}

fn invalid_credentials(mechanism: Mechanism) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        mechanism.name()
    )
}

fn server_nonce() -> String {
    let mut bytes = [0u8; SERVER_NONCE_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    BASE64.encode(bytes)
}

/// Why a connection may not send a request now (the connection is then closed, as Kafka does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A SASL step while SASL is not configured.
    SaslDisabled,
    /// Anything but ApiVersions and the SASL steps before a login.
    Unauthenticated,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // The defaults are safe: loopback only, and no security file is read.
    #[test]
    fn defaults_listen_on_loopback_without_security() {
        let config = BrokerConfig::default();
        assert!(config.listen.ip().is_loopback());
        assert!(config.tls.is_none() && config.sasl_users.is_none() && config.acl.is_none());
        let security = Security::load(&config).unwrap();
        assert!(!security.sasl_enabled());
        let session = Session::new(Arc::new(security));
        assert_eq!(session.principal(), Some(ANONYMOUS_PRINCIPAL));
        assert!(session.admit(ApiKey::SaslHandshake).is_err());
        assert!(session.admit(ApiKey::Metadata).is_ok());
    }

    // Malformed or missing users, ACL and TLS files fail the start and name the file.
    #[test]
    fn bad_files_fail_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, "not a valid line\n").unwrap();
        let missing = dir.path().join("missing.pem");
        let mut configs = Vec::new();
        for edit in 0..3 {
            let mut config = BrokerConfig::for_tests(dir.path());
            match edit {
                0 => config.sasl_users = Some(bad.clone()),
                1 => config.acl = Some(bad.clone()),
                _ => {
                    config.tls = Some(crate::config::TlsConfig {
                        cert_path: missing.clone(),
                        key_path: bad.clone(),
                    })
                }
            }
            configs.push(config);
        }
        for config in configs {
            let error = Security::load(&config).unwrap_err().to_string();
            assert!(
                error.contains("bad.txt") || error.contains("missing.pem"),
                "{error}"
            );
        }
    }

    // Before a login only ApiVersions and the SASL APIs are admitted; a PLAIN login admits the rest.
    #[test]
    fn login_gates_requests() {
        let users =
            users::Users::parse(&users::credential_line("alice", Mechanism::Plain, "pw")).unwrap();
        let security = Arc::new(Security {
            users: Some(users),
            ..Security::default()
        });
        let mut session = Session::new(security);
        assert!(session.admit(ApiKey::ApiVersions).is_ok());
        assert!(session.admit(ApiKey::SaslHandshake).is_ok());
        assert!(session.admit(ApiKey::Metadata).is_err());
        assert!(
            session.authenticate(b"\0alice\0pw").is_err(),
            "needs a handshake"
        );
        session.handshake("PLAIN", 0).unwrap_err();
        session.handshake("PLAIN", 1).unwrap();
        session.authenticate(b"\0alice\0pw").unwrap();
        assert_eq!(session.principal(), Some("User:alice"));
        assert!(session.admit(ApiKey::Produce).is_ok());
    }
}
