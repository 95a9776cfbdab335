//! librdkafka's ACL admin calls (CreateAcls, DescribeAcls, DeleteAcls) behind safe functions:
//! [`describe`], [`create`] and [`delete`] take the CLI's [`AclBinding`]/[`AclFilter`], block for at
//! most the request timeout plus [`RESULT_GRACE_MS`], and copy every answer into Rust values before
//! librdkafka's objects are freed.
//!
//! rdkafka 0.39 does not wrap these calls, so this is the one module of the CLI with `unsafe`. Going
//! through librdkafka (not our own protocol code) means every `-X` setting applies: SASL, TLS, a real
//! Kafka cluster. Every librdkafka object is owned by a guard ([`Options`], [`Queue`], [`Event`],
//! [`OwnedBindings`]) that destroys it on every path; results borrowed from an event are read while
//! the event's guard is alive.
//!
//! Known librdkafka limitation (2.12.1, `rd_kafka_DescribeAclsResponse_parse`): DescribeAcls drops the
//! response's top-level error code, so SECURITY_DISABLED or CLUSTER_AUTHORIZATION_FAILED arrive as an
//! empty, successful list. CreateAcls and DeleteAcls report their errors; the command uses that.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::ClientContext;
use rdkafka_sys as sys;

use super::binding::{AclBinding, AclCallError, AclFilter, Deleted, Refusal};
use super::codes::{
    operation_from_sys, operation_to_sys, pattern_from_sys, pattern_to_sys, permission_from_sys,
    permission_to_sys, resource_type_from_sys, resource_type_to_sys,
};

/// How much longer than the request timeout we wait for the result event: librdkafka answers a
/// request it gave up on with its own `_TIMED_OUT` event, which says more than our deadline would.
const RESULT_GRACE_MS: u64 = 2_000;
/// librdkafka's upper bound for `request_timeout` (one hour).
const REQUEST_TIMEOUT_MS_MAX: u64 = 3_600_000;
/// Size of the buffers librdkafka writes its argument errors into.
pub(crate) const ERRSTR_BYTES: usize = 512;

/// The bindings `filter` selects.
pub fn describe<C: ClientContext>(
    admin: &AdminClient<C>,
    filter: &AclFilter,
    timeout: Duration,
) -> Result<Vec<AclBinding>, AclCallError> {
    let mut filters = OwnedBindings::default();
    filters.push_filter(filter)?;
    let op = sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS;
    let event = call(admin, op, timeout, |rk, options, queue| {
        // SAFETY: `rk` is the admin client's live handle, `options` and `queue` are live objects made
        // for it by `call`, and the filter is a live AclBindingFilter that librdkafka copies
        // (rd_kafka_AclBindingFilter_copy) before returning, so our guard may free it afterwards.
        unsafe { sys::rd_kafka_DescribeAcls(rk, filters.0[0], options, queue) }
    })?;
    // SAFETY: the event is live (its guard is in scope); NULL means another event type.
    let result = unsafe { sys::rd_kafka_event_DescribeAcls_result(event.as_ptr()) };
    if result.is_null() {
        return Err(unexpected_event("DescribeAcls"));
    }
    let mut count = 0;
    // SAFETY: `result` is the live event viewed as its result type; librdkafka writes the element
    // count to `count` and returns an array (NULL when empty) owned by the event.
    let acls = unsafe { sys::rd_kafka_DescribeAcls_result_acls(result, &mut count) };
    // SAFETY: `acls` holds `count` binding pointers that live as long as `event`, which outlives
    // this read; every element is a binding librdkafka parsed.
    Ok(unsafe { elements(acls, count, &event) }
        .iter()
        // SAFETY: each element is a live binding owned by the event (see above).
        .map(|&acl| unsafe { read_binding(acl) })
        .collect())
}

/// Creates `bindings`; one result per binding, in order.
pub fn create<C: ClientContext>(
    admin: &AdminClient<C>,
    bindings: &[AclBinding],
    timeout: Duration,
) -> Result<Vec<Result<(), Refusal>>, AclCallError> {
    let mut owned = OwnedBindings::default();
    for binding in bindings {
        owned.push_binding(binding)?;
    }
    let op = sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS;
    let event = call(admin, op, timeout, |rk, options, queue| {
        // SAFETY: `rk`, `options` and `queue` are live (see `call`); the array holds `len()` live
        // bindings, each copied by librdkafka (rd_kafka_AclBinding_copy) before returning; the array
        // itself is only read during the call.
        unsafe { sys::rd_kafka_CreateAcls(rk, owned.0.as_mut_ptr(), owned.0.len(), options, queue) }
    })?;
    // SAFETY: the event is live; NULL means another event type.
    let result = unsafe { sys::rd_kafka_event_CreateAcls_result(event.as_ptr()) };
    if result.is_null() {
        return Err(unexpected_event("CreateAcls"));
    }
    let mut count = 0;
    // SAFETY: as in `describe`: an event-owned array of `count` acl results (NULL when empty).
    let results = unsafe { sys::rd_kafka_CreateAcls_result_acls(result, &mut count) };
    // SAFETY: the array and its elements live as long as `event`, which outlives this read.
    let results = unsafe { elements(results, count, &event) };
    let read = |result: *const sys::rd_kafka_acl_result_t| {
        // SAFETY: each element is a live acl result owned by the event; its error (NULL on
        // success) is owned by the result.
        let error = unsafe { read_error(sys::rd_kafka_acl_result_error(result)) };
        error.map_or(Ok(()), Err)
    };
    Ok(results.iter().map(|&result| read(result)).collect())
}

/// Deletes what each filter selects; one result per filter, in order, listing the bindings it
/// matched.
pub fn delete<C: ClientContext>(
    admin: &AdminClient<C>,
    filters: &[AclFilter],
    timeout: Duration,
) -> Result<Vec<Result<Vec<Deleted>, Refusal>>, AclCallError> {
    let mut owned = OwnedBindings::default();
    for filter in filters {
        owned.push_filter(filter)?;
    }
    let op = sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS;
    let event = call(admin, op, timeout, |rk, options, queue| {
        // SAFETY: as in `create`: live handle, options, queue and filters; librdkafka copies each
        // filter (rd_kafka_AclBindingFilter_copy) before returning.
        unsafe { sys::rd_kafka_DeleteAcls(rk, owned.0.as_mut_ptr(), owned.0.len(), options, queue) }
    })?;
    // SAFETY: the event is live; NULL means another event type.
    let result = unsafe { sys::rd_kafka_event_DeleteAcls_result(event.as_ptr()) };
    if result.is_null() {
        return Err(unexpected_event("DeleteAcls"));
    }
    let mut count = 0;
    // SAFETY: as in `describe`: an event-owned array of `count` responses (NULL when empty).
    let responses = unsafe { sys::rd_kafka_DeleteAcls_result_responses(result, &mut count) };
    // SAFETY: the array and its elements live as long as `event`, which outlives this read.
    let responses = unsafe { elements(responses, count, &event) };
    Ok(responses
        .iter()
        // SAFETY: each element is a live response owned by the event.
        .map(|&response| unsafe { read_delete_response(response, &event) })
        .collect())
}

/// One DeleteAcls response: its error, else the bindings it matched with their own errors.
///
/// # Safety
/// `response` must be a live response owned by `event`.
unsafe fn read_delete_response(
    response: *const sys::rd_kafka_DeleteAcls_result_response_t,
    event: &Event<'_>,
) -> Result<Vec<Deleted>, Refusal> {
    // SAFETY: `response` is live (caller); its error, if any, is owned by it.
    let error = unsafe { read_error(sys::rd_kafka_DeleteAcls_result_response_error(response)) };
    if let Some(refusal) = error {
        return Err(refusal);
    }
    let mut count = 0;
    // SAFETY: `response` is live; the returned array of `count` bindings (NULL when empty) is owned
    // by it, so by `event`.
    let matching =
        unsafe { sys::rd_kafka_DeleteAcls_result_response_matching_acls(response, &mut count) };
    // SAFETY: see above; `event` outlives the returned slice's use in this function.
    let matching = unsafe { elements(matching, count, event) };
    Ok(matching
        .iter()
        // SAFETY: each element is a live binding owned by the response; so is its error.
        .map(|&acl| unsafe {
            Deleted {
                binding: read_binding(acl),
                refused: read_error(sys::rd_kafka_AclBinding_error(acl)),
            }
        })
        .collect())
}

/// Sends one admin request through `submit` on a fresh queue and waits for its result event, which
/// is returned only when librdkafka reports no error for the call as a whole.
pub(crate) fn call<'a, C: ClientContext>(
    admin: &'a AdminClient<C>,
    op: sys::rd_kafka_admin_op_t,
    timeout: Duration,
    submit: impl FnOnce(
        *mut sys::rd_kafka_t,
        *const sys::rd_kafka_AdminOptions_t,
        *mut sys::rd_kafka_queue_t,
    ),
) -> Result<Event<'a>, AclCallError> {
    let rk = admin.inner().native_ptr();
    let request_ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .min(REQUEST_TIMEOUT_MS_MAX);
    let options = Options::new(rk, op, request_ms)?;
    let queue = Queue::new(rk)?;
    submit(rk, options.0.as_ptr(), queue.0.as_ptr());
    let wait_ms = request_ms.saturating_add(RESULT_GRACE_MS);
    let wait = c_int::try_from(wait_ms).unwrap_or(c_int::MAX);
    // SAFETY: the queue is live; the returned event (or NULL on timeout) is ours to destroy, which
    // the `Event` guard does.
    let event = unsafe { sys::rd_kafka_queue_poll(queue.0.as_ptr(), wait) };
    let Some(event) = NonNull::new(event) else {
        // Dropping the queue while the request is in flight is safe: librdkafka keeps its own
        // reference to the queue and discards the late result.
        return Err(AclCallError::NoAnswer(Duration::from_millis(wait_ms)));
    };
    let event = Event(event, PhantomData);
    // SAFETY: the event is live.
    let code = unsafe { sys::rd_kafka_event_error(event.as_ptr()) };
    if code != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: the event is live; the string (possibly NULL) lives as long as the event and is
        // copied here.
        let message = unsafe { text(sys::rd_kafka_event_error_string(event.as_ptr())) };
        return Err(AclCallError::Failed(Refusal {
            code: code.into(),
            message,
        }));
    }
    Ok(event)
}

fn unexpected_event(api: &'static str) -> AclCallError {
    AclCallError::UnexpectedEvent(api)
}

/// Admin options with a request timeout; destroyed on drop.
struct Options(NonNull<sys::rd_kafka_AdminOptions_t>);

impl Options {
    fn new(
        rk: *mut sys::rd_kafka_t,
        op: sys::rd_kafka_admin_op_t,
        request_ms: u64,
    ) -> Result<Self, AclCallError> {
        // SAFETY: `rk` is a live client handle; the options returned (NULL for an unknown op) are
        // ours to destroy, which the guard does.
        let options = unsafe { sys::rd_kafka_AdminOptions_new(rk, op) };
        let options = NonNull::new(options)
            .map(Options)
            .ok_or_else(|| AclCallError::InvalidArgument(format!("no admin options for {op:?}")))?;
        let mut errstr = [0u8; ERRSTR_BYTES];
        let request_ms = c_int::try_from(request_ms).unwrap_or(c_int::MAX);
        // SAFETY: the options are live; `errstr` is a writable buffer of the length given, which
        // librdkafka NUL-terminates.
        let code = unsafe {
            sys::rd_kafka_AdminOptions_set_request_timeout(
                options.0.as_ptr(),
                request_ms,
                errstr.as_mut_ptr().cast::<c_char>(),
                errstr.len(),
            )
        };
        if code != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(AclCallError::InvalidArgument(errstr_text(&errstr)));
        }
        Ok(options)
    }
}

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: made by rd_kafka_AdminOptions_new, owned only by this guard, destroyed once; the
        // admin call that used it has returned (librdkafka copies what it needs).
        unsafe { sys::rd_kafka_AdminOptions_destroy(self.0.as_ptr()) }
    }
}

/// A result queue of our own; destroyed on drop.
struct Queue(NonNull<sys::rd_kafka_queue_t>);

impl Queue {
    fn new(rk: *mut sys::rd_kafka_t) -> Result<Self, AclCallError> {
        // SAFETY: `rk` is a live client handle; the queue is ours to destroy, which the guard does
        // before `call` returns, so before the client (borrowed by `call`) can be dropped.
        let queue = unsafe { sys::rd_kafka_queue_new(rk) };
        NonNull::new(queue)
            .map(Queue)
            .ok_or_else(|| AclCallError::InvalidArgument("librdkafka made no queue".to_string()))
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: made by rd_kafka_queue_new, owned only by this guard, destroyed once.
        unsafe { sys::rd_kafka_queue_destroy(self.0.as_ptr()) }
    }
}

/// A result event; destroyed on drop. Independent of the queue it came from (which `call` drops
/// first); borrows the client so that it cannot outlive it.
pub(crate) struct Event<'a>(NonNull<sys::rd_kafka_event_t>, PhantomData<&'a ()>);

impl Event<'_> {
    pub(crate) fn as_ptr(&self) -> *mut sys::rd_kafka_event_t {
        self.0.as_ptr()
    }
}

impl Drop for Event<'_> {
    fn drop(&mut self) {
        // SAFETY: returned by rd_kafka_queue_poll, owned only by this guard, destroyed once; nothing
        // borrowed from it outlives the guard (`elements` ties slices to it).
        unsafe { sys::rd_kafka_event_destroy(self.as_ptr()) }
    }
}

/// Bindings and filters we made for a request (each non-NULL); destroyed on drop, including when
/// making a later one failed.
#[derive(Default)]
struct OwnedBindings(Vec<*mut sys::rd_kafka_AclBinding_t>);

impl OwnedBindings {
    fn push_binding(&mut self, binding: &AclBinding) -> Result<(), AclCallError> {
        let name = c_string("resource name", &binding.resource_name)?;
        let principal = c_string("principal", &binding.principal)?;
        let host = c_string("host", &binding.host)?;
        let mut errstr = [0u8; ERRSTR_BYTES];
        // SAFETY: the strings are NUL-terminated and live for the call (librdkafka duplicates them);
        // `errstr` is a writable buffer of the length given. The binding returned (NULL for invalid
        // arguments) is pushed at once, so the guard owns it from here on.
        let made = unsafe {
            sys::rd_kafka_AclBinding_new(
                resource_type_to_sys(binding.resource_type),
                name.as_ptr(),
                pattern_to_sys(binding.pattern_type),
                principal.as_ptr(),
                host.as_ptr(),
                operation_to_sys(binding.operation),
                permission_to_sys(Some(binding.permission)),
                errstr.as_mut_ptr().cast::<c_char>(),
                errstr.len(),
            )
        };
        self.keep(made, &errstr, binding)
    }

    fn push_filter(&mut self, filter: &AclFilter) -> Result<(), AclCallError> {
        let name = optional_c_string("resource name", filter.resource_name.as_deref())?;
        let principal = optional_c_string("principal", filter.principal.as_deref())?;
        let host = optional_c_string("host", filter.host.as_deref())?;
        let pointer = |s: &Option<CString>| s.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        let mut errstr = [0u8; ERRSTR_BYTES];
        // SAFETY: as in `push_binding`; NULL strings mean "any" and are allowed by
        // rd_kafka_AclBindingFilter_new.
        let made = unsafe {
            sys::rd_kafka_AclBindingFilter_new(
                resource_type_to_sys(filter.resource_type),
                pointer(&name),
                pattern_to_sys(filter.pattern_type),
                pointer(&principal),
                pointer(&host),
                operation_to_sys(filter.operation),
                permission_to_sys(filter.permission),
                errstr.as_mut_ptr().cast::<c_char>(),
                errstr.len(),
            )
        };
        self.keep(made, &errstr, filter)
    }

    fn keep(
        &mut self,
        made: *mut sys::rd_kafka_AclBinding_t,
        errstr: &[u8],
        what: &dyn fmt::Debug,
    ) -> Result<(), AclCallError> {
        if made.is_null() {
            return Err(AclCallError::InvalidArgument(format!(
                "{}: {what:?}",
                errstr_text(errstr)
            )));
        }
        self.0.push(made);
        Ok(())
    }
}

impl Drop for OwnedBindings {
    fn drop(&mut self) {
        for &binding in &self.0 {
            // SAFETY: each pointer is a non-NULL binding or filter made by rd_kafka_AclBinding_new or
            // rd_kafka_AclBindingFilter_new, owned only by this guard (librdkafka copies what it
            // sends), destroyed once.
            unsafe { sys::rd_kafka_AclBinding_destroy(binding) }
        }
    }
}

/// `text` for librdkafka, or an error naming `what` when it holds a NUL byte.
fn c_string(what: &str, text: &str) -> Result<CString, AclCallError> {
    CString::new(text)
        .map_err(|_| AclCallError::InvalidArgument(format!("the {what} {text:?} holds a NUL byte")))
}

fn optional_c_string(what: &str, text: Option<&str>) -> Result<Option<CString>, AclCallError> {
    text.map(|text| c_string(what, text)).transpose()
}

/// The NUL-terminated message librdkafka wrote into `errstr`.
fn errstr_text(errstr: &[u8]) -> String {
    CStr::from_bytes_until_nul(errstr)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(errstr).into_owned())
}

/// The `count` elements of an array librdkafka returned, borrowed for as long as the event that
/// owns them.
///
/// # Safety
/// `array` must be NULL or point to `count` initialised pointers owned by `_owner`.
unsafe fn elements<'e, T>(
    array: *mut *const T,
    count: usize,
    _owner: &'e Event<'_>,
) -> &'e [*const T] {
    if array.is_null() || count == 0 {
        return &[];
    }
    // SAFETY: non-NULL, `count` initialised, properly aligned elements (caller), alive and unchanged
    // while `_owner` lives (librdkafka never mutates a delivered result).
    unsafe { std::slice::from_raw_parts(array.cast_const(), count) }
}

/// A copy of a C string (lossy UTF-8); NULL reads as "".
///
/// # Safety
/// `text` must be NULL or a NUL-terminated string alive for the call.
pub(crate) unsafe fn text(text: *const c_char) -> String {
    if text.is_null() {
        return String::new();
    }
    // SAFETY: non-NULL and NUL-terminated, alive for the call (caller).
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// A copy of an error object (NULL means no error).
///
/// # Safety
/// `error` must be NULL or a live error object.
unsafe fn read_error(error: *const sys::rd_kafka_error_t) -> Option<Refusal> {
    if error.is_null() {
        return None;
    }
    // SAFETY: a live error (caller); its string lives as long as it and is copied by `text`.
    let (code, message) = unsafe {
        (
            sys::rd_kafka_error_code(error),
            text(sys::rd_kafka_error_string(error)),
        )
    };
    Some(Refusal {
        code: code.into(),
        message,
    })
}

/// A copy of a binding librdkafka parsed from a response.
///
/// # Safety
/// `acl` must be a live binding. librdkafka maps codes it does not know to UNKNOWN when parsing
/// (rd_kafka_DescribeAclsResponse_parse, rd_kafka_DeleteAclsResponse_parse), so the enum getters
/// return values of the bindings' Rust enums.
unsafe fn read_binding(acl: *const sys::rd_kafka_AclBinding_t) -> AclBinding {
    // SAFETY: a live binding (caller); its strings live as long as it and are copied by `text`.
    unsafe {
        AclBinding {
            resource_type: resource_type_from_sys(sys::rd_kafka_AclBinding_restype(acl)),
            resource_name: text(sys::rd_kafka_AclBinding_name(acl)),
            pattern_type: pattern_from_sys(sys::rd_kafka_AclBinding_resource_pattern_type(acl)),
            principal: text(sys::rd_kafka_AclBinding_principal(acl)),
            host: text(sys::rd_kafka_AclBinding_host(acl)),
            operation: operation_from_sys(sys::rd_kafka_AclBinding_operation(acl)),
            permission: permission_from_sys(sys::rd_kafka_AclBinding_permission_type(acl)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::binding::{Operation, PatternType, Permission, ResourceType};
    use super::*;

    // Arguments librdkafka would refuse are errors, not panics, and free what was already made.
    #[test]
    fn invalid_bindings_are_errors() {
        let mut owned = OwnedBindings::default();
        let mut binding = AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: "orders".into(),
            pattern_type: PatternType::Literal,
            principal: "User:bob".into(),
            host: "*".into(),
            operation: Operation::Read,
            permission: Permission::Allow,
        };
        assert!(owned.push_binding(&binding).is_ok());
        binding.resource_name = "bad\0name".into();
        assert!(matches!(
            owned.push_binding(&binding),
            Err(AclCallError::InvalidArgument(m)) if m.contains("NUL")
        ));
        binding.resource_name = "orders".into();
        binding.operation = Operation::Any;
        assert!(matches!(
            owned.push_binding(&binding),
            Err(AclCallError::InvalidArgument(_))
        ));
        assert!(owned.push_filter(&AclFilter::any()).is_ok());
        assert_eq!(owned.0.len(), 2);
    }
}
