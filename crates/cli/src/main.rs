//! `coderoom-cli`: Coderoom without a window. Runs programs in the sandbox (and, as the other
//! crates land, hosts and joins rooms, reads history and checks syntax) for tests, benchmarks and
//! teachers preparing material.

mod room;
mod run;
mod sessions;
mod syntax;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "coderoom-cli", version, about = "Coderoom from a terminal")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Host a room: print its ticket and short code, and keep it open until Ctrl-C.
    Host(room::HostArgs),
    /// Join a room with a ticket (or a nearby room with its code) and print what arrives.
    Join(room::JoinArgs),
    /// List rooms announced on the local network.
    Nearby(room::NearbyArgs),
    /// Run a program in the sandbox, streaming its output, then print how it ended.
    Run(run::RunArgs),
    /// List the runtimes found on this machine, with their versions.
    Runtimes,
    /// Report syntax errors as `file:line:col: message`; exit status 1 when there are any.
    Check(syntax::CheckArgs),
    /// Print the outline of a file: classes, functions, methods.
    Symbols(syntax::SymbolsArgs),
    /// Past sessions kept in this install's history: list, show, export.
    #[command(subcommand)]
    Sessions(sessions::SessionsCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Sessions(_) | Command::Check(_) | Command::Symbols(_) | Command::Runtimes
    ) {
        end_quietly_when_the_reader_goes();
    }
    let result = match cli.command {
        Command::Host(args) => room::host(args),
        Command::Join(args) => room::join(args),
        Command::Nearby(args) => room::nearby(args),
        Command::Run(args) => run::run(args),
        Command::Runtimes => run::runtimes(),
        Command::Check(args) => syntax::check(args),
        Command::Symbols(args) => syntax::symbols(args),
        Command::Sessions(command) => sessions::sessions(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("coderoom-cli: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Commands that only print end like other Unix tools when their reader goes away
/// (`sessions show 1 | head`), rather than panicking on the failed write. The room commands
/// keep Rust's default: a closed stdout must not take a room down.
fn end_quietly_when_the_reader_goes() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: restoring the default disposition installs no handler code; nothing else in
    // this process has set one for SIGPIPE.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Text from peers (names, chat, file contents, program output) as it may be printed to a
/// terminal: control characters other than newline and tab, which could rewrite the screen or
/// hide lines, are shown as U+FFFD.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if text.chars().any(unsafe_char) {
        text.chars()
            .map(|c| if unsafe_char(c) { '\u{fffd}' } else { c })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}
