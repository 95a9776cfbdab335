//! The topic registry: topic name -> [`Topic`] (topic id, config overrides, partitions), persisted in
//! the data directory so that topics, their ids and configs survive restarts.
//!
//! On disk:
//! ```text
//! <data_dir>/topics/<name>/meta.json      {"topic_id": "...", "partitions": N, "configs": {...}}
//! <data_dir>/topics/<name>/<partition>/   one herald-log directory per partition (segments, indexes)
//! ```
//! `meta.json` is written last on create (temp file, fsync, rename, fsync dir) and removed first on
//! delete, so a topic directory without it is an interrupted create or delete and is removed at start.
//! Topic names are validated (Kafka's legal characters, at most 249 of them) before they become paths.
//! Internal topics (`internal_topics`) are created at start if missing and cannot be deleted or grown.
//!
//! Not here: the per-partition lock and group commit (`partition.rs`), config semantics
//! (`topic_config.rs`). Main types: [`TopicRegistry`], [`Topic`].

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use herald_log::Log;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::partition::{HighWatermark, Partition};
use crate::topic_config::{self, TopicConfigs};
use crate::{BrokerConfig, BrokerError};

/// Kafka's limit on topic name length.
pub const TOPIC_NAME_CHARS_MAX: usize = 249;
/// Upper bound on partitions per topic: each is a directory with open files.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;
const META_FILE: &str = "meta.json";

/// What `meta.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TopicMeta {
    topic_id: Uuid,
    partitions: i32,
    #[serde(default)]
    configs: TopicConfigs,
}

/// One topic.
#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub topic_id: Uuid,
    dir: PathBuf,
    configs: RwLock<TopicConfigs>,
    partitions: RwLock<Vec<Arc<Partition>>>,
}

impl Topic {
    /// The partition with this index, if it exists.
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        let partitions = self
            .partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        usize::try_from(index)
            .ok()
            .and_then(|i| partitions.get(i).cloned())
    }

    /// All partitions in index order.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> i32 {
        let count = self
            .partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        i32::try_from(count).unwrap_or(i32::MAX)
    }

    /// Whether the broker owns this topic (`internal_topics`): clients may read it, not write it.
    pub fn is_internal(&self) -> bool {
        crate::internal_topics::is_internal(&self.name)
    }

    /// The topic's config overrides.
    pub fn configs(&self) -> TopicConfigs {
        self.configs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `min.insync.replicas` (1 unless overridden): above 1, acks=all cannot be met on one node.
    pub fn min_insync_replicas(&self) -> i64 {
        topic_config::min_insync_replicas(
            &self.configs.read().unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The codec the broker stores this topic's batches with (`compression.type`); `None` keeps the
    /// producer's.
    pub fn recompression(&self) -> Option<herald_log::Recompression> {
        topic_config::recompression(&self.configs.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn meta(&self) -> TopicMeta {
        TopicMeta {
            topic_id: self.topic_id,
            partitions: self.partition_count(),
            configs: self.configs(),
        }
    }
}

/// Every topic of the broker.
#[derive(Debug)]
pub struct TopicRegistry {
    topics_dir: PathBuf,
    config: BrokerConfig,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serialises create, delete and partition changes (metadata writes), not appends or reads.
    admin: Mutex<()>,
}

/// Checks a topic name against Kafka's rules.
pub fn validate_topic_name(name: &str) -> Result<(), BrokerError> {
    let invalid = |reason| BrokerError::InvalidTopicName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are not allowed"));
    }
    if name.chars().count() > TOPIC_NAME_CHARS_MAX {
        return Err(invalid("longer than 249 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(invalid(
            "only ASCII letters, digits, '.', '_' and '-' are allowed",
        ));
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), BrokerError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BrokerError::io("fsync directory", dir, e))
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync the directory.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BrokerError> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp).map_err(|e| BrokerError::io("create", &tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| BrokerError::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| BrokerError::io("rename", path, e))?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Fails for an internal topic: clients may not do `operation` to it.
fn refuse_internal(name: &str, operation: &'static str) -> Result<(), BrokerError> {
    if crate::internal_topics::is_internal(name) {
        return Err(BrokerError::InternalTopic {
            name: name.to_string(),
            operation,
        });
    }
    Ok(())
}

fn write_meta(dir: &Path, meta: &TopicMeta) -> Result<(), BrokerError> {
    let path = dir.join(META_FILE);
    let bytes = serde_json::to_vec_pretty(meta).map_err(|source| BrokerError::CorruptMetadata {
        path: path.clone(),
        source,
    })?;
    write_atomically(&path, &bytes)
}

/// Partitions of a topic opened in parallel at start-up.
const OPEN_THREADS: usize = 8;

impl TopicRegistry {
    /// Opens every topic under `<data_dir>/topics`, recovering each partition's log. Blocking.
    pub fn open(config: &BrokerConfig) -> Result<Self, BrokerError> {
        let topics_dir = config.data_dir.join("topics");
        fs::create_dir_all(&topics_dir).map_err(|e| BrokerError::io("create", &topics_dir, e))?;
        let mut topics = HashMap::new();
        let entries =
            fs::read_dir(&topics_dir).map_err(|e| BrokerError::io("list", &topics_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| BrokerError::io("list", &topics_dir, e))?;
            let dir = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !dir.is_dir() || validate_topic_name(&name).is_err() {
                continue;
            }
            let meta_path = dir.join(META_FILE);
            if !meta_path.exists() {
                tracing::warn!(topic = %name, "removing topic directory without meta.json (interrupted create or delete)");
                fs::remove_dir_all(&dir).map_err(|e| BrokerError::io("remove", &dir, e))?;
                continue;
            }
            let bytes = fs::read(&meta_path).map_err(|e| BrokerError::io("read", &meta_path, e))?;
            let meta: TopicMeta =
                serde_json::from_slice(&bytes).map_err(|source| BrokerError::CorruptMetadata {
                    path: meta_path.clone(),
                    source,
                })?;
            let topic = Self::open_topic(config, &name, dir, meta)?;
            topics.insert(name, Arc::new(topic));
        }
        tracing::info!(topics = topics.len(), dir = %topics_dir.display(), "topics opened");
        let registry = Self {
            topics_dir,
            config: config.clone(),
            topics: RwLock::new(topics),
            admin: Mutex::new(()),
        };
        registry.create_internal_topics()?;
        Ok(registry)
    }

    /// Creates every internal topic that does not exist yet, with its fixed configs.
    fn create_internal_topics(&self) -> Result<(), BrokerError> {
        for internal in crate::internal_topics::INTERNAL_TOPICS {
            if self.get(internal.name).is_none() {
                let partitions = (internal.partitions)(&self.config);
                self.create(internal.name, partitions, internal.topic_configs())?;
                tracing::info!(topic = internal.name, partitions, "internal topic created");
            }
        }
        Ok(())
    }

    fn open_topic(
        config: &BrokerConfig,
        name: &str,
        dir: PathBuf,
        meta: TopicMeta,
    ) -> Result<Topic, BrokerError> {
        let log_config = topic_config::log_config(config, &meta.configs);
        let dirs: Vec<_> = (0..meta.partitions)
            .map(|index| (dir.join(index.to_string()), log_config.clone()))
            .collect();
        let mut partitions = Vec::new();
        for (index, log) in (0..meta.partitions).zip(Log::open_all(&dirs, OPEN_THREADS)?) {
            partitions.push(Arc::new(Partition::new(
                index,
                log,
                HighWatermark::for_policy(config.flush),
            )));
        }
        Ok(Topic {
            name: name.to_string(),
            topic_id: meta.topic_id,
            dir,
            configs: RwLock::new(meta.configs),
            partitions: RwLock::new(partitions),
        })
    }

    /// The topic with this name.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// The topic with this id.
    pub fn get_by_id(&self, topic_id: Uuid) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .find(|t| t.topic_id == topic_id)
            .cloned()
    }

    /// Every topic, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<_> = self
            .topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topics
    }

    /// Checks a create without doing it: name, partitions, replication factor, configs, existence.
    pub fn validate_create(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<(), BrokerError> {
        validate_topic_name(name)?;
        if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partitions) {
            return Err(BrokerError::InvalidPartitions {
                name: name.to_string(),
                reason: format!("{partitions} is not in 1..={PARTITIONS_PER_TOPIC_MAX}"),
            });
        }
        if replication_factor != 1 && replication_factor != -1 {
            return Err(BrokerError::InvalidReplicationFactor {
                factor: replication_factor,
            });
        }
        if self.get(name).is_some() {
            return Err(BrokerError::TopicAlreadyExists {
                name: name.to_string(),
            });
        }
        Ok(())
    }

    /// Creates a topic with validated configs. Blocking (creates directories and log files).
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        configs: TopicConfigs,
    ) -> Result<Arc<Topic>, BrokerError> {
        let _admin = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        self.validate_create(name, partitions, -1)?;
        let dir = self.topics_dir.join(name);
        if dir.exists() {
            // Leftover of an interrupted create; nothing in it is reachable.
            fs::remove_dir_all(&dir).map_err(|e| BrokerError::io("remove", &dir, e))?;
        }
        fs::create_dir_all(&dir).map_err(|e| BrokerError::io("create", &dir, e))?;
        let meta = TopicMeta {
            topic_id: Uuid::new_v4(),
            partitions,
            configs,
        };
        let topic = Self::open_topic(&self.config, name, dir.clone(), meta.clone())?;
        write_meta(&dir, &meta)?;
        sync_dir(&self.topics_dir)?;
        let topic = Arc::new(topic);
        self.topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string(), topic.clone());
        tracing::info!(topic = %name, partitions, topic_id = %meta.topic_id, "topic created");
        Ok(topic)
    }

    /// Creates a topic with the broker's default partitions and configs unless it exists (auto-create).
    pub fn get_or_create(&self, name: &str) -> Result<Arc<Topic>, BrokerError> {
        if let Some(topic) = self.get(name) {
            return Ok(topic);
        }
        match self.create(name, self.config.default_partitions, TopicConfigs::new()) {
            Err(BrokerError::TopicAlreadyExists { .. }) => {
                self.get(name).ok_or_else(|| BrokerError::UnknownTopic {
                    name: name.to_string(),
                })
            }
            other => other,
        }
    }

    /// Deletes a topic and its logs. Blocking.
    pub fn delete(&self, name: &str) -> Result<(), BrokerError> {
        refuse_internal(name, "deleting it")?;
        let _admin = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        let topic = self
            .topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
            .ok_or_else(|| BrokerError::UnknownTopic {
                name: name.to_string(),
            })?;
        // meta.json first: a crash after this point leaves a directory that startup removes.
        let meta_path = topic.dir.join(META_FILE);
        fs::remove_file(&meta_path).map_err(|e| BrokerError::io("remove", &meta_path, e))?;
        sync_dir(&topic.dir)?;
        // Requests still holding the partitions keep their open files until they finish.
        fs::remove_dir_all(&topic.dir).map_err(|e| BrokerError::io("remove", &topic.dir, e))?;
        sync_dir(&self.topics_dir)?;
        tracing::info!(topic = %name, "topic deleted");
        Ok(())
    }

    /// Grows a topic to `count` partitions. Blocking.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        // The owner maps keys to partitions by their count (a group's offsets stay in one partition).
        refuse_internal(name, "adding partitions")?;
        let _admin = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        let topic = self.get(name).ok_or_else(|| BrokerError::UnknownTopic {
            name: name.to_string(),
        })?;
        let current = topic.partition_count();
        if count <= current || count > PARTITIONS_PER_TOPIC_MAX {
            return Err(BrokerError::InvalidPartitions {
                name: name.to_string(),
                reason: format!(
                    "topic has {current} partitions; {count} is not more (or above the limit)"
                ),
            });
        }
        if validate_only {
            return Ok(());
        }
        let log_config = topic_config::log_config(&self.config, &topic.configs());
        let mut added = Vec::new();
        for index in current..count {
            let log = Log::open(&topic.dir.join(index.to_string()), log_config.clone())?;
            added.push(Arc::new(Partition::new(
                index,
                log,
                HighWatermark::for_policy(self.config.flush),
            )));
        }
        let mut meta = topic.meta();
        meta.partitions = count;
        write_meta(&topic.dir, &meta)?;
        topic
            .partitions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(added);
        tracing::info!(topic = %name, from = current, to = count, "partitions added");
        Ok(())
    }

    /// Replaces a topic's config overrides (already validated): persisted in meta.json first, then
    /// applied to every partition's log. Blocking.
    pub fn alter_configs(&self, name: &str, configs: TopicConfigs) -> Result<(), BrokerError> {
        let _admin = self.admin.lock().unwrap_or_else(PoisonError::into_inner);
        let topic = self.get(name).ok_or_else(|| BrokerError::UnknownTopic {
            name: name.to_string(),
        })?;
        let mut meta = topic.meta();
        meta.configs = configs.clone();
        write_meta(&topic.dir, &meta)?;
        let log_config = topic_config::log_config(&self.config, &configs);
        *topic
            .configs
            .write()
            .unwrap_or_else(PoisonError::into_inner) = configs;
        for partition in topic.partitions() {
            partition.set_config(log_config.clone());
        }
        tracing::info!(topic = %name, "topic configs changed");
        Ok(())
    }

    /// Every partition of every topic.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.list().iter().flat_map(|t| t.partitions()).collect()
    }

    /// Fsyncs every partition and writes recovery checkpoints. Blocking (shutdown).
    pub fn flush_all(&self) -> Result<(), BrokerError> {
        for partition in self.all_partitions() {
            partition.flush_blocking()?;
        }
        Ok(())
    }
}
