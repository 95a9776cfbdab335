//! The directory's read API: `GET /users/{id}` (200 | 404), `GET /users` (`{"count": n}`),
//! `GET /health` (count and duplicates the inbox skipped). Errors are `{"error": "..."}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use herald::db::Database;
use herald::inbox::Inbox;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
struct AppState {
    db: Database,
    inbox: Arc<Inbox>,
}

/// The routes over the replica in `db`.
pub fn router(db: Database, inbox: Arc<Inbox>) -> Router {
    Router::new()
        .route("/users", get(count_users))
        .route("/users/{id}", get(get_user))
        .route("/health", get(health))
        .with_state(AppState { db, inbox })
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn internal(e: sqlx::Error) -> Response {
    tracing::error!(error = %e, "query failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
}

type Row = (String, String, String, String, String);

async fn get_user(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let sql = "SELECT id, name, email, created_at, updated_at FROM users WHERE id = $1";
    let row: Result<Option<Row>, sqlx::Error> = match &state.db {
        Database::Sqlite(pool) => sqlx::query_as(sql).bind(&id).fetch_optional(pool).await,
        Database::Postgres(pool) => sqlx::query_as(sql).bind(&id).fetch_optional(pool).await,
    };
    match row {
        Ok(Some((id, name, email, created_at, updated_at))) => Json(json!({
            "id": id, "name": name, "email": email, "created_at": created_at, "updated_at": updated_at,
        }))
        .into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no user {id}")),
        Err(e) => internal(e),
    }
}

async fn count(db: &Database) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM users";
    match db {
        Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
}

async fn count_users(State(state): State<AppState>) -> Response {
    match count(&state.db).await {
        Ok(n) => Json(json!({ "count": n })).into_response(),
        Err(e) => internal(e),
    }
}

async fn health(State(state): State<AppState>) -> Response {
    match count(&state.db).await {
        Ok(n) => Json::<Value>(json!({
            "status": "ok",
            "users": n,
            "duplicates_skipped": state.inbox.duplicates_skipped(),
        }))
        .into_response(),
        Err(e) => internal(e),
    }
}
