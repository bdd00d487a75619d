//! `sessions list|show|export`: the history kept in this install's data dir.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use coderoom_history::{History, SessionId, Side};
use coderoom_protocol::DocId;

/// `println!`/`print!` for what peers wrote (names, files, chat, output): made safe for a
/// terminal first.
macro_rules! show {
    () => { println!() };
    ($($arg:tt)*) => { println!("{}", crate::printable(&format!($($arg)*))) };
}
macro_rules! show_raw {
    ($($arg:tt)*) => { print!("{}", crate::printable(&format!($($arg)*))) };
}

#[derive(clap::Subcommand)]
pub enum SessionsCommand {
    /// Past sessions, newest first: id, date, title, participants, languages.
    List,
    /// One session: who was there, its documents and files (at a moment with --at), runs, chat.
    Show {
        id: i64,
        /// Seconds after the session started: show the files as they were then.
        #[arg(long, value_name = "SECONDS")]
        at: Option<f64>,
    },
    /// Write a session's files as folders (board, workspace-NAME) under DIR, or a zip.
    Export {
        id: i64,
        dir: PathBuf,
        /// Write DIR as one zip file instead (DIR names the zip).
        #[arg(long)]
        zip: bool,
        /// Only this learner's workspace (a name, or the start of an id).
        #[arg(long, value_name = "NAME")]
        learner: Option<String>,
    },
}

/// The history database of this install (or of `CODEROOM_DATA_DIR`).
pub fn open_history() -> anyhow::Result<History> {
    Ok(coderoom_classroom::hosting::open_history()?)
}

pub fn local_time(ms: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(time) | chrono::LocalResult::Ambiguous(time, _) => {
            time.format("%Y-%m-%d %H:%M:%S").to_string()
        }
        chrono::LocalResult::None => format!("{ms} ms"),
    }
}

fn duration(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    format!(
        "{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn side(side: Side) -> &'static str {
    match side {
        Side::Hub => "hosted",
        Side::Learner => "joined",
    }
}

pub fn sessions(command: SessionsCommand) -> anyhow::Result<ExitCode> {
    let history = open_history()?;
    match command {
        SessionsCommand::List => {
            let list = history.sessions()?;
            if list.is_empty() {
                show!("no sessions yet (hosting or joining a room records one)");
            }
            for summary in list {
                let info = &summary.info;
                let state = if info.ended_ms.is_some() {
                    ""
                } else {
                    " (open)"
                };
                show!(
                    "{:>4}  {}  {}  {:<24} {} long, {} updates, {} {}{}",
                    info.id,
                    local_time(info.started_ms),
                    side(info.side),
                    format!("{:?}", info.title),
                    duration(info.ended_ms.unwrap_or(summary.last_ms) - info.started_ms),
                    summary.updates,
                    if summary.participants.is_empty() {
                        "nobody else".to_owned()
                    } else {
                        summary.participants.join(", ")
                    },
                    if info.languages.is_empty() {
                        String::new()
                    } else {
                        format!("[{}]", info.languages.join(", "))
                    },
                    state,
                );
            }
        }
        SessionsCommand::Show { id, at } => {
            let id = SessionId(id);
            let info = history.session(id)?;
            let moment = match at {
                None => None,
                Some(seconds) if !seconds.is_finite() || seconds < 0.0 => {
                    anyhow::bail!("--at takes the seconds since the session started (0 or more)")
                }
                Some(seconds) => Some(info.started_ms.saturating_add((seconds * 1000.0) as i64)),
            };
            show!(
                "session {}: {:?} ({} {})",
                info.id,
                info.title,
                side(info.side),
                local_time(info.started_ms)
            );
            if let Some((first, last, count)) = history.span(id)? {
                show!(
                    "updates: {count}, from {} to {}",
                    local_time(first),
                    local_time(last)
                );
            }
            for person in history.participants(id)? {
                let left = person
                    .left_ms
                    .map(local_time)
                    .unwrap_or_else(|| "still there".into());
                show!(
                    "participant: {} ({:?}, {}) {} - {}",
                    person.name,
                    person.role,
                    person.peer,
                    local_time(person.joined_ms),
                    left
                );
            }
            if let Some(moment) = moment {
                let last = history
                    .span(id)?
                    .map_or(info.started_ms, |(_, last, _)| last);
                if moment >= last {
                    show!("files at the end ({}):", local_time(last));
                } else {
                    show!("files at {}:", local_time(moment));
                }
            }
            let names: std::collections::BTreeMap<_, _> = history
                .participants(id)?
                .into_iter()
                .map(|p| (p.peer, p.name))
                .collect();
            for (doc, files) in history.files_at(id, moment)? {
                let label = match doc {
                    DocId::Board => "board".to_owned(),
                    DocId::Workspace(owner) => format!(
                        "workspace of {}",
                        names
                            .get(&owner)
                            .cloned()
                            .unwrap_or_else(|| owner.to_string())
                    ),
                };
                for (path, text) in files {
                    show!("--- {label}: {path} ({} lines)", text.lines().count());
                    show_raw!("{text}");
                    if !text.is_empty() && !text.ends_with('\n') {
                        show!();
                    }
                }
            }
            let participants = history.participants(id)?;
            for run in history.runs(id)? {
                let by = match run.author {
                    Some(author) => participants
                        .iter()
                        .find(|p| p.peer == author)
                        .map_or_else(|| author.to_string(), |p| p.name.clone()),
                    None => "instructor".into(),
                };
                show!(
                    "run: {by} {} at {}: {}",
                    run.path,
                    local_time(run.started_ms),
                    run.outcome,
                );
                for line in run.output.lines() {
                    show!("  | {line}");
                }
            }
            for message in history.chat(id)? {
                show!(
                    "chat: {} {}: {}",
                    local_time(message.at_ms),
                    message.name,
                    message.text
                );
            }
        }
        SessionsCommand::Export {
            id,
            dir,
            zip,
            learner,
        } => {
            let id = SessionId(id);
            history.session(id)?;
            let only = match learner {
                None => None,
                Some(who) => {
                    let lower = who.to_lowercase();
                    let people = history.participants(id)?;
                    let mut matching: Vec<_> = people
                        .iter()
                        .filter(|p| {
                            p.name.to_lowercase() == lower || p.peer.to_string().starts_with(&lower)
                        })
                        .map(|p| p.peer)
                        .collect();
                    matching.dedup();
                    match matching.as_slice() {
                        [one] => Some(DocId::Workspace(*one)),
                        [] => anyhow::bail!("nobody called {who:?} took part in session {id}"),
                        _ => anyhow::bail!("{} people match {who:?}: use the start of their id (`sessions show {id}`)", matching.len()),
                    }
                }
            };
            let skipped = if zip {
                coderoom_history::export_zip(&history, id, only, &dir)
            } else {
                coderoom_history::export_folder(&history, id, only, &dir)
            }
            .with_context(|| format!("exporting session {id}"))?;
            for path in skipped {
                eprintln!("coderoom: skipped {path:?}: not a plain relative path");
            }
            show!("exported session {id} to {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
