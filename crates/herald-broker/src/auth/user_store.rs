//! [`UserStore`]: the SASL credentials logins are checked against: the users file's (read-only) plus
//! those set through the admin API (AlterUserScramCredentials, KIP-554), persisted in
//! `<data_dir>/scram_credentials` in the users-file format (written atomically and fsynced before the
//! API answers) and loaded at start, so users can be added without a restart.
//!
//! A (user, mechanism) is either the file's or the API's: the API cannot change or delete a
//! credential the file defines (UNACCEPTABLE_CREDENTIAL naming the file). Credentials set through the
//! API take effect for logins whenever SASL is on (`--sasl-users`); without it no client logs in.
//!
//! Main types: [`UserStore`], [`Upsertion`], [`UserResult`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock};

use kafka_protocol::error::ResponseError;

use super::scram::{ScramCredential, ScramMechanism, ITERATIONS_MIN};
use super::users::{Mechanism, Users};
use crate::topics::write_atomically;
use crate::BrokerError;

/// The file (under the data dir) holding the API-set credentials.
pub const SCRAM_CREDENTIALS_FILE: &str = "scram_credentials";
/// Most iterations the admin API accepts (Kafka's limit for both SCRAM mechanisms).
pub const API_ITERATIONS_MAX: u32 = 16_384;
/// Credentials the admin API may hold at most.
pub const API_CREDENTIALS_MAX: usize = 100_000;

/// One credential to set, as AlterUserScramCredentials carries it.
#[derive(Debug, Clone)]
pub struct Upsertion {
    pub name: String,
    /// Kafka's ScramMechanism code: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

/// The outcome for one user: 0, or a Kafka error code with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserResult {
    pub user: String,
    pub error_code: i16,
    pub message: Option<String>,
}

/// A user's SCRAM credentials as DescribeUserScramCredentials shows them: (mechanism code,
/// iterations), never keys.
pub type CredentialInfos = Vec<(i8, i32)>;

/// The SCRAM mechanism for Kafka's code.
pub fn scram_mechanism(code: i8) -> Option<ScramMechanism> {
    match code {
        1 => Some(ScramMechanism::Sha256),
        2 => Some(ScramMechanism::Sha512),
        _ => None,
    }
}

fn mechanism_code(mechanism: ScramMechanism) -> i8 {
    match mechanism {
        ScramMechanism::Sha256 => 1,
        ScramMechanism::Sha512 => 2,
    }
}

/// Every credential logins are checked against.
#[derive(Debug, Default)]
pub struct UserStore {
    file: Users,
    file_path: Option<PathBuf>,
    api: RwLock<Users>,
    /// Where API-set credentials persist; `None` (a store made in memory) refuses to alter.
    path: Option<PathBuf>,
    writing: Mutex<()>,
}

impl UserStore {
    /// The users file's credentials (if any) plus those persisted under `data_dir`. Blocking.
    pub fn open(file: Option<(Users, &Path)>, data_dir: &Path) -> Result<Self, BrokerError> {
        let path = data_dir.join(SCRAM_CREDENTIALS_FILE);
        let api = match std::fs::read_to_string(&path) {
            Ok(text) => Users::parse(&text).map_err(|reason| BrokerError::InvalidSecurityFile {
                path: path.clone(),
                reason,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Users::default(),
            Err(e) => return Err(BrokerError::io("read", &path, e)),
        };
        let (file, file_path) = match file {
            Some((users, path)) => (users, Some(path.to_path_buf())),
            None => (Users::default(), None),
        };
        Ok(Self {
            file,
            file_path,
            api: RwLock::new(api),
            path: Some(path),
            writing: Mutex::new(()),
        })
    }

    /// A store of `file`'s credentials alone, kept in memory (tests, embedding).
    pub fn from_users(file: Users) -> Self {
        Self {
            file,
            ..Self::default()
        }
    }

    fn api(&self) -> std::sync::RwLockReadGuard<'_, Users> {
        self.api.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stored credential of `name` for `mechanism`, from the file or the API.
    pub fn credential(&self, name: &str, mechanism: Mechanism) -> Option<ScramCredential> {
        self.file
            .credential(name, mechanism)
            .cloned()
            .or_else(|| self.api().credential(name, mechanism).cloned())
    }

    /// Whether `password` is `name`'s password (a PLAIN login).
    pub fn verify_password(&self, name: &str, password: &str) -> bool {
        if self.file.has_user(name) {
            return self.file.verify_password(name, password);
        }
        self.api().verify_password(name, password)
    }

    /// How many credentials there are in all.
    pub fn len(&self) -> usize {
        self.file.len() + self.api().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each user's SCRAM credentials; `names` `None` lists every user that has one. A named user
    /// without any answers RESOURCE_NOT_FOUND, a name given twice DUPLICATE_RESOURCE.
    pub fn describe(&self, names: Option<&[String]>) -> Vec<(UserResult, CredentialInfos)> {
        let api = self.api();
        let mut all: BTreeMap<String, CredentialInfos> = BTreeMap::new();
        for (name, mechanism, c) in self.file.entries().into_iter().chain(api.entries()) {
            if let Mechanism::Scram(m) = mechanism {
                let iterations = i32::try_from(c.iterations).unwrap_or(i32::MAX);
                all.entry(name.to_string())
                    .or_default()
                    .push((mechanism_code(m), iterations));
            }
        }
        let ok = |user: &str| UserResult {
            user: user.to_string(),
            error_code: 0,
            message: None,
        };
        let Some(names) = names else {
            return all
                .into_iter()
                .map(|(user, infos)| (ok(&user), infos))
                .collect();
        };
        names
            .iter()
            .map(|name| {
                let failed = |code: ResponseError, message: &str| UserResult {
                    user: name.clone(),
                    error_code: code.code(),
                    message: Some(message.to_string()),
                };
                if names.iter().filter(|n| *n == name).count() > 1 {
                    let message = "cannot describe the same user more than once";
                    return (
                        failed(ResponseError::DuplicateResource, message),
                        Vec::new(),
                    );
                }
                match all.get(name) {
                    Some(infos) => (ok(name), infos.clone()),
                    None => {
                        let message = "attempt to describe a user credential that does not exist";
                        (failed(ResponseError::ResourceNotFound, message), Vec::new())
                    }
                }
            })
            .collect()
    }

    /// Applies deletions `(name, mechanism code)` and upsertions, all of a user's or none, and
    /// persists them before returning; one result per user, in first-mention order. Blocking.
    pub fn alter(
        &self,
        deletions: &[(String, i8)],
        upsertions: &[Upsertion],
    ) -> Result<Vec<UserResult>, BrokerError> {
        let Some(path) = self.path.as_deref() else {
            return Err(BrokerError::InvalidSecurityFile {
                path: PathBuf::from(SCRAM_CREDENTIALS_FILE),
                reason: "this user store is in memory only".into(),
            });
        };
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = self.api().clone();
        let mut users: Vec<String> = Vec::new();
        for name in deletions
            .iter()
            .map(|d| &d.0)
            .chain(upsertions.iter().map(|u| &u.name))
        {
            if !users.contains(name) {
                users.push(name.clone());
            }
        }
        let mut results = Vec::with_capacity(users.len());
        let mut changed = false;
        for user in users {
            let mut staged = next.clone();
            let outcome = self.stage_user(&user, deletions, upsertions, &mut staged);
            results.push(match outcome {
                Ok(()) => {
                    next = staged;
                    changed = true;
                    UserResult {
                        user,
                        error_code: 0,
                        message: None,
                    }
                }
                Err((code, message)) => UserResult {
                    user,
                    error_code: code.code(),
                    message: Some(message),
                },
            });
        }
        if next.len() > API_CREDENTIALS_MAX {
            return Err(BrokerError::InvalidSecurityFile {
                path: path.to_path_buf(),
                reason: format!("more than {API_CREDENTIALS_MAX} credentials"),
            });
        }
        if !changed {
            return Ok(results); // every user's changes were refused: nothing to write
        }
        write_atomically(path, next.to_text().as_bytes())?;
        *self.api.write().unwrap_or_else(PoisonError::into_inner) = next;
        Ok(results)
    }

    /// Applies every change of `user` to `staged`, or says why none may be applied.
    fn stage_user(
        &self,
        user: &str,
        deletions: &[(String, i8)],
        upsertions: &[Upsertion],
        staged: &mut Users,
    ) -> Result<(), (ResponseError, String)> {
        let unacceptable = |message: String| (ResponseError::UnacceptableCredential, message);
        if user.is_empty() {
            return Err(unacceptable("username must not be empty".into()));
        }
        if user.contains(':') || user.chars().any(char::is_control) || user.trim() != user {
            return Err(unacceptable(format!(
                "user name {user:?} has a ':', a control character or surrounding spaces"
            )));
        }
        let mut seen = Vec::new();
        let changes = deletions
            .iter()
            .filter(|d| d.0 == user)
            .map(|d| (d.1, None))
            .chain(
                upsertions
                    .iter()
                    .filter(|u| u.name == user)
                    .map(|u| (u.mechanism, Some(u))),
            );
        for (code, upsertion) in changes {
            let Some(mechanism) = scram_mechanism(code) else {
                return Err((
                    ResponseError::UnsupportedSaslMechanism,
                    format!("unknown SCRAM mechanism {code} (1 SCRAM-SHA-256, 2 SCRAM-SHA-512)"),
                ));
            };
            if seen.contains(&code) {
                return Err((
                    ResponseError::DuplicateResource,
                    "a user credential cannot be altered more than once in the same request".into(),
                ));
            }
            seen.push(code);
            if self
                .file
                .credential(user, Mechanism::Scram(mechanism))
                .is_some()
            {
                let file = self
                    .file_path
                    .as_deref()
                    .unwrap_or(Path::new("the users file"));
                return Err(unacceptable(format!(
                    "{user}'s {} credential is defined in {}; edit that file to change it",
                    mechanism.name(),
                    file.display()
                )));
            }
            match upsertion {
                None => {
                    if !staged.remove(user, Mechanism::Scram(mechanism)) {
                        return Err((
                            ResponseError::ResourceNotFound,
                            "attempt to delete a user credential that does not exist".into(),
                        ));
                    }
                }
                Some(u) => {
                    let iterations = u32::try_from(u.iterations).unwrap_or(0);
                    if iterations < ITERATIONS_MIN {
                        return Err(unacceptable(format!(
                            "too few iterations ({} < {ITERATIONS_MIN})",
                            u.iterations
                        )));
                    }
                    if iterations > API_ITERATIONS_MAX {
                        return Err(unacceptable(format!(
                            "too many iterations ({} > {API_ITERATIONS_MAX})",
                            u.iterations
                        )));
                    }
                    if u.salt.is_empty() || u.salted_password.is_empty() {
                        return Err(unacceptable(
                            "salt and salted password must not be empty".into(),
                        ));
                    }
                    let credential = ScramCredential::from_salted_password(
                        mechanism,
                        &u.salted_password,
                        &u.salt,
                        iterations,
                    );
                    staged.insert(user, Mechanism::Scram(mechanism), credential);
                }
            }
        }
        Ok(())
    }
}
