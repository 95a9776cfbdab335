//! The users API over HTTP, every endpoint and every bad input, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::{Backend, Harness};

async fn create_read_list(backend: Backend) {
    let h = Harness::start(backend).await;
    let (status, user) = h
        .post_json(
            "/users",
            json!({"name": " Ada Lovelace ", "email": "Ada@Example.com"}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["email"], "ada@example.com");
    let id = user["id"].as_str().unwrap().to_string();
    let (status, read) = h.get_json(&format!("/users/{id}")).await;
    assert_eq!((status, &read), (200, &user));
    h.post_json(
        "/users",
        json!({"name": "Grace", "email": "grace@example.com"}),
    )
    .await;
    let (status, list) = h.get_json("/users").await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 2);
    assert_eq!(list["users"][0]["id"], id.as_str());
    let (status, page) = h.get_json(&format!("/users?after={id}&limit=5")).await;
    assert_eq!(status, 200);
    assert_eq!(page["users"].as_array().unwrap().len(), 1);
    h.stop().await;
}

// Proves a created user comes back by id and in the list, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_read_list_sqlite() {
    create_read_list(Backend::Sqlite).await;
}

// Proves a created user comes back by id and in the list, on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_read_list_postgres() {
    create_read_list(Backend::Postgres).await;
}

async fn bad_inputs(backend: Backend) {
    let h = Harness::start(backend).await;
    for (body, fragment) in [
        (json!({"name": "Ada", "email": "not-an-email"}), "email"),
        (json!({"name": "Ada", "email": "ada@nodot"}), "email"),
        (json!({"name": "Ada"}), "email is required"),
        (json!({"email": "ada@example.com"}), "name is required"),
        (
            json!({"name": "   ", "email": "ada@example.com"}),
            "name must not be empty",
        ),
        (
            json!({"name": "", "email": "ada@example.com"}),
            "name must not be empty",
        ),
        (json!({"name": 7, "email": "ada@example.com"}), "name"),
    ] {
        let (status, answer) = h.post_json("/users", body.clone()).await;
        assert_eq!(status, 422, "{body} -> {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(fragment), "{body}: {message}");
    }
    // Malformed JSON is a 400, a missing content type a 415, both with a JSON message.
    let response = h
        .http
        .post(h.url("/users"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.json::<serde_json::Value>().await.unwrap()["error"].is_string());
    let response = h
        .http
        .post(h.url("/users"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    // Nothing was stored.
    assert_eq!(h.get_json("/users").await.1["count"], 0);
    h.stop().await;
}

// Proves every bad POST body is refused with its status and a JSON message, and stores nothing (SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_sqlite() {
    bad_inputs(Backend::Sqlite).await;
}

// Proves every bad POST body is refused with its status and a JSON message, and stores nothing (PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_postgres() {
    bad_inputs(Backend::Postgres).await;
}

async fn conflicts_and_missing(backend: Backend) {
    let h = Harness::start(backend).await;
    let (status, _) = h
        .post_json("/users", json!({"name": "Ada", "email": "ada@example.com"}))
        .await;
    assert_eq!(status, 201);
    let (status, answer) = h
        .post_json(
            "/users",
            json!({"name": "Other", "email": "ADA@example.com "}),
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("ada@example.com"));
    let (status, answer) = h
        .get_json("/users/0190a000-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, 404);
    assert!(answer["error"].is_string());
    assert_eq!(h.get_json("/users").await.1["count"], 1);
    h.stop().await;
}

// Proves a duplicate email (case and blanks aside) is a 409 and an unknown id a 404 (SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_and_missing_sqlite() {
    conflicts_and_missing(Backend::Sqlite).await;
}

// Proves a duplicate email (case and blanks aside) is a 409 and an unknown id a 404 (PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_and_missing_postgres() {
    conflicts_and_missing(Backend::Postgres).await;
}

async fn updates(backend: Backend) {
    let h = Harness::start(backend).await;
    let (_, ada) = h
        .post_json("/users", json!({"name": "Ada", "email": "ada@example.com"}))
        .await;
    h.post_json(
        "/users",
        json!({"name": "Grace", "email": "grace@example.com"}),
    )
    .await;
    let path = format!("/users/{}", ada["id"].as_str().unwrap());
    let (status, updated) = h.put_json(&path, json!({"name": "Ada King"})).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Ada King");
    assert_eq!(updated["email"], "ada@example.com");
    assert_eq!(h.get_json(&path).await.1["name"], "Ada King");
    assert_eq!(
        h.put_json(&path, json!({"email": "grace@example.com"}))
            .await
            .0,
        409
    );
    assert_eq!(h.put_json(&path, json!({"email": "nope"})).await.0, 422);
    assert_eq!(h.put_json(&path, json!({"name": " "})).await.0, 422);
    assert_eq!(h.put_json(&path, json!({})).await.0, 422);
    let missing = h
        .put_json(
            "/users/0190a000-0000-7000-8000-000000000000",
            json!({"name": "X"}),
        )
        .await;
    assert_eq!(missing.0, 404);
    assert_eq!(h.get_json(&path).await.1["email"], "ada@example.com");
    h.stop().await;
}

// Proves PUT changes only the given fields, and answers 409/422/404 for conflicts, bad and unknown (SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_sqlite() {
    updates(Backend::Sqlite).await;
}

// Proves PUT changes only the given fields, and answers 409/422/404 for conflicts, bad and unknown (PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_postgres() {
    updates(Backend::Postgres).await;
}

// Proves /health reports the outbox and /metrics counts created and rejected writes in Prometheus text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics() {
    let h = Harness::start(Backend::Sqlite).await;
    let (status, health) = h.get_json("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    h.post_json("/users", json!({"name": "Ada", "email": "ada@example.com"}))
        .await;
    h.post_json("/users", json!({"name": "Ada", "email": "bad"}))
        .await;
    let response = h.http.get(h.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("users_created_total 1"), "{text}");
    assert!(text.contains("users_rejected_total 1"), "{text}");
    assert!(text.contains("# TYPE users_outbox_unsent gauge"), "{text}");
    h.stop().await;
}
