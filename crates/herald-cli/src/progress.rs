//! Progress bars for long operations, shown only to a person at a terminal.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `total` steps on stderr, hidden unless `wanted` and stdout is a terminal (so scripts and
/// pipes see clean output).
pub fn bar(total: u64, message: &'static str, wanted: bool) -> ProgressBar {
    if !wanted || !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total).with_message(message);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
