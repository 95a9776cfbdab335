//! Renders every metric in Prometheus' text exposition format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::histogram::Snapshot;
use crate::api::registry::APIS;
use crate::BrokerState;

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, labels: &str, snapshot: &Snapshot) {
    let separator = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0u64;
    for (at, count) in snapshot.counts.iter().enumerate() {
        cumulative += count;
        let le = snapshot
            .bounds
            .get(at)
            .map_or_else(|| "+Inf".to_string(), |bound| bound.to_string());
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{separator}le=\"{le}\"}} {cumulative}"
        );
    }
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {}", snapshot.sum);
    let _ = writeln!(out, "{name}_count{braces} {cumulative}");
}

/// Every metric of `state`, as the body of `GET /metrics`. Takes the logs' read locks briefly; run
/// it off the async threads.
pub fn render(state: &BrokerState) -> String {
    let mut out = String::with_capacity(16 * 1024);
    render_requests(&mut out, state);
    render_connections(&mut out, state);
    render_storage(&mut out, state);
    render_cleaner(&mut out, state);
    render_lag(&mut out, state);
    out
}

/// The log cleaner thread's counters, and the dirty ratio of every compacted partition.
fn render_cleaner(out: &mut String, state: &BrokerState) {
    let c = &state.metrics.cleaner;
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let counters = [
        (
            "herald_broker_log_cleaner_passes_total",
            "Cleaning rounds that cleaned something (a log larger than the key map takes several).",
            load(&c.passes),
        ),
        (
            "herald_broker_log_cleaner_failures_total",
            "Cleaning rounds that failed (logged; the log is left intact).",
            load(&c.failures),
        ),
        (
            "herald_broker_log_cleaner_bytes_read_total",
            "Record batch bytes the cleaner read and filtered.",
            load(&c.bytes_read),
        ),
        (
            "herald_broker_log_cleaner_bytes_written_total",
            "Bytes of cleaned segments the cleaner wrote.",
            load(&c.bytes_written),
        ),
        (
            "herald_broker_log_cleaner_records_read_total",
            "Records the cleaner filtered.",
            load(&c.records_read),
        ),
        (
            "herald_broker_log_cleaner_records_kept_total",
            "Records the cleaner kept.",
            load(&c.records_kept),
        ),
        (
            "herald_broker_log_cleaner_records_mapped_total",
            "Records whose keys went into the cleaner's key map.",
            load(&c.records_mapped),
        ),
        (
            "herald_broker_log_cleaner_segments_cleaned_total",
            "Segments the cleaner replaced by cleaned ones.",
            load(&c.segments_cleaned),
        ),
    ];
    for (name, help, value) in counters {
        header(out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    let seconds = |micros: u64| micros as f64 / 1e6;
    header(
        out,
        "herald_broker_log_cleaner_throttled_seconds_total",
        "counter",
        "Seconds the cleaner slept to stay under log.cleaner.io.max.bytes.per.second.",
    );
    let _ = writeln!(
        out,
        "herald_broker_log_cleaner_throttled_seconds_total {}",
        seconds(load(&c.throttled_micros))
    );
    header(
        out,
        "herald_broker_log_cleaner_last_pass_duration_seconds",
        "gauge",
        "Duration of the last cleaning round that cleaned something.",
    );
    let _ = writeln!(
        out,
        "herald_broker_log_cleaner_last_pass_duration_seconds {}",
        seconds(load(&c.last_pass_micros))
    );
    header(
        out,
        "herald_broker_log_cleaner_key_map_bytes",
        "gauge",
        "Memory the cleaner's key map holds (log.cleaner.dedupe.buffer.size once it has cleaned).",
    );
    let _ = writeln!(
        out,
        "herald_broker_log_cleaner_key_map_bytes {}",
        load(&c.key_map_bytes)
    );
    header(
        out,
        "herald_broker_partition_dirty_ratio",
        "gauge",
        "Uncleaned bytes over all bytes of the closed segments, per compacted partition.",
    );
    for topic in state.topics.list() {
        let name = escape(&topic.name);
        for partition in topic.partitions() {
            if !partition.is_compacted() {
                continue;
            }
            let ratio = partition.with_log(|log| log.dirty_ratio());
            let _ = writeln!(
                out,
                "herald_broker_partition_dirty_ratio{{topic=\"{name}\",partition=\"{}\"}} {ratio}",
                partition.index
            );
        }
    }
}

fn render_requests(out: &mut String, state: &BrokerState) {
    let metrics = &state.metrics;
    let apis = || {
        APIS.iter()
            .filter_map(|api| Some((api, metrics.api(api.key)?)))
    };
    header(
        out,
        "herald_broker_requests_total",
        "counter",
        "Requests answered, per API.",
    );
    for (api, counters) in apis() {
        let count = counters.requests.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "herald_broker_requests_total{{api=\"{:?}\"}} {count}",
            api.key
        );
    }
    header(
        out,
        "herald_broker_request_errors_total",
        "counter",
        "Responses carrying at least one non-zero error code, per API.",
    );
    for (api, counters) in apis() {
        let count = counters.errors.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "herald_broker_request_errors_total{{api=\"{:?}\"}} {count}",
            api.key
        );
    }
    header(
        out,
        "herald_broker_request_duration_seconds",
        "histogram",
        "From a request's arrival to its response being written, per API.",
    );
    for (api, counters) in apis() {
        let labels = format!("api=\"{:?}\"", api.key);
        histogram(
            out,
            "herald_broker_request_duration_seconds",
            &labels,
            &counters.latency.snapshot(),
        );
    }
}

fn render_connections(out: &mut String, state: &BrokerState) {
    let metrics = &state.metrics;
    header(
        out,
        "herald_broker_connections",
        "gauge",
        "Client connections open now.",
    );
    let open = metrics.connections_open.load(Ordering::Relaxed);
    let _ = writeln!(out, "herald_broker_connections {open}");
    header(
        out,
        "herald_broker_connections_accepted_total",
        "counter",
        "Client connections accepted.",
    );
    let accepted = metrics.connections_accepted.load(Ordering::Relaxed);
    let _ = writeln!(out, "herald_broker_connections_accepted_total {accepted}");
    header(
        out,
        "herald_broker_connections_closed_on_error_total",
        "counter",
        "Connections closed for a bad frame, a refused request or a failed login.",
    );
    let closed = metrics.connections_closed_on_error.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "herald_broker_connections_closed_on_error_total {closed}"
    );
}

/// Per topic and per partition figures, and the storage histograms summed over partitions.
fn render_storage(out: &mut String, state: &BrokerState) {
    let mut topic_io: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    let mut partitions = String::new();
    let (mut fsync, mut group_commit) = (Snapshot::default(), Snapshot::default());
    let topics = state.topics.list();
    for topic in &topics {
        let name = escape(&topic.name);
        let sums = topic_io.entry(name.clone()).or_default();
        for partition in topic.partitions() {
            let io = &partition.io;
            for (sum, counter) in
                sums.iter_mut()
                    .zip([&io.bytes_in, &io.records_in, &io.bytes_out, &io.records_out])
            {
                *sum += counter.load(Ordering::Relaxed);
            }
            io.fsync_seconds.add_to(&mut fsync);
            io.group_commit_records.add_to(&mut group_commit);
            let (start, end, size) = partition.with_log(|log| {
                (
                    log.log_start_offset(),
                    log.log_end_offset(),
                    log.size_bytes(),
                )
            });
            let labels = format!("topic=\"{name}\",partition=\"{}\"", partition.index);
            let _ = writeln!(
                partitions,
                "herald_broker_partition_log_start_offset{{{labels}}} {start}"
            );
            let _ = writeln!(
                partitions,
                "herald_broker_partition_log_end_offset{{{labels}}} {end}"
            );
            let _ = writeln!(
                partitions,
                "herald_broker_partition_size_bytes{{{labels}}} {size}"
            );
        }
    }
    let names = [
        (
            "herald_broker_topic_bytes_in_total",
            "Record batch bytes appended, per topic.",
        ),
        (
            "herald_broker_topic_records_in_total",
            "Records appended, per topic.",
        ),
        (
            "herald_broker_topic_bytes_out_total",
            "Record batch bytes served to fetches, per topic.",
        ),
        (
            "herald_broker_topic_records_out_total",
            "Records served to fetches, per topic.",
        ),
    ];
    for (at, (name, help)) in names.iter().enumerate() {
        header(out, name, "counter", help);
        for (topic, sums) in &topic_io {
            let _ = writeln!(out, "{name}{{topic=\"{topic}\"}} {}", sums[at]);
        }
    }
    header(
        out,
        "herald_broker_partition_log_start_offset",
        "gauge",
        "First offset stored.",
    );
    header(
        out,
        "herald_broker_partition_log_end_offset",
        "gauge",
        "Offset of the next record appended.",
    );
    header(
        out,
        "herald_broker_partition_size_bytes",
        "gauge",
        "Bytes of all segments.",
    );
    out.push_str(&partitions);
    header(
        out,
        "herald_broker_fsync_duration_seconds",
        "histogram",
        "Seconds per group-commit fsync.",
    );
    histogram(out, "herald_broker_fsync_duration_seconds", "", &fsync);
    header(
        out,
        "herald_broker_group_commit_records",
        "histogram",
        "Records made durable per group-commit fsync.",
    );
    histogram(out, "herald_broker_group_commit_records", "", &group_commit);
}

/// Lag per group and partition: log end offset minus the committed offset.
fn render_lag(out: &mut String, state: &BrokerState) {
    header(
        out,
        "herald_broker_consumer_group_lag",
        "gauge",
        "Records between a group's committed offset and the high watermark, per partition.",
    );
    let Ok(groups) = state.coordinator.list_groups(&[]) else {
        return;
    };
    for group in groups {
        for (topic_name, partitions) in state.coordinator.fetch_offsets(&group.group_id, None) {
            let Some(topic) = state.topics.get(&topic_name) else {
                continue;
            };
            for (index, committed) in partitions {
                let (Some(committed), Some(partition)) = (committed, topic.partition(index)) else {
                    continue;
                };
                let lag = (partition.high_watermark() - committed.offset).max(0);
                let _ = writeln!(
                    out,
                    "herald_broker_consumer_group_lag{{group=\"{}\",topic=\"{}\",partition=\"{index}\"}} {lag}",
                    escape(&group.group_id),
                    escape(&topic_name)
                );
            }
        }
    }
}
