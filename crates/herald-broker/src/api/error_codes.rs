//! Where each response carries its error codes: one function per API, named in the registry, that
//! pushes every non-zero code (top level, per topic, per partition, per group) onto `out`. The
//! connection uses them for the WARN line and the per-API error counters.

use kafka_protocol::messages::ResponseKind;

fn push(out: &mut Vec<i16>, codes: impl IntoIterator<Item = i16>) {
    out.extend(codes.into_iter().filter(|&code| code != 0));
}

/// Declares a function that collects the codes of one response variant with `$collect`.
macro_rules! codes {
    ($name:ident, $variant:ident, |$r:ident, $out:ident| $collect:expr) => {
        pub fn $name(response: &ResponseKind, $out: &mut Vec<i16>) {
            if let ResponseKind::$variant($r) = response {
                $collect
            }
        }
    };
}

codes!(produce, Produce, |r, out| push(
    out,
    r.responses
        .iter()
        .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
));
codes!(fetch, Fetch, |r, out| {
    push(out, [r.error_code]);
    push(
        out,
        r.responses
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
    )
});
codes!(list_offsets, ListOffsets, |r, out| push(
    out,
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
));
codes!(metadata, Metadata, |r, out| {
    push(out, r.topics.iter().map(|t| t.error_code));
    push(
        out,
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
    )
});
codes!(offset_commit, OffsetCommit, |r, out| push(
    out,
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
));
codes!(offset_fetch, OffsetFetch, |r, out| {
    push(out, [r.error_code]);
    push(
        out,
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
    );
    push(out, r.groups.iter().map(|g| g.error_code));
    push(
        out,
        r.groups.iter().flat_map(|g| {
            g.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        }),
    )
});
codes!(find_coordinator, FindCoordinator, |r, out| {
    push(out, [r.error_code]);
    push(out, r.coordinators.iter().map(|c| c.error_code))
});
codes!(join_group, JoinGroup, |r, out| push(out, [r.error_code]));
codes!(heartbeat, Heartbeat, |r, out| push(out, [r.error_code]));
codes!(leave_group, LeaveGroup, |r, out| {
    push(out, [r.error_code]);
    push(out, r.members.iter().map(|m| m.error_code))
});
codes!(sync_group, SyncGroup, |r, out| push(out, [r.error_code]));
codes!(describe_groups, DescribeGroups, |r, out| push(
    out,
    r.groups.iter().map(|g| g.error_code)
));
codes!(list_groups, ListGroups, |r, out| push(out, [r.error_code]));
codes!(sasl_handshake, SaslHandshake, |r, out| push(
    out,
    [r.error_code]
));
codes!(api_versions, ApiVersions, |r, out| push(
    out,
    [r.error_code]
));
codes!(create_topics, CreateTopics, |r, out| push(
    out,
    r.topics.iter().map(|t| t.error_code)
));
codes!(delete_records, DeleteRecords, |r, out| push(
    out,
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
));
codes!(delete_topics, DeleteTopics, |r, out| push(
    out,
    r.responses.iter().map(|t| t.error_code)
));
codes!(init_producer_id, InitProducerId, |r, out| push(
    out,
    [r.error_code]
));
codes!(
    offset_for_leader_epoch,
    OffsetForLeaderEpoch,
    |r, out| push(
        out,
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
    )
);
codes!(describe_configs, DescribeConfigs, |r, out| push(
    out,
    r.results.iter().map(|c| c.error_code)
));
codes!(sasl_authenticate, SaslAuthenticate, |r, out| push(
    out,
    [r.error_code]
));
codes!(create_partitions, CreatePartitions, |r, out| push(
    out,
    r.results.iter().map(|t| t.error_code)
));
codes!(delete_groups, DeleteGroups, |r, out| push(
    out,
    r.results.iter().map(|g| g.error_code)
));
codes!(offset_delete, OffsetDelete, |r, out| {
    push(out, [r.error_code]);
    push(
        out,
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
    )
});
codes!(describe_acls, DescribeAcls, |r, out| push(
    out,
    [r.error_code]
));
codes!(create_acls, CreateAcls, |r, out| push(
    out,
    r.results.iter().map(|c| c.error_code)
));
codes!(delete_acls, DeleteAcls, |r, out| {
    push(out, r.filter_results.iter().map(|f| f.error_code));
    push(
        out,
        r.filter_results
            .iter()
            .flat_map(|f| f.matching_acls.iter().map(|m| m.error_code)),
    )
});
codes!(describe_cluster, DescribeCluster, |r, out| push(
    out,
    [r.error_code]
));
codes!(
    describe_user_scram_credentials,
    DescribeUserScramCredentials,
    |r, out| {
        push(out, [r.error_code]);
        push(out, r.results.iter().map(|u| u.error_code))
    }
);
codes!(
    alter_user_scram_credentials,
    AlterUserScramCredentials,
    |r, out| push(out, r.results.iter().map(|u| u.error_code))
);
codes!(alter_configs, AlterConfigs, |r, out| push(
    out,
    r.responses.iter().map(|c| c.error_code)
));
codes!(
    incremental_alter_configs,
    IncrementalAlterConfigs,
    |r, out| push(out, r.responses.iter().map(|c| c.error_code))
);
