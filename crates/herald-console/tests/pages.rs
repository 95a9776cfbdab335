//! Every page and action of the console against a real herald-broker in process, over HTTP.

mod common;

use common::{commit, count, produce, produce_many, Setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_counts_topics_records_and_groups() {
    // The overview's figures come from the cluster: a created topic, its records, a group and lag.
    let setup = Setup::start(|_| {}).await;
    let created = setup
        .post("/topics", &[("name", "orders"), ("partitions", "1")])
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    for i in 0..3 {
        produce(
            setup.broker.bootstrap_servers(),
            "orders",
            &format!("k{i}"),
            b"{}",
            &[],
        )
        .await;
    }
    commit(setup.broker.bootstrap_servers(), "billing", "orders", 1).await;
    let page = setup
        .await_page("/", |p| {
            p.body.contains("id=\"total-lag\"><div class=\"value\">2<")
        })
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("id=\"topics\"><div class=\"value\">1<"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("id=\"partitions\"><div class=\"value\">1<"));
    assert!(page.body.contains("id=\"records\"><div class=\"value\">3<"));
    assert!(page.body.contains("id=\"groups\"><div class=\"value\">1<"));
    assert!(page.body.contains("data-refresh="), "live refresh is wired");
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_validated_and_deleted() {
    // Create redirects to the topic; bad names, duplicates and unconfirmed deletes are 4xx.
    let setup = Setup::start(|_| {}).await;
    let bad = setup
        .post("/topics", &[("name", "no spaces"), ("partitions", "1")])
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("invalid topic name"), "{}", bad.body);
    let bad = setup
        .post("/topics", &[("name", "t"), ("partitions", "0")])
        .await;
    assert_eq!(bad.status, 400);
    let created = setup
        .post(
            "/topics",
            &[
                ("name", "payments"),
                ("partitions", "3"),
                ("configs", "retention.ms=3600000"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    assert!(created
        .location
        .as_deref()
        .unwrap_or_default()
        .starts_with("/topics/payments?done="));
    let list = setup.get("/topics").await;
    assert!(list.body.contains(">payments</a>"), "{}", list.body);
    let topic = setup.get("/topics/payments").await;
    assert_eq!(topic.status, 200);
    assert_eq!(
        count(&topic.body, "/topics/payments/messages?partition="),
        3
    );
    assert!(topic.body.contains("retention.ms"), "configs are shown");
    let again = setup
        .post("/topics", &[("name", "payments"), ("partitions", "1")])
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    let unconfirmed = setup
        .post("/topics/payments/delete", &[("confirm", "paymentz")])
        .await;
    assert_eq!(unconfirmed.status, 400);
    assert!(unconfirmed.body.contains("type the topic name"));
    let deleted = setup
        .post("/topics/payments/delete", &[("confirm", "payments")])
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    setup
        .await_page("/topics/payments", |p| p.status == 404)
        .await;
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_change_and_purge_are_applied_or_reported_as_unsupported() {
    // Where the cluster implements AlterConfigs / DeleteRecords the change shows; where it does not,
    // a 501 page names the API and nothing changes.
    let setup = Setup::start(|_| {}).await;
    assert_eq!(
        setup.post("/topics", &[("name", "audit")]).await.status,
        303
    );
    produce(setup.broker.bootstrap_servers(), "audit", "k", b"x", &[]).await;
    let altered = setup
        .post(
            "/topics/audit/config",
            &[("key", "retention.ms"), ("value", "7200000")],
        )
        .await;
    match altered.status {
        303 => assert!(setup.get("/topics/audit").await.body.contains("7200000")),
        501 => assert!(
            altered
                .body
                .contains("does not support the AlterConfigs API"),
            "{}",
            altered.body
        ),
        other => panic!("alter config answered {other}: {}", altered.body),
    }
    let bad_key = setup
        .post(
            "/topics/audit/config",
            &[("key", "no spaces"), ("value", "1")],
        )
        .await;
    assert_eq!(bad_key.status, 400);
    let purged = setup
        .post("/topics/audit/purge", &[("confirm", "audit")])
        .await;
    match purged.status {
        303 => {
            setup
                .await_page("/topics/audit", |p| {
                    p.body.contains(
                        "<td class=\"num\">1</td><td class=\"num\">1</td><td class=\"num\">0</td>",
                    )
                })
                .await;
        }
        501 => assert!(
            purged
                .body
                .contains("does not support the DeleteRecords API"),
            "{}",
            purged.body
        ),
        other => panic!("purge answered {other}: {}", purged.body),
    }
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_decodes_cloud_events_rails_and_binary_and_searches() {
    // CloudEvents headers become fields, JSON is pretty-printed, Rails events are named, binary is
    // hex, and a search keeps only matching records.
    let setup = Setup::start(|_| {}).await;
    let brokers = setup.broker.bootstrap_servers().to_string();
    let ce = [
        ("ce_specversion", "1.0"),
        ("ce_type", "user_created"),
        ("ce_id", "0190-abc"),
        ("content-type", "application/json"),
    ];
    produce(
        &brokers,
        "users",
        "42",
        br#"{"id":42,"email":"ada@example.com"}"#,
        &ce,
    )
    .await;
    produce(
        &brokers,
        "users",
        "43",
        br#"{"name":"user_deleted","data":{"id":"43"}}"#,
        &[],
    )
    .await;
    produce(&brokers, "users", "bin", &[0x00, 0x9f, 0xff, 0x10], &[]).await;
    let page = setup
        .get("/topics/users/messages?from=offset&offset=0")
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(count(&page.body, "class=\"record\""), 3);
    assert!(
        page.body.contains("<dt>type</dt><dd>user_created</dd>"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("<dt>content-type</dt><dd>application/json</dd>"));
    assert!(
        page.body
            .contains("\n  &quot;email&quot;: &quot;ada@example.com&quot;"),
        "pretty JSON"
    );
    assert!(page.body.contains("Rails event <b>user_deleted</b>"));
    assert!(page.body.contains("00 9f ff 10"), "binary as hex");
    let search = setup
        .get("/topics/users/messages?from=offset&offset=0&q=ADA%40example")
        .await;
    assert_eq!(
        count(&search.body, "class=\"record\""),
        1,
        "{}",
        search.body
    );
    assert!(search.body.contains("records: 1 shown of 3 looked at"));
    let by_time = setup
        .get("/topics/users/messages?from=time&time=2000-01-01T00:00:00Z")
        .await;
    assert_eq!(count(&by_time.body, "class=\"record\""), 3);
    let bad = setup.get("/topics/users/messages?partition=9").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("has no partition 9"));
    assert_eq!(setup.get("/topics/nope/messages").await.status, 404);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_streams_a_full_page_and_links_the_next() {
    // A 1,000-record page out of 1,200 holds exactly 1,000 records and points at offset 1,000.
    let setup = Setup::start(|_| {}).await;
    produce_many(setup.broker.bootstrap_servers(), "clicks", 1_200).await;
    let page = setup
        .get("/topics/clicks/messages?from=offset&offset=0&limit=1000")
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(count(&page.body, "class=\"record\""), 1_000);
    assert!(
        page.body.contains("from=offset&offset=1000\""),
        "next page link"
    );
    assert!(
        page.body.trim_end().ends_with("</html>"),
        "the streamed page is complete"
    );
    let last = setup.get("/topics/clicks/messages?limit=10").await;
    assert_eq!(count(&last.body, "class=\"record\""), 10);
    assert!(last.body.contains("data-offset=\"1199\""));
    assert_eq!(
        setup.get("/topics/clicks/messages?limit=1001").await.status,
        400
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_page_shows_lag_per_partition_and_resets_offsets() {
    // Lag is log end minus committed; a reset to latest brings it to 0, bad targets are 400s.
    let setup = Setup::start(|_| {}).await;
    let brokers = setup.broker.bootstrap_servers().to_string();
    produce_many(&brokers, "shipments", 5).await;
    commit(&brokers, "warehouse", "shipments", 2).await;
    let groups = setup.get("/groups").await;
    assert!(groups.body.contains(">warehouse</a>"), "{}", groups.body);
    let page = setup.get("/groups/warehouse").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"group-lag\">3<"), "{}", page.body);
    assert!(page.body.contains("<td class=\"num lag\">3</td>"));
    let bad = setup
        .post(
            "/groups/warehouse/reset",
            &[
                ("topic", "shipments"),
                ("to", "offset"),
                ("value", "minus one"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    let reset = setup
        .post(
            "/groups/warehouse/reset",
            &[("topic", "shipments"), ("to", "latest")],
        )
        .await;
    assert_eq!(reset.status, 303, "{}", reset.body);
    let page = setup.get("/groups/warehouse").await;
    assert!(page.body.contains("id=\"group-lag\">0<"), "{}", page.body);
    let chart = setup
        .await_page("/groups/warehouse", |p| {
            p.body.contains("<svg class=\"chart\"")
        })
        .await;
    assert!(chart.body.contains("<polyline"));
    assert_eq!(setup.get("/groups/nobody").await.status, 404);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_with_their_reasons_and_republished() {
    // A dead letter shows its herald-* headers; republishing sends a new event to the original topic.
    let setup = Setup::start(|_| {}).await;
    let brokers = setup.broker.bootstrap_servers().to_string();
    let headers = [
        ("ce_id", "0190-dead"),
        ("ce_type", "order_placed"),
        ("herald-error-reason", "payment service timed out"),
        ("herald-error-kind", "processing"),
        ("herald-attempts", "5"),
        ("herald-original-topic", "orders"),
        ("herald-original-partition", "0"),
        ("herald-original-offset", "17"),
        ("herald-consumer", "billing"),
        ("herald-consumer-group", "billing"),
    ];
    produce(&brokers, "orders.dlq", "order-1", br#"{"id":1}"#, &headers).await;
    produce(&brokers, "orders", "order-0", br#"{"id":0}"#, &[]).await;
    let list = setup.get("/dead-letters").await;
    assert!(list.body.contains(">orders.dlq</a>"), "{}", list.body);
    assert!(!list.body.contains(">orders</a>"), "only *.dlq topics");
    let page = setup.get("/dead-letters/orders.dlq").await;
    assert!(
        page.body.contains("<td>payment service timed out</td>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<td>orders/0@17</td>"));
    let none = setup.post("/dead-letters/orders.dlq/republish", &[]).await;
    assert_eq!(none.status, 400);
    let result = setup
        .post("/dead-letters/orders.dlq/republish", &[("only", "0:0")])
        .await;
    assert_eq!(result.status, 200, "{}", result.body);
    assert!(
        result.body.contains("republished to orders/0@1"),
        "{}",
        result.body
    );
    assert!(result.body.contains("1 republished, 0 failed"));
    let explorer = setup
        .get("/topics/orders/messages?from=offset&offset=1")
        .await;
    assert!(
        explorer
            .body
            .contains("<dt>herald-republished-from</dt><dd>orders.dlq/0@0</dd>"),
        "{}",
        explorer.body
    );
    assert!(!explorer.body.contains("0190-dead"), "a new event id");
    assert!(!explorer.body.contains("herald-error-reason"));
    produce(&brokers, "orders.dlq", "order-2", br#"{"id":2}"#, &headers).await;
    let both = setup
        .post(
            "/dead-letters/orders.dlq/republish",
            &[("record", "0:0"), ("record", "0:1")],
        )
        .await;
    assert!(
        both.body.contains("2 republished, 0 failed"),
        "{}",
        both.body
    );
    let missing = setup
        .post("/dead-letters/orders.dlq/republish", &[("record", "0:99")])
        .await;
    assert!(missing.body.contains("no record at this position"));
    let not_dlq = setup
        .post("/dead-letters/orders/republish", &[("only", "0:0")])
        .await;
    assert_eq!(not_dlq.status, 400);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_is_refused_while_the_group_has_members() {
    // A live member would overwrite the reset with its next commit: 409, and the page names it.
    let setup = Setup::start(|_| {}).await;
    let brokers = setup.broker.bootstrap_servers().to_string();
    produce_many(&brokers, "invoices", 3).await;
    commit(&brokers, "ledger", "invoices", 1).await;
    let member = common::LiveMember::join(&brokers, "ledger", "invoices");
    let page = setup
        .await_page("/groups/ledger", |p| {
            p.body.contains("id=\"group-state\">Stable<")
        })
        .await;
    assert!(page.body.contains("<td>live-member</td>"), "{}", page.body);
    assert!(
        page.body.contains("invoices [0]"),
        "the assignment is decoded"
    );
    let refused = setup
        .post(
            "/groups/ledger/reset",
            &[("topic", "invoices"), ("to", "earliest")],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("live member"));
    drop(member);
    setup.stop().await;
}
