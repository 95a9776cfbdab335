//! How many heap allocations the consumer's per-record work costs, counted by a global allocator
//! that counts per thread: decoding a herald event and copying a record's headers. These bound the
//! runner's framework cost per event; a regression (a `serde_json::Value` tree per event, one
//! allocation per header) fails here rather than only showing up in the benchmark.
// A counting allocator is `unsafe impl GlobalAlloc`; each unsafe block says why it is sound.
#![allow(unsafe_code, clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use herald::consumer::Headers;
use herald::envelope::{Event, ReceivedEvent};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; it only counts, in a
// thread-local `Cell` whose access cannot allocate (const-initialised, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread while `f` runs, and its result.
fn counted<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    (ALLOCATIONS.with(Cell::get) - before, result)
}

#[test]
fn decoding_a_herald_event_allocates_only_its_owned_fields() {
    // Proves a CloudEvents binary record decodes with four allocations (key, source, type, the data's
    // bytes): no header list, no JSON tree until the handler asks for one, and typed data read
    // straight from the bytes.
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct User {
        name: String,
        email: String,
    }
    let user = User {
        name: "ada".into(),
        email: "ada@example.com".into(),
    };
    let encoded = Event::new("user_created", &user)
        .unwrap()
        .key("ada")
        .encode("users-service");
    let headers: Headers = encoded.headers.iter().cloned().collect();
    let (allocations, event) = counted(|| {
        ReceivedEvent::decode(
            encoded.key.as_deref(),
            Some(&encoded.payload),
            headers.iter().map(|(name, value)| (name, Some(value))),
        )
    });
    let event = event.unwrap();
    assert!(allocations <= 4, "decode made {allocations} allocations");
    let (allocations, typed) = counted(|| event.data_as::<User>());
    assert_eq!(typed.unwrap(), user);
    assert!(
        allocations <= 2,
        "typed read made {allocations} allocations (two strings expected)"
    );
    assert_eq!(event.data["email"], "ada@example.com");
}

#[test]
fn a_record_s_headers_are_one_allocation() {
    // Proves copying a herald event's six envelope headers plus a trace header takes one
    // allocation when sized up front, as the runner does for every record.
    let encoded = Event::new("user_created", &serde_json::json!({"id": 1}))
        .unwrap()
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .encode("users-service");
    let names: usize = encoded.headers.iter().map(|(name, _)| name.len()).sum();
    let values: usize = encoded.headers.iter().map(|(_, value)| value.len()).sum();
    let (allocations, headers) = counted(|| {
        let mut headers = Headers::with_capacity(encoded.headers.len(), names, values);
        for (name, value) in &encoded.headers {
            headers.push(name, value);
        }
        headers
    });
    assert_eq!(allocations, 1);
    assert_eq!(headers.len(), encoded.headers.len());
    assert_eq!(headers.to_vec(), encoded.headers);
}
