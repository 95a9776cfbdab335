//! The mailer's API: `GET /emails` (count of welcome emails, duplicates the inbox skipped, and
//! second `user_created` events the unique key suppressed) and `GET /health`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use herald::db::Database;
use herald::inbox::Inbox;
use serde_json::json;

use crate::Mailer;

#[derive(Debug, Clone)]
struct AppState {
    db: Database,
    inbox: Arc<Inbox>,
    mailer: Mailer,
}

/// The routes over the mailer's database.
pub fn router(db: Database, inbox: Arc<Inbox>, mailer: Mailer) -> Router {
    Router::new()
        .route("/emails", get(emails))
        .route("/health", get(emails))
        .with_state(AppState { db, inbox, mailer })
}

async fn emails(State(state): State<AppState>) -> Response {
    let sql = "SELECT COUNT(*) FROM welcome_emails";
    let count: Result<i64, sqlx::Error> = match &state.db {
        Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    };
    match count {
        Ok(count) => Json(json!({
            "status": "ok",
            "count": count,
            "duplicates_skipped": state.inbox.duplicates_skipped(),
            "suppressed": state.mailer.suppressed(),
        }))
        .into_response(),
        Err(error) => {
            tracing::error!(%error, "count failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "internal error"})),
            )
                .into_response()
        }
    }
}
