//! The HTTP API: routes, JSON bodies, and the mapping of every outcome to a status code.
//!
//! `POST /users` 201 | 409 duplicate email | 422 bad or missing field | 400 malformed JSON;
//! `GET /users/{id}` 200 | 404; `GET /users?after=&limit=` 200; `PUT /users/{id}` 200 | 404 | 409 |
//! 422; `DELETE /users/{id}` 200 (the deleted user) | 404; `GET /health`; `GET /metrics`
//! (Prometheus text). Errors are `{"error": "..."}`.
//! Not here: SQL (`store.rs`) and field rules (`validate.rs`).

use std::sync::atomic::Ordering;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use herald::envelope::Event;
use serde::Deserialize;
use serde_json::json;

use crate::store::{self, User};
use crate::writer::CreateError;
use crate::{metrics, validate, AppState};

/// Most users returned by one `GET /users`.
pub const PAGE_USERS_MAX: i64 = 1_000;

/// The API's routes over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route(
            "/users/{id}",
            get(get_user).put(update_user).delete(delete_user),
        )
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Body of `POST /users` and `PUT /users/{id}`; fields are optional so that their absence is
/// reported as a 422 with a message rather than a bare deserialisation error.
#[derive(Debug, Deserialize)]
struct UserInput {
    name: Option<String>,
    email: Option<String>,
}

/// An error answer: a status and a JSON message.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError(rejection.status(), rejection.body_text())
    }
}

fn unprocessable(message: String) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, message)
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "request failed");
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
}

fn duplicate_or_internal(error: sqlx::Error, email: &str) -> ApiError {
    if store::is_unique_violation(&error) {
        email_taken(email)
    } else {
        internal(error)
    }
}

/// The 409 for an email another user already has.
fn email_taken(email: &str) -> ApiError {
    ApiError(
        StatusCode::CONFLICT,
        format!("a user with email {email} exists"),
    )
}

async fn create_user(
    State(state): State<AppState>,
    body: Result<Json<UserInput>, JsonRejection>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let result = create(&state, body).await;
    state.counters.count(result.as_ref().err().map(|e| e.0));
    result.map(|user| (StatusCode::CREATED, Json(user)))
}

async fn create(
    state: &AppState,
    body: Result<Json<UserInput>, JsonRejection>,
) -> Result<User, ApiError> {
    let Json(input) = body?;
    let name = validate::name(input.name.as_deref()).map_err(unprocessable)?;
    let email = validate::email(input.email.as_deref()).map_err(unprocessable)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        name,
        email,
        created_at: now.clone(),
        updated_at: now,
    };
    let event = Event::new("user_created", &user)
        .map_err(internal)?
        .key(&user.id);
    // The row and its event commit together or not at all (in a group commit with other creates).
    match state.writer.create(user.clone(), event).await {
        Ok(()) => {}
        Err(CreateError::Duplicate) => return Err(email_taken(&user.email)),
        Err(CreateError::Internal(error)) => return Err(internal(error)),
    }
    state.counters.created.fetch_add(1, Ordering::Relaxed);
    Ok(user)
}

async fn update_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<UserInput>, JsonRejection>,
) -> Result<Json<User>, ApiError> {
    let result = update(&state, &id, body).await;
    state.counters.count(result.as_ref().err().map(|e| e.0));
    result.map(Json)
}

/// Applies the fields present in the body (at least one) to user `id`.
async fn update(
    state: &AppState,
    id: &str,
    body: Result<Json<UserInput>, JsonRejection>,
) -> Result<User, ApiError> {
    let Json(input) = body?;
    if input.name.is_none() && input.email.is_none() {
        return Err(unprocessable("name or email is required".into()));
    }
    let name = input
        .name
        .as_deref()
        .map(|n| validate::name(Some(n)))
        .transpose()
        .map_err(unprocessable)?;
    let email = input
        .email
        .as_deref()
        .map(|e| validate::email(Some(e)))
        .transpose()
        .map_err(unprocessable)?;
    let updated_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut tx = state.db.begin().await.map_err(internal)?;
    let updated = store::update_fields(&mut tx, id, name.as_deref(), email.as_deref(), &updated_at)
        .await
        .map_err(|e| duplicate_or_internal(e, email.as_deref().unwrap_or_default()))?;
    let Some(user) = updated else {
        return Err(not_found(id));
    };
    publish(state, &mut tx, "user_updated", &user).await?;
    tx.commit().await.map_err(internal)?;
    state.outbox.committed();
    state.counters.updated.fetch_add(1, Ordering::Relaxed);
    Ok(user)
}

async fn delete_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    let result = delete(&state, &id).await;
    state.counters.count(result.as_ref().err().map(|e| e.0));
    result.map(Json)
}

/// Deletes user `id`, writing `user_deleted` (its last state) and then a tombstone for its key in
/// the same transaction: replicas delete the row, and compaction eventually drops the key.
async fn delete(state: &AppState, id: &str) -> Result<User, ApiError> {
    let mut tx = state.db.begin().await.map_err(internal)?;
    let Some(user) = store::delete(&mut tx, id).await.map_err(internal)? else {
        return Err(not_found(id));
    };
    publish(state, &mut tx, "user_deleted", &user).await?;
    state
        .outbox
        .enqueue_tombstone(&mut tx, &state.topic, &user.id)
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    state.outbox.committed();
    state.counters.deleted.fetch_add(1, Ordering::Relaxed);
    Ok(user)
}

/// Writes the `event_type` event for `user` into the outbox inside `tx`.
async fn publish(
    state: &AppState,
    tx: &mut herald::db::Transaction,
    event_type: &str,
    user: &User,
) -> Result<(), ApiError> {
    let event = Event::new(event_type, user)
        .map_err(internal)?
        .key(&user.id);
    state
        .outbox
        .enqueue(tx, &state.topic, &event)
        .await
        .map_err(internal)?;
    Ok(())
}

fn not_found(id: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("no user {id}"))
}

async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    match store::find(&state.db, &id).await.map_err(internal)? {
        Some(user) => Ok(Json(user)),
        None => Err(not_found(&id)),
    }
}

/// `GET /users?after=<id>&limit=<n>`: one page in id order, plus the total count.
#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    after: String,
    limit: Option<i64>,
}

async fn list_users(
    State(state): State<AppState>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(page) = page.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let limit = page.limit.unwrap_or(100).clamp(0, PAGE_USERS_MAX);
    let (users, count) = store::list(&state.db, &page.after, limit)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "count": count, "users": users })))
}

async fn health(State(state): State<AppState>) -> Response {
    match state.outbox.unsent().await {
        Ok(unsent) => Json(json!({ "status": "ok", "outbox_unsent": unsent })).into_response(),
        Err(error) => ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unavailable: {error}"),
        )
        .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let unsent = state.outbox.unsent().await.ok();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&state.counters, unsent),
    )
        .into_response()
}
