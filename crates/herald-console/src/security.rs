//! What guards every request: optional basic auth, the read-only switch and the CSRF token that every
//! POST form must carry. Main items: [`Users`], [`guard`] (an axum middleware).
//!
//! The CSRF token is random per console process and embedded in every form; a cross-site page cannot
//! read it, so it cannot forge a write. `/health` is open so that `herald up` can wait for readiness.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::{AppState, ConsoleError};

/// Largest form body accepted (a republish of many selected records stays far below it).
pub const FORM_BYTES_MAX: usize = 256 * 1024;
/// Most users an `--auth-users` file may list.
pub const AUTH_USERS_MAX: usize = 1_000;

/// Basic-auth users: `user:password`, one per line, `#` starts a comment line.
#[derive(Clone, Default)]
pub struct Users {
    entries: Vec<(String, String)>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print passwords.
        f.debug_struct("Users")
            .field("count", &self.entries.len())
            .finish()
    }
}

impl Users {
    /// Parses the text of a users file; the error names the bad line.
    pub fn parse(text: &str) -> Result<Users, String> {
        let mut entries = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                    entries.push((user.to_string(), password.to_string()));
                }
                _ => return Err(format!("line {}: expected user:password", number + 1)),
            }
        }
        if entries.is_empty() {
            return Err("no users (expected lines of user:password)".to_string());
        }
        if entries.len() > AUTH_USERS_MAX {
            return Err(format!("more than {AUTH_USERS_MAX} users"));
        }
        Ok(Users { entries })
    }

    /// Reads and parses a users file.
    pub fn load(path: &Path) -> Result<Users, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Users::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether `user:password` is one of the users (compared in constant time per entry).
    pub fn allows(&self, user: &str, password: &str) -> bool {
        self.entries.iter().fold(false, |found, (u, p)| {
            found
                | (constant_time_eq(u.as_bytes(), user.as_bytes())
                    & constant_time_eq(p.as_bytes(), password.as_bytes()))
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh random token (128 bits, hex).
pub fn new_csrf_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn authorized(users: &Users, request: &Request) -> bool {
    let Some(value) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let text = String::from_utf8_lossy(&decoded);
    match text.split_once(':') {
        Some((user, password)) => users.allows(user, password),
        None => false,
    }
}

/// Auth first, then for a POST: refused when read-only, and its form must carry the CSRF token.
pub(crate) async fn guard(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(users) = &state.users {
        if request.uri().path() != "/health" && !authorized(users, &request) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"herald console\"")],
                "authentication required",
            )
                .into_response();
        }
    }
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    if state.read_only {
        return ConsoleError::ReadOnly.into_response();
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, FORM_BYTES_MAX).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ConsoleError::BadRequest(format!("form larger than {FORM_BYTES_MAX} bytes"))
                .into_response()
        }
    };
    let token_ok = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| fields.into_iter().find(|(k, _)| k == "csrf"))
        .is_some_and(|(_, v)| constant_time_eq(v.as_bytes(), state.csrf_token.as_bytes()));
    if !token_ok {
        return ConsoleError::Csrf.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_file_parses_and_checks_passwords() {
        // Comments and blank lines are skipped; only the exact pair is allowed.
        let users = Users::parse("# ops\nada:s3cret\n\nbob:pw:with:colons\n").expect("parses");
        assert!(users.allows("ada", "s3cret"));
        assert!(users.allows("bob", "pw:with:colons"));
        assert!(!users.allows("ada", "wrong"));
        assert!(!users.allows("eve", "s3cret"));
    }

    #[test]
    fn users_file_rejects_bad_lines() {
        // A line without a password names its line number.
        let error = Users::parse("ada:ok\nbroken\n").expect_err("rejects");
        assert!(error.contains("line 2"), "{error}");
        assert!(Users::parse("# nothing\n").is_err());
    }

    #[test]
    fn csrf_tokens_are_random() {
        // Two consoles never share a token.
        assert_ne!(new_csrf_token(), new_csrf_token());
        assert_eq!(new_csrf_token().len(), 32);
    }
}
