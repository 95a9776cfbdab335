//! [`AclStore`]: the ACLs the broker enforces: the ACL file's bindings (read-only) plus those created
//! through the admin API (CreateAcls/DeleteAcls), persisted in `<data_dir>/acls.json` (written
//! atomically and fsynced before the API answers) and loaded at start.
//!
//! Precedence is Kafka's over the union of both: a deny from either refuses, else an allow from
//! either permits. Bindings from the file cannot be deleted through the API (they would return at the
//! next start): DeleteAcls reports them with INVALID_REQUEST and a message naming the file.
//!
//! Main types: [`AclStore`], [`AclFilter`].

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock};

use super::acl::{
    decide, decide_any, AclBinding, Acls, Operation, PatternType, Permission, ResourceType,
};
use crate::topics::write_atomically;
use crate::BrokerError;

/// The file (under the data dir) holding the API-created bindings.
pub const ACLS_FILE: &str = "acls.json";
/// Bindings the admin API may hold at most (a limit on the file and on every check's work).
pub const API_BINDINGS_MAX: usize = 100_000;

/// How a filter's pattern type selects bindings (Kafka's PatternType filter codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternFilter {
    /// ANY (1): any pattern type, the name compared as given.
    Any,
    /// MATCH (2): every binding that applies to the named resource.
    Match,
    /// LITERAL (3) or PREFIXED (4): that type and that name.
    Exactly(PatternType),
}

/// DescribeAcls' and DeleteAcls' filter; `None` fields match anything.
#[derive(Debug, Clone)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

impl AclFilter {
    /// Whether `binding` is one this filter selects.
    pub fn matches(&self, binding: &AclBinding) -> bool {
        let name_matches = match (&self.resource_name, self.pattern) {
            (None, PatternFilter::Any | PatternFilter::Match) => true,
            (None, PatternFilter::Exactly(kind)) => binding.pattern_type == kind,
            (Some(name), PatternFilter::Any) => &binding.resource_name == name,
            (Some(name), PatternFilter::Exactly(kind)) => {
                binding.pattern_type == kind && &binding.resource_name == name
            }
            (Some(name), PatternFilter::Match) => match binding.pattern_type {
                PatternType::Literal => {
                    &binding.resource_name == name || binding.resource_name == "*"
                }
                PatternType::Prefixed => name.starts_with(binding.resource_name.as_str()),
            },
        };
        name_matches
            && self
                .resource_type
                .is_none_or(|t| t == binding.resource_type)
            && self
                .principal
                .as_ref()
                .is_none_or(|p| p == &binding.principal)
            && self.host.as_ref().is_none_or(|h| h == &binding.host)
            && self.operation.is_none_or(|o| o == binding.operation)
            && self.permission.is_none_or(|p| p == binding.permission)
    }
}

/// What DeleteAcls did with one binding that matched its filter.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub binding: AclBinding,
    /// `Some` when the binding stays (it is the ACL file's).
    pub refused: Option<String>,
}

/// Every ACL the broker enforces.
#[derive(Debug)]
pub struct AclStore {
    file: Acls,
    file_path: PathBuf,
    api: RwLock<Vec<AclBinding>>,
    path: PathBuf,
    /// Serialises changes, so two CreateAcls never lose one another's write.
    writing: Mutex<()>,
}

impl AclStore {
    /// The file's bindings plus those persisted under `data_dir` (blocking: reads a file).
    pub fn open(file: Acls, file_path: &Path, data_dir: &Path) -> Result<Self, BrokerError> {
        let path = data_dir.join(ACLS_FILE);
        let api = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| BrokerError::CorruptMetadata {
                    path: path.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(BrokerError::io("read", &path, e)),
        };
        Ok(Self {
            file,
            file_path: file_path.to_path_buf(),
            api: RwLock::new(api),
            path,
            writing: Mutex::new(()),
        })
    }

    fn api(&self) -> std::sync::RwLockReadGuard<'_, Vec<AclBinding>> {
        self.api.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Kafka's decision for `principal` connected from `host`.
    pub fn allows(
        &self,
        principal: &str,
        host: &str,
        resource: ResourceType,
        name: &str,
        operation: Operation,
    ) -> bool {
        let api = self.api();
        let all = self.file.bindings().iter().chain(api.iter());
        decide(all, principal, host, resource, name, operation)
    }

    /// Whether `operation` is allowed on some `resource` (KIP-679's check).
    pub fn allows_any(
        &self,
        principal: &str,
        host: &str,
        resource: ResourceType,
        operation: Operation,
    ) -> bool {
        let api = self.api();
        let all = self.file.bindings().iter().chain(api.iter());
        decide_any(all, principal, host, resource, operation)
    }

    /// How many bindings there are in all.
    pub fn len(&self) -> usize {
        self.file.len() + self.api().len()
    }

    /// Whether there are none (then everything is denied).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bindings `filter` selects, the file's first.
    pub fn describe(&self, filter: &AclFilter) -> Vec<AclBinding> {
        let api = self.api();
        self.file
            .bindings()
            .iter()
            .chain(api.iter())
            .filter(|b| filter.matches(b))
            .cloned()
            .collect()
    }

    /// Adds `bindings` (those already present are kept once) and persists them before returning.
    /// Blocking.
    pub fn create(&self, bindings: &[AclBinding]) -> Result<(), BrokerError> {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = self.api().clone();
        let before = next.len();
        for binding in bindings {
            if !next.contains(binding) {
                next.push(binding.clone());
            }
        }
        if next.len() == before {
            return Ok(()); // every binding was there already
        }
        if next.len() > API_BINDINGS_MAX {
            return Err(BrokerError::InvalidSecurityFile {
                path: self.path.clone(),
                reason: format!("more than {API_BINDINGS_MAX} ACLs"),
            });
        }
        self.persist(next)
    }

    /// Removes the API bindings each filter selects; reports what each filter matched. Blocking.
    pub fn delete(&self, filters: &[AclFilter]) -> Result<Vec<Vec<Deleted>>, BrokerError> {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.api().clone();
        let refusal = format!(
            "defined in the ACL file {}; edit that file to remove it",
            self.file_path.display()
        );
        let results = filters
            .iter()
            .map(|filter| {
                let from_file = self
                    .file
                    .bindings()
                    .iter()
                    .filter(|b| filter.matches(b))
                    .map(|b| Deleted {
                        binding: b.clone(),
                        refused: Some(refusal.clone()),
                    });
                let from_api = current
                    .iter()
                    .filter(|b| filter.matches(b))
                    .map(|b| Deleted {
                        binding: b.clone(),
                        refused: None,
                    });
                from_file.chain(from_api).collect::<Vec<_>>()
            })
            .collect();
        let before = current.len();
        let kept: Vec<AclBinding> = current
            .into_iter()
            .filter(|b| !filters.iter().any(|f| f.matches(b)))
            .collect();
        // A filter that matched nothing changes nothing: no write, no fsync (`herald acls list`
        // probes with such a filter).
        if kept.len() != before {
            self.persist(kept)?;
        }
        Ok(results)
    }

    /// Writes `bindings` durably, then makes them the ones enforced.
    fn persist(&self, bindings: Vec<AclBinding>) -> Result<(), BrokerError> {
        let bytes = serde_json::to_vec_pretty(&bindings).map_err(|source| {
            BrokerError::CorruptMetadata {
                path: self.path.clone(),
                source,
            }
        })?;
        write_atomically(&self.path, &bytes)?;
        *self.api.write().unwrap_or_else(PoisonError::into_inner) = bindings;
        Ok(())
    }
}
