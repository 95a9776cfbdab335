//! One module per page. Each has a `page` handler (GET) and, for pages with actions, one handler
//! per POST. Shared here: the page context, form fields, the "done" banner after a redirect.

use axum::response::Redirect;

use crate::html::{escape, url_encode, PageContext};
use crate::{AppState, ConsoleError, Result};

pub mod dead_letters;
pub mod group;
pub mod groups;
pub mod messages;
pub mod overview;
pub mod topic;
pub mod topics;

/// Longest "done" message shown after a redirect.
const DONE_BYTES_MAX: usize = 300;

/// The fields of a posted form, in order (repeated names allowed).
pub(crate) type Fields = axum::Form<Vec<(String, String)>>;

pub(crate) fn context(state: &AppState) -> PageContext {
    PageContext {
        read_only: state.read_only,
        csrf_token: state.csrf_token.clone(),
    }
}

/// The first value of field `name`, trimmed; empty counts as absent.
pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The value of a required field, or a 400 naming it.
pub(crate) fn required<'a>(fields: &'a [(String, String)], name: &str) -> Result<&'a str> {
    field(fields, name)
        .ok_or_else(|| ConsoleError::BadRequest(format!("the field {name:?} is required")))
}

/// A destructive action must be confirmed by typing the topic's name.
pub(crate) fn confirmed(fields: &[(String, String)], topic: &str) -> Result<()> {
    match field(fields, "confirm") {
        Some(typed) if typed == topic => Ok(()),
        _ => Err(ConsoleError::BadRequest(format!(
            "type the topic name {topic:?} into the confirmation field to go ahead"
        ))),
    }
}

/// After a write: back to `path` with a banner saying what was done.
pub(crate) fn done(path: &str, message: &str) -> Redirect {
    Redirect::to(&format!("{path}?done={}", url_encode(message)))
}

/// The banner for `?done=...`.
pub(crate) fn done_banner(done: Option<&str>) -> String {
    match done {
        Some(message) => {
            let mut end = message.len().min(DONE_BYTES_MAX);
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            format!(
                "<div class=\"result\" id=\"done\">{}</div>",
                escape(&message[..end])
            )
        }
        None => String::new(),
    }
}

/// `?done=...` on any page.
#[derive(Debug, serde::Deserialize, Default)]
pub(crate) struct DoneQuery {
    pub done: Option<String>,
}
