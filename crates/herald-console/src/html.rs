//! HTML building blocks: escaping, the page layout with its navigation, forms that carry the CSRF
//! token, number formatting, and the one stylesheet and one script every page shares.
//!
//! The script is progressive: without JavaScript every page still works (no live refresh, no
//! confirmation dialog; destructive actions still need the typed topic name, checked on the server).

use axum::response::Html;

/// What a page needs to know about the console to render its actions.
#[derive(Debug, Clone)]
pub struct PageContext {
    /// Whether writes are hidden.
    pub read_only: bool,
    /// The token every POST form carries.
    pub csrf_token: String,
}

/// The navigation entries; the current one is highlighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// `/`
    Overview,
    /// `/topics`
    Topics,
    /// `/groups`
    Groups,
    /// `/dead-letters`
    DeadLetters,
}

const NAV: [(Nav, &str, &str); 4] = [
    (Nav::Overview, "/", "Overview"),
    (Nav::Topics, "/topics", "Topics"),
    (Nav::Groups, "/groups", "Consumer groups"),
    (Nav::DeadLetters, "/dead-letters", "Dead letters"),
];

const STYLE: &str = r#"
:root{--fg:#1d2330;--muted:#667085;--line:#e4e7ec;--bg:#f8f9fb;--accent:#3b5bdb;--bad:#c92a2a;--ok:#2b8a3e}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.5rem;background:#1d2330;color:#fff}
header a{color:#cfd6e4;text-decoration:none}header a.active{color:#fff;font-weight:600}
header .brand{font-weight:700;color:#fff}header .badge{margin-left:auto;font-size:12px;background:#495057;padding:2px 8px;border-radius:8px}
main{padding:1rem 1.5rem;max-width:1400px}h1{font-size:20px;margin:.2rem 0 1rem}h2{font-size:16px;margin:1.4rem 0 .5rem}
table{border-collapse:collapse;background:#fff;border:1px solid var(--line);width:100%}
th,td{padding:.35rem .6rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f1f3f5;font-weight:600;font-size:13px}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:.8rem}.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.7rem 1rem;min-width:140px}
.card .value{font-size:22px;font-weight:600}.card .label{color:var(--muted);font-size:12px}
form.inline{display:inline}form.box{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.7rem 1rem;margin:.5rem 0;display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}
label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}input,select,button{font:inherit;padding:.25rem .4rem}
button{background:var(--accent);color:#fff;border:0;border-radius:4px;padding:.35rem .8rem;cursor:pointer}button.danger{background:var(--bad)}
pre{margin:0;white-space:pre-wrap;word-break:break-all;max-height:24rem;overflow:auto;font-size:12px}
.muted{color:var(--muted)}.bad{color:var(--bad)}.ok{color:var(--ok)}.error{background:#fff5f5;border:1px solid #ffc9c9;padding:1rem;border-radius:6px}
.result{background:#ebfbee;border:1px solid #b2f2bb;padding:.6rem 1rem;border-radius:6px;margin:.5rem 0}
dl.fields{display:grid;grid-template-columns:max-content 1fr;gap:0 .8rem;margin:0;font-size:12px}dl.fields dt{color:var(--muted)}
svg.chart{background:#fff;border:1px solid var(--line)}
"#;

const SCRIPT: &str = r#"
// Live refresh: an element with an id and data-refresh="SECONDS" is fetched again and swapped in.
document.querySelectorAll('[data-refresh][id]').forEach(function (first) {
  var id = first.id, every = 1000 * Number(first.dataset.refresh);
  setInterval(function () {
    fetch(location.href, {headers: {'x-herald-refresh': '1'}}).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (text) {
      if (!text) return;
      var fresh = new DOMParser().parseFromString(text, 'text/html').getElementById(id);
      var old = document.getElementById(id);
      if (fresh && old) old.replaceWith(fresh);
    }).catch(function () {});
  }, every);
});
// A form with data-confirm asks before it is sent.
document.addEventListener('submit', function (e) {
  var message = e.target.dataset.confirm;
  if (message && !window.confirm(message)) e.preventDefault();
});
// A "select all" checkbox.
document.querySelectorAll('input[data-select-all]').forEach(function (all) {
  all.addEventListener('change', function () {
    document.querySelectorAll('input[name=record]').forEach(function (b) { b.checked = all.checked; });
  });
});
"#;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value (topic and group names may hold `.`, `-`, `_`).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// 1234567 -> "1,234,567".
pub fn number(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The opening tag of a POST form with its CSRF field; `confirm` asks in the browser first.
pub fn form_open(ctx: &PageContext, action: &str, class: &str, confirm: Option<&str>) -> String {
    let confirm = confirm
        .map(|c| format!(" data-confirm=\"{}\"", escape(c)))
        .unwrap_or_default();
    format!(
        "<form method=\"post\" action=\"{}\" class=\"{class}\"{confirm}>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(action),
        escape(&ctx.csrf_token)
    )
}

/// A full page: head, navigation, `body`.
pub fn page(ctx: &PageContext, nav: Nav, title: &str, body: &str) -> Html<String> {
    let (head, tail) = page_split(ctx, nav, title);
    Html(format!("{head}{body}{tail}"))
}

/// A page in two halves, for a body that is streamed between them.
pub fn page_split(ctx: &PageContext, nav: Nav, title: &str) -> (String, String) {
    let links: String = NAV
        .iter()
        .map(|(entry, href, label)| {
            let class = if *entry == nav {
                " class=\"active\""
            } else {
                ""
            };
            format!("<a href=\"{href}\"{class}>{label}</a>")
        })
        .collect();
    let badge = if ctx.read_only {
        "<span class=\"badge\" id=\"read-only\">read-only</span>"
    } else {
        ""
    };
    let Html(document) = document(
        title,
        &format!("<header><span class=\"brand\">herald console</span>{links}{badge}</header><main>\u{0}</main>"),
    );
    match document.split_once('\u{0}') {
        Some((head, tail)) => (head.to_string(), tail.to_string()),
        None => (document, String::new()),
    }
}

/// A page without navigation state (error pages).
pub fn bare_page(title: &str, body: &str) -> Html<String> {
    document(
        title,
        &format!(
            "<header><a class=\"brand\" href=\"/\">herald console</a></header><main>{body}</main>"
        ),
    )
}

fn document(title: &str, content: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{} · herald console</title>\
         <style>{STYLE}</style></head><body>{content}<script>{SCRIPT}</script></body></html>",
        escape(title)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup() {
        // Names and record contents cannot inject markup or break out of an attribute.
        assert_eq!(
            escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }

    #[test]
    fn numbers_get_thousands_separators() {
        // Large counts are readable at a glance.
        assert_eq!(number(0), "0");
        assert_eq!(number(1_234_567), "1,234,567");
        assert_eq!(number(-1000), "-1,000");
    }

    #[test]
    fn url_encode_keeps_safe_characters() {
        // Topic names with dots survive, anything else is percent-encoded.
        assert_eq!(url_encode("orders.dlq"), "orders.dlq");
        assert_eq!(url_encode("a b/c"), "a%20b%2Fc");
    }
}
