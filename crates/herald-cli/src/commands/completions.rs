//! `herald completions SHELL`: prints a completion script (e.g. `herald completions bash > /etc/bash_completion.d/herald`).

use clap::CommandFactory;

/// Writes the completion script for `shell` to stdout.
pub fn run<C: CommandFactory>(shell: clap_complete::Shell) {
    let mut command = C::command();
    clap_complete::generate(shell, &mut command, "herald", &mut std::io::stdout());
}
