//! librdkafka's IncrementalAlterConfigs behind one safe function, [`incremental_alter_configs`], for
//! `herald topics alter`: SET and DELETE of topic configs, optionally validate-only.
//!
//! rdkafka 0.39 wraps only the legacy AlterConfigs, which replaces every override and reports no
//! per-resource error; this goes through librdkafka (so every `-X` setting applies) with the ACL
//! commands' call machinery (`acls/ffi.rs`: admin options, queue and event guards). The config
//! resource is owned by a guard that destroys it on every path.
#![allow(unsafe_code)]

use std::ffi::{c_char, CString};
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::ClientContext;
use rdkafka_sys as sys;

use super::acls::binding::{AclCallError, Refusal};
use super::acls::ffi::{call, text, ERRSTR_BYTES};

/// One change to a topic's configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Set `name` to `value`.
    Set(String, String),
    /// Remove the override of `name` (back to the broker's default).
    Delete(String),
}

/// A config resource; destroyed on drop.
struct Resource(NonNull<sys::rd_kafka_ConfigResource_t>);

impl Drop for Resource {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_ConfigResource_new, owned only by this guard, destroyed once;
        // librdkafka copies resources it sends, so nothing refers to it afterwards.
        unsafe { sys::rd_kafka_ConfigResource_destroy(self.0.as_ptr()) }
    }
}

fn c_string(text: &str) -> Result<CString, AclCallError> {
    CString::new(text).map_err(|_| AclCallError::InvalidArgument(format!("NUL byte in {text:?}")))
}

/// Applies `changes` to `topic`'s configs (or only validates them); the broker's refusal, if any,
/// comes back as [`AclCallError::Failed`] with its code and message.
pub fn incremental_alter_configs<C: ClientContext>(
    admin: &AdminClient<C>,
    topic: &str,
    changes: &[ConfigChange],
    validate_only: bool,
    timeout: Duration,
) -> Result<(), AclCallError> {
    let name = c_string(topic)?;
    let kind = sys::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC;
    // SAFETY: `name` is a live NUL-terminated string that librdkafka copies.
    let resource = unsafe { sys::rd_kafka_ConfigResource_new(kind, name.as_ptr()) };
    let resource = NonNull::new(resource)
        .map(Resource)
        .ok_or_else(|| AclCallError::InvalidArgument("no config resource".into()))?;
    for change in changes {
        let (key, value, op) = match change {
            ConfigChange::Set(key, value) => (
                c_string(key)?,
                Some(c_string(value)?),
                sys::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
            ),
            ConfigChange::Delete(key) => (
                c_string(key)?,
                None,
                sys::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE,
            ),
        };
        let value_ptr = value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr());
        // SAFETY: the resource is live; key and value (or NULL, allowed for DELETE) are live strings
        // that librdkafka copies. The returned error (NULL on success) is ours to destroy.
        let error = unsafe {
            sys::rd_kafka_ConfigResource_add_incremental_config(
                resource.0.as_ptr(),
                key.as_ptr(),
                op,
                value_ptr,
            )
        };
        if !error.is_null() {
            // SAFETY: non-NULL error object, read then destroyed once.
            let message = unsafe { text(sys::rd_kafka_error_string(error)) };
            unsafe { sys::rd_kafka_error_destroy(error) };
            return Err(AclCallError::InvalidArgument(message));
        }
    }
    let op = sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS;
    let mut options_error = None;
    let event = call(admin, op, timeout, |rk, options, queue| {
        let mut errstr = [0u8; ERRSTR_BYTES];
        // SAFETY: `options` is the live admin-options object `call` created and owns for this call
        // alone (nothing else reads it concurrently), so writing through it is sound; `errstr` is
        // a writable buffer of the length given.
        let code = unsafe {
            sys::rd_kafka_AdminOptions_set_validate_only(
                options.cast_mut(),
                i32::from(validate_only),
                errstr.as_mut_ptr().cast::<c_char>(),
                errstr.len(),
            )
        };
        if code != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            options_error = Some(
                String::from_utf8_lossy(&errstr)
                    .trim_end_matches('\0')
                    .to_string(),
            );
        }
        let mut resources = [resource.0.as_ptr()];
        // SAFETY: `rk`, `options` and `queue` are live (see `call`); the array holds one live
        // resource, which librdkafka copies before returning.
        unsafe {
            sys::rd_kafka_IncrementalAlterConfigs(rk, resources.as_mut_ptr(), 1, options, queue)
        }
    })?;
    if let Some(message) = options_error {
        return Err(AclCallError::InvalidArgument(message));
    }
    // SAFETY: the event is live (its guard is in scope); NULL means another event type.
    let result = unsafe { sys::rd_kafka_event_IncrementalAlterConfigs_result(event.as_ptr()) };
    if result.is_null() {
        return Err(AclCallError::UnexpectedEvent("IncrementalAlterConfigs"));
    }
    let mut count = 0usize;
    // SAFETY: `result` lives as long as the event; the array it returns too.
    let resources =
        unsafe { sys::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count) };
    for i in 0..count {
        // SAFETY: `i < count` entries of a live array of live resources, read while the event lives.
        let (code, message) = unsafe {
            let resource = *resources.add(i);
            (
                sys::rd_kafka_ConfigResource_error(resource),
                text(sys::rd_kafka_ConfigResource_error_string(resource)),
            )
        };
        if code != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(AclCallError::Failed(Refusal {
                code: code.into(),
                message,
            }));
        }
    }
    Ok(())
}
