//! `host` and `join`: a room from a terminal, for tests, benchmarks, classroom simulations and
//! machines without a screen.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use coderoom_classroom::hosting::{host as host_class, HostPlan};
use coderoom_classroom::words::{self, describe, name_of, role_name};
use coderoom_classroom::{joining, running};
use coderoom_history::SessionId;
use coderoom_protocol::{Control, DocId, RunReport, RunStep, Ticket};
use coderoom_room::files;
use coderoom_room::net::{self, Hub, HubReport, Peer, PeerReport};

#[derive(clap::Args)]
pub struct HostArgs {
    /// The room's title, shown to learners.
    #[arg(long, default_value = "Coderoom class")]
    title: String,
    /// Address to listen on (all interfaces by default; `127.0.0.1:0` for one machine).
    #[arg(long, default_value = "0.0.0.0:0")]
    bind: SocketAddr,
    /// Ask the instructor (this terminal) to approve each newcomer: type `approve NAME`.
    /// Other commands on stdin: deny, remove, lock, unlock, pen NAME|off, observer NAME,
    /// learner NAME, lecture on|off, chat on|off (learners' chat), who, say TEXT (chat).
    #[arg(long)]
    approve: bool,
    /// Files to put on the board at the start.
    #[arg(long = "board", value_name = "FILE")]
    board: Vec<PathBuf>,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long = "for", value_name = "SECONDS")]
    run_for: Option<u64>,
    /// Write every document as files here when stopping.
    #[arg(long, value_name = "DIR")]
    dump: Option<PathBuf>,
    /// Do not announce the room on the local network (tickets still work).
    #[arg(long)]
    no_lan: bool,
    /// Host a past session again (`sessions list`), from where it was: the same room, ticket
    /// and port when free, so its learners reconnect by themselves.
    #[arg(long, value_name = "SESSION")]
    resume: Option<i64>,
    /// With --resume: a new join secret, so the old ticket no longer works.
    #[arg(long, requires = "resume")]
    new_ticket: bool,
    /// Keep no history of this session.
    #[arg(long, conflicts_with = "resume")]
    no_history: bool,
}

#[derive(clap::Args)]
pub struct NearbyArgs {
    /// How long to listen for rooms, in seconds.
    #[arg(long, default_value_t = 3)]
    wait: u64,
    #[arg(long, default_value = "0.0.0.0:0")]
    bind: SocketAddr,
}

#[derive(clap::Args)]
pub struct JoinArgs {
    /// The ticket the instructor shared (`coderoom…`); or use --code for a room nearby.
    #[arg(required_unless_present = "code")]
    ticket: Option<String>,
    /// The short code the instructor reads out, for a room found on the local network.
    #[arg(long, conflicts_with = "ticket")]
    code: Option<String>,
    /// With --code, when several rooms are nearby: the start of the hub id `nearby` lists.
    #[arg(long)]
    hub: Option<String>,
    #[arg(long)]
    name: String,
    #[arg(long, default_value = "#3b82f6")]
    colour: String,
    #[arg(long, default_value = "0.0.0.0:0")]
    bind: SocketAddr,
    /// Type this file's text into the workspace (as a file of the same name).
    #[arg(long = "type", value_name = "FILE")]
    type_file: Option<PathBuf>,
    /// Characters a second when typing.
    #[arg(long, default_value_t = 4.0)]
    rate: f64,
    /// Write every document this peer holds as files here when it exits.
    #[arg(long, value_name = "DIR")]
    dump: Option<PathBuf>,
    /// Leave after this many seconds (after typing, if typing; default: until Ctrl-C).
    #[arg(long = "for", value_name = "SECONDS")]
    run_for: Option<u64>,
    /// Type into the board instead of the workspace, once the instructor gives this peer the pen.
    #[arg(long, requires = "type_file")]
    board: bool,
    /// Keep no local history of this session.
    #[arg(long)]
    no_history: bool,
    /// Write this in the room's chat once joined.
    #[arg(long, value_name = "TEXT")]
    say: Option<String>,
    /// Run this file of the workspace once joined (after typing, if typing): it runs here, and
    /// its output is shown in the room and kept in the session's history.
    #[arg(long, value_name = "FILE_NAME")]
    run: Option<String>,
}

/// Prints a line (peers' text made safe for a terminal); a closed stdout (`host | head`) must
/// not take the room down with it.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // A peer's text cannot start a line of its own: its new lines are indented.
        let _ = writeln!(out, "{}", crate::printable(&format!($($arg)*)).replace('\n', "\n    "));
        let _ = out.flush();
    }};
}

/// Runs `work` to its end on a fresh runtime.
fn run_async<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(work);
    // A read of the terminal may still be blocked in its thread: exit without waiting for it.
    runtime.shutdown_background();
    result
}

/// Waits for Ctrl-C, or `seconds` when given (whichever comes first).
async fn stop_signal(seconds: Option<u64>) {
    let timer = async {
        match seconds {
            Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = timer => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn doc_dir(doc: DocId) -> String {
    match doc {
        DocId::Board => "board".into(),
        DocId::Workspace(owner) => format!("workspace-{owner}"),
    }
}

/// Writes documents as folders of files, refusing paths that would leave `dir`.
fn dump(
    dir: &Path,
    documents: &[(DocId, std::collections::BTreeMap<String, String>)],
) -> anyhow::Result<()> {
    for (doc, files) in documents {
        for path in coderoom_history::write_files(&dir.join(doc_dir(*doc)), files)? {
            eprintln!("coderoom: skipped {path:?}: not a plain relative path");
        }
    }
    Ok(())
}

pub fn host(args: HostArgs) -> anyhow::Result<ExitCode> {
    run_async(async move {
        let hosting = host_class(&HostPlan {
            title: args.title.clone(),
            instructor_name: "Instructor".into(),
            bind: args.bind,
            resume: args.resume.map(SessionId),
            new_ticket: args.new_ticket,
            keep_history: !args.no_history,
            announce: !args.no_lan,
        })
        .await?;
        for note in &hosting.notes {
            eprintln!("coderoom: {note}");
        }
        let hub = hosting.hub;
        let session = hosting.session;
        let code = hub.settings().code.clone();
        let title = hub.settings().title.clone();
        if args.approve {
            hub.control(Control::RequireApproval(true)).await;
        }
        for path in &args.board {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("main.py")
                .to_owned();
            hub.edit(DocId::Board, move |doc| files::insert(doc, &name, 0, &text))
                .await;
        }
        say!("ticket: {}", hub.ticket());
        say!("code: {code}");
        say!("room: {title}");
        if let Some(session) = session {
            say!("session: {session}");
        }
        use std::io::Write;
        std::io::stdout().flush()?;
        let reports = async {
            while let Some(report) = hub.next_report().await {
                match report {
                    HubReport::JoinRequest(who) => {
                        say!(
                            "waiting: {} wants to join (type `approve {}` or `deny {}`)",
                            who.name,
                            who.name,
                            who.name
                        );
                        if !args.approve {
                            hub.control(Control::Approve(who.id)).await;
                        }
                    }
                    HubReport::PeerDropped { peer, reason } => {
                        let people = hub.participants().await;
                        say!("dropped: {}: {reason}", name_of(&people, peer))
                    }
                    // The terminal prints who is online every half second instead.
                    HubReport::Changed(_)
                    | HubReport::Participants(_)
                    | HubReport::Presence(_)
                    | HubReport::Rules(_) => {}
                    HubReport::Hands(hands) => {
                        let people = hub.participants().await;
                        let names: Vec<String> =
                            hands.iter().map(|h| name_of(&people, *h)).collect();
                        say!(
                            "hands: {}",
                            if names.is_empty() {
                                "none".to_owned()
                            } else {
                                names.join(", ")
                            }
                        );
                    }
                    HubReport::HistoryFailed(reason) => {
                        eprintln!("coderoom: history is not being saved: {reason}")
                    }
                    HubReport::Chat(line) => say!("chat: {}: {}", line.name, line.text),
                    HubReport::Run(report) => {
                        let names = hub.participants().await;
                        print_run(&report, &names);
                    }
                    HubReport::CodeJoinsPaused { wrong_codes } => say!(
                        "paused: {wrong_codes} wrong room codes in a minute, so joining with the \
                         code is paused (the ticket still works); type `allow-code` to allow it \
                         again, `code-approval on` to approve each code join"
                    ),
                }
            }
        };
        let commands = async {
            use tokio::io::AsyncBufReadExt;
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim() == "end class" {
                    return true;
                }
                match instructor_command(&hub, line.trim()).await {
                    Ok(done) => say!("ok: {done}"),
                    Err(problem) => say!("? {problem}"),
                }
            }
            // Stdin closed (a script, a service): keep hosting.
            std::future::pending::<bool>().await
        };
        let participants = async {
            let mut last = Vec::new();
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let now = hub.online().await;
                if now != last {
                    say!("online: {} [{}]", now.len(), now.join(", "));
                    let _ = std::io::stdout().flush();
                    last = now;
                }
            }
        };
        let ended = tokio::select! {
            _ = stop_signal(args.run_for) => false,
            _ = reports => false,
            _ = participants => false,
            ended = commands => ended,
        };
        if let Some(dir) = &args.dump {
            dump(dir, &hub.documents().await)?;
        }
        // Ending the class tells everyone and they stop; leaving otherwise (Ctrl-C) is going
        // away for a while: learners wait and rejoin when the room is hosted again.
        let closed = if ended {
            say!("ok: the class has ended");
            hub.end().await
        } else {
            hub.close().await
        };
        if let Err(reason) = closed {
            eprintln!("coderoom: the session's history could not be finished: {reason}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// One line typed by the instructor at the `host` terminal.
async fn instructor_command(hub: &Hub, line: &str) -> Result<String, String> {
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let find = |who: &str| {
        let who = who.to_lowercase();
        async move {
            let everyone = hub.participants().await;
            let matching: Vec<_> = everyone
                .into_iter()
                .filter(|p| p.name.to_lowercase() == who || p.id.to_string().starts_with(&who))
                .collect();
            match matching.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(format!("nobody called {who:?} (type `who`)")),
                _ => Err(format!(
                    "{} people match {who:?}: use the id `who` shows",
                    matching.len()
                )),
            }
        }
    };
    let control = match (verb, rest) {
        ("say", "") => return Err("say what? (`say TEXT`)".into()),
        ("say", text) => {
            hub.say(text).await;
            return Ok("said".into());
        }
        ("who", _) => {
            let list: Vec<String> = hub
                .participants()
                .await
                .into_iter()
                .map(|p| format!("{} ({}{})", p.name, role_name(p.role), if p.online { "" } else { ", offline" }))
                .collect();
            return Ok(if list.is_empty() { "nobody yet".into() } else { list.join("; ") });
        }
        ("approve", who) => Control::Approve(find(who).await?.id),
        ("deny", who) => Control::Deny(find(who).await?.id),
        ("remove", who) => Control::Remove(find(who).await?.id),
        ("observer", who) => Control::SetRole(find(who).await?.id, coderoom_protocol::Role::Observer),
        ("learner", who) => Control::SetRole(find(who).await?.id, coderoom_protocol::Role::Learner),
        ("lock", _) => Control::Lock(true),
        ("unlock", _) => Control::Lock(false),
        ("pen", "off") => Control::GivePen(None),
        ("pen", who) => Control::GivePen(Some(find(who).await?.id)),
        ("lecture", "on") => Control::Follow { leader: Some(hub.settings().instructor), binding: true },
        ("lecture", "off") => Control::Follow { leader: None, binding: false },
        ("end", _) => return Err("type `end class` to end the class for everyone".into()),
        ("allow-code", _) => Control::AllowCodeJoins,
        ("code-approval", "on") => Control::CodeJoinsNeedApproval(true),
        ("code-approval", "off") => Control::CodeJoinsNeedApproval(false),
        ("chat", "on") => Control::LearnersChat(true),
        ("chat", "off") => Control::LearnersChat(false),
        ("", _) => return Err("type a command: who, approve, deny, remove, lock, unlock, pen, observer, learner, lecture, chat on|off, allow-code, code-approval, end class".into()),
        (other, _) => return Err(format!("unknown command {other:?}")),
    };
    let done = describe(&control, &hub.participants().await);
    hub.control(control).await;
    Ok(done)
}

pub fn nearby(args: NearbyArgs) -> anyhow::Result<ExitCode> {
    run_async(async move {
        let rooms = net::nearby_rooms(args.bind, Duration::from_secs(args.wait)).await?;
        if rooms.is_empty() {
            say!("no rooms found nearby (some Wi-Fi networks block the multicast this needs: ask for the ticket instead)");
        }
        for room in rooms {
            say!("{}  {}", room.hub.fmt_short(), room.title);
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn join(args: JoinArgs) -> anyhow::Result<ExitCode> {
    let ticket: Option<Ticket> = args.ticket.as_deref().map(str::parse).transpose()?;
    run_async(async move {
        let peer = match (&ticket, &args.code) {
            (Some(ticket), _) => {
                // Back in a room this learner was in: their workspace as their own history
                // last had it comes along (edits made while the hub was away included).
                let (peer, resumed) = joining::join_with_ticket(
                    ticket,
                    args.bind,
                    (args.name.clone(), args.colour.clone()),
                    !args.no_history,
                )
                .await?;
                if resumed {
                    say!("resuming: your workspace from your last time in this room");
                }
                peer
            }
            (None, Some(code)) => {
                let rooms = net::nearby_rooms(args.bind, Duration::from_secs(3)).await?;
                let mut matching: Vec<_> = rooms
                    .into_iter()
                    .filter(|room| {
                        args.hub
                            .as_deref()
                            .is_none_or(|prefix| room.hub.to_string().starts_with(prefix))
                    })
                    .collect();
                let room = match matching.len() {
                    0 => anyhow::bail!("no room found nearby: ask for the ticket (some networks block the multicast nearby rooms need)"),
                    1 => matching.remove(0),
                    _ => anyhow::bail!(
                        "{} rooms nearby: pick one with --hub (see `coderoom-cli nearby`)",
                        matching.len()
                    ),
                };
                say!("found: {} ({})", room.title, room.hub.fmt_short());
                joining::join_nearby(
                    &room,
                    code,
                    args.bind,
                    (args.name.clone(), args.colour.clone()),
                )
                .await?
            }
            (None, None) => anyhow::bail!("give a ticket, or --code for a room nearby"),
        };
        let to_type = match &args.type_file {
            Some(path) => Some((
                path.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("main.py")
                    .to_owned(),
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            )),
            None => None,
        };
        let mut refused = None;
        let mut last_disconnect: Option<String> = None;
        let mut learner_session: Option<SessionId> = None;
        let session = async {
            // Typing starts once joined; reports are printed as they come.
            let mut typing: Option<
                std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>,
            > = None;
            let mut typed_all = to_type.is_none();
            let mut said = args.say.clone();
            let mut to_run = args.run.clone();
            let mut people: Vec<coderoom_protocol::Participant> = Vec::new();
            let mut pen_holder: Option<coderoom_protocol::PeerId> = None;
            loop {
                tokio::select! {
                    report = peer.next_report() => match report {
                        // The peer stopped for good: the hub refused it (the last reason says why).
                        None => {
                            refused = last_disconnect.take().or(Some("the room is gone".into()));
                            return;
                        }
                        Some(PeerReport::Joined { role, title }) => {
                            say!("joined: {title} as {}", role_name(role));
                            if !args.no_history && learner_session.is_none() {
                                match joining::keep_learner_history(&peer, &title, ticket.as_ref()) {
                                    Ok(id) => {
                                        say!("session: {id}");
                                        learner_session = Some(id);
                                    }
                                    Err(error) => eprintln!("coderoom: no local history: {error:#}"),
                                }
                            }
                            // Typing into the board waits for the pen.
                            if let (Some((name, text)), None, false) = (&to_type, &typing, args.board) {
                                typing = Some(Box::pin(type_text(&peer, peer.workspace(), name.clone(), text.clone(), args.rate)));
                            }
                            if let Some(text) = said.take() {
                                if let Err(error) = peer.say(&text).await {
                                    eprintln!("coderoom: {error}");
                                }
                            }
                            if to_type.is_none() {
                                if let Some(file) = to_run.take() {
                                    run_in_room(&peer, &file).await;
                                }
                            }
                        }
                        Some(PeerReport::Chat(line)) => say!("chat: {}: {}", line.name, line.text),
                        Some(PeerReport::ChatDropped(reason)) => say!("chat not sent: {reason}"),
                        Some(PeerReport::Run(report)) => print_run(&report, &people),
                        Some(PeerReport::Disconnected(reason)) => {
                            say!("disconnected: {reason}");
                            last_disconnect = Some(reason);
                        }
                        Some(PeerReport::Refused(reason)) => {
                            refused = Some(reason);
                            return;
                        }
                        Some(PeerReport::Waiting) => say!("waiting for the instructor to let you in"),
                        Some(PeerReport::HistoryFailed(reason)) => eprintln!("coderoom: local history is not being saved: {reason}"),
                        Some(PeerReport::Changed(doc)) => say!("changed: {}", doc_dir(doc)),
                        Some(PeerReport::EditRefused { doc, reason }) => say!("refused: {}: {reason}", doc_dir(doc)),
                        Some(PeerReport::Participants(list)) => {
                            say!("online: {}", list.iter().filter(|p| p.online).count());
                            people = list;
                        }
                        Some(PeerReport::RoleChanged(role)) => say!("role: {}", words::role_message(role)),
                        Some(PeerReport::Pen(holder)) => {
                            let had_it = pen_holder == Some(peer.id());
                            pen_holder = holder;
                            say!("pen: {}", words::pen_message(holder, peer.id(), had_it, &people));
                            if let (Some((name, text)), None, true) = (&to_type, &typing, args.board && holder == Some(peer.id())) {
                                typing = Some(Box::pin(type_text(&peer, DocId::Board, name.clone(), text.clone(), args.rate)));
                            }
                        }
                        Some(PeerReport::Follow { leader, binding }) => say!("follow: {}", words::follow_message(leader, binding, &people)),
                        Some(PeerReport::Hands(hands)) => say!("hands: {}", hands.len()),
                        Some(PeerReport::ChatAllowed(on)) => say!("chat: {}", if on { "the instructor turned the chat back on" } else { "the instructor turned the chat off for now" }),
                        Some(PeerReport::Retrying(after)) => say!("retrying: in {} ms", after.as_millis()),
                        Some(PeerReport::Presence(changes)) => {
                            for (_, state) in changes {
                                match state {
                                    Some(p) => say!("presence: {} in {} at {:?}", p.name, p.file.unwrap_or_default(), p.cursor),
                                    None => say!("presence: someone left"),
                                }
                            }
                        }
                    },
                    _ = async { match typing.as_mut() { Some(t) => t.await, None => std::future::pending().await } }, if !typed_all => {
                        typed_all = true;
                        say!("typed: done");
                        if let Some(file) = to_run.take() {
                            run_in_room(&peer, &file).await;
                        }
                        if let Some(seconds) = args.run_for {
                            tokio::time::sleep(Duration::from_secs(seconds)).await;
                            return;
                        }
                    }
                }
            }
        };
        let typing_first = to_type.is_some();
        tokio::select! {
            _ = session => {}
            _ = stop_signal(if typing_first { None } else { args.run_for }) => {}
        }
        if let Some(dir) = &args.dump {
            dump(dir, &peer.documents().await)?;
        }
        if peer.has_unsent_edits() {
            eprintln!(
                "coderoom: some of your edits have not reached the instructor's laptop yet: they \
                 are kept in your history and sent when you join this room again"
            );
        }
        if let Err(reason) = peer.close().await {
            eprintln!("coderoom: your history of this session could not be finished: {reason}");
        }
        let ended = coderoom_protocol::Refusal::ClassEnded.to_string();
        match refused {
            Some(reason) if reason == ended => {
                say!("ended: {reason}");
                Ok(ExitCode::SUCCESS)
            }
            Some(reason) => {
                eprintln!("coderoom-cli: {reason}");
                Ok(ExitCode::from(1))
            }
            None => Ok(ExitCode::SUCCESS),
        }
    })
}

/// Prints a step of someone's run: `run: Ada: main.py (python)`, their output as `Ada| line`,
/// and `run: Ada: exited with 0 …`.
fn print_run(report: &RunReport, people: &[coderoom_protocol::Participant]) {
    let name = people
        .iter()
        .find(|p| p.id == report.by)
        .map_or_else(|| report.by.to_string(), |p| p.name.clone());
    match &report.step {
        RunStep::Started { path, runtime, .. } => say!("run: {name}: {path} ({runtime})"),
        RunStep::Output { text, .. } => {
            for line in text.lines() {
                say!("{name}| {line}");
            }
        }
        RunStep::Ended { outcome, .. } => say!("run: {name}: {outcome}"),
    }
}

/// Runs `file` of this learner's workspace here, in the sandbox, printing its output and
/// reporting each step to the room (and to the learner's own history).
async fn run_in_room(peer: &Peer, file: &str) {
    let files = peer.files(peer.workspace()).await.unwrap_or_default();
    let runs = std::sync::Arc::new(running::Runs::default());
    let (steps, mut steps_out) = tokio::sync::mpsc::unbounded_channel();
    if let Err(error) = running::start(&runs, peer.workspace(), files, file, steps) {
        eprintln!("coderoom: cannot run {file}: {error}");
        return;
    }
    // Steps come in order: printed here, and sent to the room (which relays and records them).
    while let Some((run, step)) = steps_out.recv().await {
        match &step {
            RunStep::Output { text, .. } => say!("{}", text.trim_end_matches('\n')),
            RunStep::Ended {
                outcome, wall_ms, ..
            } => say!("run: {outcome} in {wall_ms} ms"),
            RunStep::Started { .. } => {}
        }
        let ended = matches!(step, RunStep::Ended { .. });
        peer.report_run(run, step).await;
        if ended {
            break;
        }
    }
}

async fn type_text(peer: &Peer, doc: DocId, file: String, text: String, rate: f64) {
    let pause = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let mut offset = 0u32;
    for character in text.chars() {
        let file = file.clone();
        let at = offset;
        peer.edit(doc, move |d| {
            files::insert(d, &file, at, &character.to_string())
        })
        .await;
        offset += character.len_utf16() as u32;
        tokio::time::sleep(pause).await;
    }
}
