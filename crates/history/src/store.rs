//! The database: opening it safely, and reading and writing each kind of record.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use coderoom_protocol::{DocId, JoinSecret, Participant, PeerId, Role, RoomId};
use coderoom_room::{files, Rules, Standing};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use yrs::Doc;

use crate::schema::{APPLICATION_ID, MIGRATIONS, VERSION};
use crate::HistoryError;

type Result<T> = std::result::Result<T, HistoryError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SessionId(pub i64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Whose record a session is: the hub's (the instructor's) or a learner's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    Hub,
    Learner,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Hub => "hub",
            Side::Learner => "learner",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub room: RoomId,
    pub title: String,
    pub side: Side,
    pub me: PeerId,
    /// Hub: the join secret, kept so the room can be hosted again with the same ticket.
    pub secret: Option<JoinSecret>,
    pub code: Option<String>,
    /// Hub: the socket it listens on; learner: the ticket it joined with.
    pub address: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: SessionId,
    pub room: RoomId,
    pub title: String,
    pub side: Side,
    pub me: PeerId,
    pub secret: Option<JoinSecret>,
    pub code: Option<String>,
    pub address: Option<String>,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub languages: Vec<String>,
}

/// A line of `sessions list`.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub info: SessionInfo,
    /// Names of everyone who took part, in order of first arrival.
    pub participants: Vec<String>,
    pub updates: u64,
    /// Time of the last update (or the start).
    pub last_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantRecord {
    pub peer: PeerId,
    pub name: String,
    pub colour: String,
    pub role: Role,
    pub joined_ms: i64,
    pub left_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub author: Option<PeerId>,
    pub doc: Option<DocId>,
    /// The file that was run.
    pub path: String,
    pub runtime: String,
    /// A hash of the files the run saw (to find the code again in the updates).
    pub files_hash: String,
    pub output: String,
    /// How it ended, as the runner words it.
    pub outcome: String,
    pub started_ms: i64,
    pub wall_ms: i64,
    pub cpu_ms: Option<i64>,
    pub peak_kib: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatRecord {
    pub author: PeerId,
    pub name: String,
    pub at_ms: i64,
    pub text: String,
}

/// How a document is named in the database: `board`, or `workspace-` and the owner's full id.
pub fn doc_key(doc: DocId) -> String {
    match doc {
        DocId::Board => "board".into(),
        DocId::Workspace(owner) => format!("workspace-{}", hex(&owner.0)),
    }
}

pub fn parse_doc_key(key: &str) -> Option<DocId> {
    if key == "board" {
        return Some(DocId::Board);
    }
    let owner = key.strip_prefix("workspace-")?;
    Some(DocId::Workspace(PeerId(unhex(owner)?)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Instructor => "instructor",
        Role::Learner => "learner",
        Role::Observer => "observer",
    }
}

fn parse_role(text: &str) -> Role {
    match text {
        "instructor" => Role::Instructor,
        "observer" => Role::Observer,
        _ => Role::Learner,
    }
}

fn fixed<const N: usize>(bytes: Vec<u8>) -> Option<[u8; N]> {
    bytes.try_into().ok()
}

/// The language of a file, from its name (for `sessions list`).
pub(crate) fn language_of(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "py" => "Python",
        "js" | "mjs" | "cjs" => "JavaScript",
        "cs" => "C#",
        "ts" => "TypeScript",
        "html" => "HTML",
        "css" => "CSS",
        "md" => "Markdown",
        _ => return None,
    })
}

/// The outcome of a run that has not ended yet.
pub const RUN_GOING: &str = "running";
/// The outcome of a run whose session stopped without its end (the hub crashed).
pub const RUN_CUT_SHORT: &str = "cut short: the session stopped during the run";

/// One history database file.
pub struct History {
    conn: Connection,
    path: PathBuf,
    /// The latest update time of each session written to: times never run backwards within a
    /// session (a clock stepped back by NTP would otherwise make "the state at a moment" skip
    /// updates), so a moment is a prefix of the log and replay stops at the first later update.
    latest_at: HashMap<i64, i64>,
    interned: Interned,
    checkpointer: Option<Checkpointer>,
}

/// Moves the WAL into the database from a thread of its own, so that no commit on the hub's
/// relay path pays for a checkpoint (SQLite's automatic one runs inside the commit that crosses
/// 1,000 pages, ~2.5 ms every few seconds of a busy class).
struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// How often the checkpointer moves the WAL into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Checkpointer {
    fn start(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("history-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    // PASSIVE never waits for the writer; what it cannot move now, it moves
                    // next time.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|source| HistoryError::Io {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self { stop, thread })
    }
}

impl Drop for History {
    fn drop(&mut self) {
        if let Some(checkpointer) = self.checkpointer.take() {
            let _ = checkpointer.stop.send(());
            let _ = checkpointer.thread.join();
        }
    }
}

/// Row ids of documents and peers already written, so an update costs one insert.
#[derive(Default)]
struct Interned {
    documents: HashMap<(i64, DocId), i64>,
    peers: HashMap<PeerId, i64>,
}

impl Interned {
    fn document(&mut self, conn: &Connection, session: SessionId, doc: DocId) -> Result<i64> {
        if let Some(id) = self.documents.get(&(session.0, doc)) {
            return Ok(*id);
        }
        let key = doc_key(doc);
        conn.prepare_cached("INSERT OR IGNORE INTO documents (session, key) VALUES (?1, ?2)")?
            .execute(params![session.0, key])?;
        let id = document_row(conn, session, doc)?.unwrap_or_default();
        self.documents.insert((session.0, doc), id);
        Ok(id)
    }

    fn peer(&mut self, conn: &Connection, peer: Option<PeerId>) -> Result<Option<i64>> {
        let Some(peer) = peer else {
            return Ok(None);
        };
        if let Some(id) = self.peers.get(&peer) {
            return Ok(Some(*id));
        }
        conn.prepare_cached("INSERT OR IGNORE INTO peers (peer) VALUES (?1)")?
            .execute([peer.0.to_vec()])?;
        let id = conn
            .prepare_cached("SELECT id FROM peers WHERE peer = ?1")?
            .query_row([peer.0.to_vec()], |row| row.get(0))?;
        self.peers.insert(peer, id);
        Ok(Some(id))
    }
}

/// The row of `doc` in `session`, if anything was ever written to it.
fn document_row(conn: &Connection, session: SessionId, doc: DocId) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM documents WHERE session = ?1 AND key = ?2")?
        .query_row(params![session.0, doc_key(doc)], |row| row.get(0))
        .optional()?)
}

/// The session's latest update time (`i64::MIN` before its first update).
fn latest_at(conn: &Connection, known: &HashMap<i64, i64>, id: SessionId) -> Result<i64> {
    match known.get(&id.0) {
        Some(latest) => Ok(*latest),
        None => Ok(conn.query_row(
            "SELECT coalesce(max(u.at_ms), ?2) FROM updates u JOIN documents d ON u.doc = d.id
             WHERE d.session = ?1",
            params![id.0, i64::MIN],
            |row| row.get(0),
        )?),
    }
}

impl History {
    /// Opens (or creates) the history at `path`. A file that is not a Coderoom history, is
    /// damaged, or comes from a newer version is refused before anything is written to it.
    pub fn open(path: &Path) -> Result<Self> {
        let exists = path.exists();
        if !exists {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| HistoryError::Io {
                    path: parent.to_owned(),
                    source,
                })?;
            }
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if !exists {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        // Only "not a database" and "damaged" say so; anything else (a folder where the file
        // should be, no permission, another program holding a lock) is named as it is.
        let corrupt = |error: rusqlite::Error| match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                HistoryError::Corrupt {
                    path: path.to_owned(),
                    detail: error.to_string(),
                }
            }
            _ => HistoryError::Unusable {
                path: path.to_owned(),
                detail: error.to_string(),
            },
        };
        let conn = Connection::open_with_flags(path, flags).map_err(corrupt)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(corrupt)?;
        // Reading the header and schema first: a file that is not a database (or a damaged
        // one) fails here, before the journal mode or any table is written.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(corrupt)?;
        let application: i64 = conn
            .query_row("PRAGMA application_id", [], |row| row.get(0))
            .map_err(corrupt)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .map_err(corrupt)?;
        if tables > 0 && application != APPLICATION_ID {
            return Err(HistoryError::Corrupt {
                path: path.to_owned(),
                detail: "an SQLite database of something else".into(),
            });
        }
        if version < 0 {
            return Err(HistoryError::Corrupt {
                path: path.to_owned(),
                detail: format!("history format {version}"),
            });
        }
        if version > VERSION {
            return Err(HistoryError::Newer {
                path: path.to_owned(),
                found: version,
                supported: VERSION,
            });
        }
        if tables > 0 {
            let check: String = conn
                .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
                .map_err(corrupt)?;
            if check != "ok" {
                return Err(HistoryError::Corrupt {
                    path: path.to_owned(),
                    detail: check,
                });
            }
        }
        // WAL with synchronous=NORMAL: a commit is in the log file (the OS has it) when it
        // returns, so a killed process loses nothing committed; a power cut may lose the last
        // commits but never corrupts the file.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        let mut history = Self {
            conn,
            path: path.to_owned(),
            latest_at: HashMap::new(),
            interned: Interned::default(),
            checkpointer: None,
        };
        history.migrate(version)?;
        Ok(history)
    }

    fn migrate(&mut self, from: i64) -> Result<()> {
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            let txn = self.conn.transaction()?;
            txn.execute_batch(migration)?;
            txn.pragma_update(None, "user_version", index as i64 + 1)?;
            txn.pragma_update(None, "application_id", APPLICATION_ID)?;
            txn.commit()?;
        }
        Ok(())
    }

    /// For a history being recorded into: checkpoints move to a thread of their own, out of
    /// the commits.
    pub fn checkpoint_in_background(&mut self) -> Result<()> {
        if self.checkpointer.is_none() {
            self.checkpointer = Some(Checkpointer::start(&self.path)?);
            self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    // ------------------------------------------------------------------ sessions

    pub fn begin_session(&mut self, session: &NewSession, started_ms: i64) -> Result<SessionId> {
        self.conn.execute(
            "INSERT INTO sessions (room, title, side, me, secret, code, address, started_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                session.room.0.as_slice(),
                session.title,
                session.side.as_str(),
                session.me.0.as_slice(),
                session.secret.map(|s| s.0.to_vec()),
                session.code,
                session.address,
                started_ms,
            ],
        )?;
        Ok(SessionId(self.conn.last_insert_rowid()))
    }

    /// Marks a session ended (hosting stopped or the learner left).
    pub fn end_session(&mut self, id: SessionId, ended_ms: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE sessions SET ended_ms = ?2 WHERE id = ?1",
            params![id.0, ended_ms],
        )?;
        Ok(())
    }

    /// Marks a session open again (hosted again after a stop or a crash).
    /// Opens a past session again to go on with it. `address` is where it listens now, and
    /// `ticket` the secret and code it is hosted with now (a new ticket replaces the old one, so
    /// the old stays revoked). Whatever the last run of the session left open, because it
    /// stopped without closing it (a crash), is closed at its last recorded moment.
    pub fn reopen_session(
        &mut self,
        id: SessionId,
        address: Option<&str>,
        ticket: Option<(JoinSecret, &str)>,
    ) -> Result<()> {
        self.session(id)?;
        let last = self
            .span(id)?
            .map_or(self.session(id)?.started_ms, |(_, last, _)| last);
        let txn = self.conn.transaction()?;
        txn.execute(
            "UPDATE sessions SET ended_ms = NULL, address = coalesce(?2, address) WHERE id = ?1",
            params![id.0, address],
        )?;
        if let Some((secret, code)) = ticket {
            txn.execute(
                "UPDATE sessions SET secret = ?2, code = ?3 WHERE id = ?1",
                params![id.0, secret.0.as_slice(), code],
            )?;
        }
        txn.execute(
            "UPDATE participants SET left_ms = max(joined_ms, ?2)
             WHERE session = ?1 AND left_ms IS NULL",
            params![id.0, last],
        )?;
        txn.execute(
            "UPDATE runs SET outcome = ?2 WHERE session = ?1 AND outcome = ?3",
            params![id.0, RUN_CUT_SHORT, RUN_GOING],
        )?;
        txn.commit()?;
        Ok(())
    }

    pub(crate) fn set_languages(&mut self, id: SessionId, languages: &[String]) -> Result<()> {
        self.conn.execute(
            "UPDATE sessions SET languages = ?2 WHERE id = ?1",
            params![id.0, languages.join(",")],
        )?;
        Ok(())
    }

    pub fn session(&self, id: SessionId) -> Result<SessionInfo> {
        self.conn
            .query_row(
                "SELECT id, room, title, side, me, secret, code, address, started_ms, ended_ms,
                        languages
                 FROM sessions WHERE id = ?1",
                [id.0],
                session_from_row,
            )
            .optional()?
            .ok_or(HistoryError::NoSession(id.0))
    }

    /// Every session, newest first.
    pub fn sessions(&self) -> Result<Vec<SessionSummary>> {
        let mut statement = self.conn.prepare(
            "SELECT id, room, title, side, me, secret, code, address, started_ms, ended_ms,
                    languages,
                    (SELECT count(*) FROM updates u JOIN documents d ON u.doc = d.id
                     WHERE d.session = s.id),
                    (SELECT max(u.at_ms) FROM updates u JOIN documents d ON u.doc = d.id
                     WHERE d.session = s.id)
             FROM sessions s ORDER BY started_ms DESC, id DESC",
        )?;
        let rows = statement.query_map([], |row| {
            let info = session_from_row(row)?;
            let updates: i64 = row.get(11)?;
            let last: Option<i64> = row.get(12)?;
            Ok((info, updates, last))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (info, updates, last) = row?;
            let participants = self.participant_names(info.id)?;
            let last_ms = last.unwrap_or(info.started_ms);
            out.push(SessionSummary {
                info,
                participants,
                updates: updates as u64,
                last_ms,
            });
        }
        Ok(out)
    }

    fn participant_names(&self, id: SessionId) -> Result<Vec<String>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT name FROM participants WHERE session = ?1
             GROUP BY peer ORDER BY min(joined_ms)",
        )?;
        let names = statement
            .query_map([id.0], |row| row.get(0))?
            .collect::<std::result::Result<Vec<String>, _>>()?;
        Ok(names)
    }

    // ------------------------------------------------------------------ participants

    pub fn joined(&mut self, id: SessionId, who: &Participant, at_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO participants (session, peer, name, colour, role, joined_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                id.0,
                who.id.0.as_slice(),
                who.name,
                who.colour,
                role_name(who.role),
                at_ms
            ])?;
        Ok(())
    }

    pub fn left(&mut self, id: SessionId, peer: PeerId, at_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE participants SET left_ms = ?3
                 WHERE rowid = (SELECT max(rowid) FROM participants
                                WHERE session = ?1 AND peer = ?2 AND left_ms IS NULL)",
            )?
            .execute(params![id.0, peer.0.as_slice(), at_ms])?;
        Ok(())
    }

    /// The instructor changed where `standing.peer` stands (role, removed).
    pub fn set_standing(&mut self, id: SessionId, standing: &Standing, at_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO standings (session, peer, role, removed, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                id.0,
                standing.peer.0.as_slice(),
                role_name(standing.role),
                standing.removed,
                at_ms
            ])?;
        Ok(())
    }

    /// The room's rules as the instructor last set them.
    pub fn set_rules(&mut self, id: SessionId, rules: &Rules, at_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO rules (session, approval_required, locked, pen, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                id.0,
                rules.approval_required,
                rules.locked,
                rules.pen.map(|p| p.0.to_vec()),
                at_ms
            ])?;
        Ok(())
    }

    /// The room's rules when it was last hosted (`None` if the instructor never changed them).
    pub fn rules(&self, id: SessionId) -> Result<Option<Rules>> {
        Ok(self
            .conn
            .query_row(
                "SELECT approval_required, locked, pen FROM rules WHERE session = ?1",
                [id.0],
                |row| {
                    Ok(Rules {
                        approval_required: row.get(0)?,
                        locked: row.get(1)?,
                        pen: row
                            .get::<_, Option<Vec<u8>>>(2)?
                            .and_then(fixed)
                            .map(PeerId),
                    })
                },
            )
            .optional()?)
    }

    /// Everyone who was in the room, as they last were (name, colour, role as joined or as
    /// the instructor then set it), and whether they were removed: what a room hosted again
    /// starts from.
    pub fn members(&self, id: SessionId) -> Result<Vec<(Participant, bool)>> {
        let mut latest: BTreeMap<PeerId, Participant> = BTreeMap::new();
        for stay in self.participants(id)? {
            latest.insert(
                stay.peer,
                Participant {
                    id: stay.peer,
                    name: stay.name,
                    colour: stay.colour,
                    role: stay.role,
                    online: false,
                },
            );
        }
        let mut statement = self
            .conn
            .prepare("SELECT peer, role, removed FROM standings WHERE session = ?1")?;
        let standings = statement
            .query_map([id.0], |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, bool>(2)?,
                ))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut removed = BTreeSet::new();
        for (peer, role, gone) in standings {
            let Some(peer) = fixed(peer).map(PeerId) else {
                continue;
            };
            if let Some(member) = latest.get_mut(&peer) {
                member.role = parse_role(&role);
            }
            if gone {
                removed.insert(peer);
            }
        }
        Ok(latest
            .into_values()
            .map(|member| {
                let gone = removed.contains(&member.id);
                (member, gone)
            })
            .collect())
    }

    /// Every stay in the room, in order of arrival.
    pub fn participants(&self, id: SessionId) -> Result<Vec<ParticipantRecord>> {
        let mut statement = self.conn.prepare(
            "SELECT peer, name, colour, role, joined_ms, left_ms FROM participants
             WHERE session = ?1 ORDER BY joined_ms, rowid",
        )?;
        let rows = statement.query_map([id.0], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, Option<i64>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (peer, name, colour, role, joined_ms, left_ms) = row?;
            if let Some(peer) = fixed(peer) {
                out.push(ParticipantRecord {
                    peer: PeerId(peer),
                    name,
                    colour,
                    role: parse_role(&role),
                    joined_ms,
                    left_ms,
                });
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------------ updates and snapshots

    /// Appends one update in a transaction of its own: durable when this returns.
    pub fn append_update(
        &mut self,
        id: SessionId,
        doc: DocId,
        author: Option<PeerId>,
        at_ms: i64,
        bytes: &[u8],
    ) -> Result<i64> {
        let at_ms = at_ms.max(latest_at(&self.conn, &self.latest_at, id)?);
        let doc = self.interned.document(&self.conn, id, doc)?;
        let author = self.interned.peer(&self.conn, author)?;
        let row = insert_update(&self.conn, doc, author, at_ms, bytes)?;
        self.latest_at.insert(id.0, at_ms);
        Ok(row)
    }

    /// Appends many updates in one transaction; returns their ids.
    pub fn append_updates(
        &mut self,
        id: SessionId,
        updates: &[(DocId, Option<PeerId>, i64, Vec<u8>)],
    ) -> Result<Vec<i64>> {
        let txn = self.conn.transaction()?;
        let written = (|| {
            let mut ids = Vec::with_capacity(updates.len());
            let mut latest = latest_at(&txn, &self.latest_at, id)?;
            for (doc, author, at_ms, bytes) in updates {
                latest = latest.max(*at_ms);
                let doc = self.interned.document(&txn, id, *doc)?;
                let author = self.interned.peer(&txn, *author)?;
                ids.push(insert_update(&txn, doc, author, latest, bytes)?);
            }
            Ok((ids, latest))
        })();
        let committed = written.and_then(|written| Ok(txn.commit().map(|()| written)?));
        match committed {
            Ok((ids, latest)) => {
                self.latest_at.insert(id.0, latest);
                Ok(ids)
            }
            Err(error) => {
                // Rows made in the rolled-back transaction are gone: forget their ids.
                self.interned = Interned::default();
                Err(error)
            }
        }
    }

    /// Stores the state of `doc` after update `upto` (a reset: a state that replaces all
    /// before it). Its time is never before the session's latest update.
    pub fn put_snapshot(
        &mut self,
        id: SessionId,
        doc: DocId,
        upto: i64,
        at_ms: i64,
        state: &[u8],
        reset: bool,
    ) -> Result<()> {
        // Not before the updates it holds, as they are kept in time order.
        let at_ms = at_ms.max(latest_at(&self.conn, &self.latest_at, id)?);
        let doc = self.interned.document(&self.conn, id, doc)?;
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO snapshots (doc, upto, at_ms, reset, state)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![doc, upto, at_ms, reset, state])?;
        Ok(())
    }

    /// The id of the newest update in the database (0 when none).
    pub fn last_update_id(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM updates", [], |row| {
                row.get(0)
            })?)
    }

    /// The documents a session has history for.
    pub fn documents(&self, id: SessionId) -> Result<Vec<DocId>> {
        let mut statement = self
            .conn
            .prepare("SELECT key FROM documents WHERE session = ?1")?;
        let keys = statement
            .query_map([id.0], |row| row.get::<_, String>(0))?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut docs: Vec<DocId> = keys.iter().filter_map(|k| parse_doc_key(k)).collect();
        docs.sort();
        Ok(docs)
    }

    /// First and last update times of a session (the time slider's ends), and how many.
    pub fn span(&self, id: SessionId) -> Result<Option<(i64, i64, u64)>> {
        let (first, last, count): (Option<i64>, Option<i64>, i64) = self.conn.query_row(
            "SELECT min(u.at_ms), max(u.at_ms), count(*) FROM updates u
             JOIN documents d ON u.doc = d.id WHERE d.session = ?1",
            [id.0],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        Ok(first.zip(last).map(|(f, l)| (f, l, count as u64)))
    }

    /// The document as it was at `at_ms` (the latest state when `None`): the newest snapshot
    /// not after that moment, and the updates made after it up to the moment.
    pub fn state_at(&self, id: SessionId, doc: DocId, at_ms: Option<i64>) -> Result<Doc> {
        let key = doc_key(doc);
        let moment = at_ms.unwrap_or(i64::MAX);
        let replayed = coderoom_room::files::new_doc(1);
        let Some(row) = document_row(&self.conn, id, doc)? else {
            return Ok(replayed);
        };
        let snapshot: Option<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT upto, state FROM snapshots WHERE doc = ?1 AND at_ms <= ?2
                 ORDER BY upto DESC, reset DESC LIMIT 1",
            )?
            .query_row(params![row, moment], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let bad = |detail: String| HistoryError::BadUpdate {
            session: id.0,
            doc: key.clone(),
            detail,
        };
        let from = match snapshot {
            Some((upto, state)) => {
                files::apply_local(&replayed, &state).map_err(|e| bad(e.to_string()))?;
                upto
            }
            None => 0,
        };
        let mut statement = self.conn.prepare_cached(
            "SELECT at_ms, bytes FROM updates WHERE doc = ?1 AND id > ?2 ORDER BY id",
        )?;
        let mut rows = statement.query(params![row, from])?;
        // Applied in one transaction: yrs integrates a run of updates far faster that way.
        {
            use yrs::Transact;
            let mut txn = replayed.transact_mut();
            while let Some(row) = rows.next()? {
                let at: i64 = row.get(0)?;
                if at > moment {
                    break;
                }
                let bytes: Vec<u8> = row.get(1)?;
                let update = files::decode_local(&bytes).map_err(|e| bad(e.to_string()))?;
                txn.apply_update(update)
                    .map_err(|error| bad(error.to_string()))?;
            }
        }
        Ok(replayed)
    }

    /// Every document's files at `at_ms` (latest when `None`).
    pub fn files_at(
        &self,
        id: SessionId,
        at_ms: Option<i64>,
    ) -> Result<Vec<(DocId, BTreeMap<String, String>)>> {
        self.session(id)?;
        let mut out = Vec::new();
        for doc in self.documents(id)? {
            let state = self.state_at(id, doc, at_ms)?;
            out.push((doc, coderoom_room::files::read_all(&state)));
        }
        Ok(out)
    }

    // ------------------------------------------------------------------ runs and chat

    pub fn record_run(&mut self, id: SessionId, run: &RunRecord) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (session, author, doc, path, runtime, files_hash, output, outcome,
                               started_ms, wall_ms, cpu_ms, peak_kib)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                id.0,
                run.author.map(|a| a.0.to_vec()),
                run.doc.map(doc_key),
                run.path,
                run.runtime,
                run.files_hash,
                run.output,
                run.outcome,
                run.started_ms,
                run.wall_ms,
                run.cpu_ms,
                run.peak_kib
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Rewrites run `row` (made by [`History::record_run`]) as it now stands.
    pub fn update_run(&mut self, row: i64, run: &RunRecord) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE runs SET output = ?2, outcome = ?3, wall_ms = ?4, cpu_ms = ?5,
                                 peak_kib = ?6
                 WHERE id = ?1",
            )?
            .execute(params![
                row,
                run.output,
                run.outcome,
                run.wall_ms,
                run.cpu_ms,
                run.peak_kib
            ])?;
        Ok(())
    }

    pub fn runs(&self, id: SessionId) -> Result<Vec<RunRecord>> {
        let mut statement = self.conn.prepare(
            "SELECT author, doc, path, runtime, files_hash, output, outcome, started_ms, wall_ms,
                    cpu_ms, peak_kib
             FROM runs WHERE session = ?1 ORDER BY started_ms, id",
        )?;
        let rows = statement.query_map([id.0], |row| {
            Ok(RunRecord {
                author: row
                    .get::<_, Option<Vec<u8>>>(0)?
                    .and_then(fixed)
                    .map(PeerId),
                doc: row
                    .get::<_, Option<String>>(1)?
                    .and_then(|k| parse_doc_key(&k)),
                path: row.get(2)?,
                runtime: row.get(3)?,
                files_hash: row.get(4)?,
                output: row.get(5)?,
                outcome: row.get(6)?,
                started_ms: row.get(7)?,
                wall_ms: row.get(8)?,
                cpu_ms: row.get(9)?,
                peak_kib: row.get(10)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn record_chat(&mut self, id: SessionId, message: &ChatRecord) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO chat (session, author, name, at_ms, text) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id.0,
                message.author.0.as_slice(),
                message.name,
                message.at_ms,
                message.text
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn chat(&self, id: SessionId) -> Result<Vec<ChatRecord>> {
        let mut statement = self.conn.prepare(
            "SELECT author, name, at_ms, text FROM chat WHERE session = ?1 ORDER BY at_ms, id",
        )?;
        let rows = statement.query_map([id.0], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (author, name, at_ms, text) = row?;
            if let Some(author) = fixed(author) {
                out.push(ChatRecord {
                    author: PeerId(author),
                    name,
                    at_ms,
                    text,
                });
            }
        }
        Ok(out)
    }
}

/// One update row, by its document's and author's row ids.
fn insert_update(
    conn: &Connection,
    doc: i64,
    author: Option<i64>,
    at_ms: i64,
    bytes: &[u8],
) -> Result<i64> {
    conn.prepare_cached("INSERT INTO updates (doc, author, at_ms, bytes) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![doc, author, at_ms, bytes])?;
    Ok(conn.last_insert_rowid())
}

fn session_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionInfo> {
    let side: String = row.get(3)?;
    let languages: String = row.get(10)?;
    Ok(SessionInfo {
        id: SessionId(row.get(0)?),
        room: RoomId(fixed(row.get(1)?).unwrap_or_default()),
        title: row.get(2)?,
        side: if side == "learner" {
            Side::Learner
        } else {
            Side::Hub
        },
        me: PeerId(fixed(row.get(4)?).unwrap_or_default()),
        secret: row
            .get::<_, Option<Vec<u8>>>(5)?
            .and_then(fixed)
            .map(JoinSecret),
        code: row.get(6)?,
        address: row.get(7)?,
        started_ms: row.get(8)?,
        ended_ms: row.get(9)?,
        languages: languages
            .split(',')
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}
