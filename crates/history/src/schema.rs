//! The schema, one migration per version; `PRAGMA user_version` says which have run.

/// `PRAGMA application_id`: marks the file as Coderoom's ("CRHS").
pub(crate) const APPLICATION_ID: i64 = 0x4352_4853;

/// Migration `i` takes the database from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        room BLOB NOT NULL,
        title TEXT NOT NULL,
        side TEXT NOT NULL,          -- 'hub' or 'learner'
        me BLOB NOT NULL,            -- this install's peer id
        secret BLOB,                 -- hub: the join secret (to host the room again)
        code TEXT,                   -- hub: the short code
        address TEXT,                -- hub: the socket it listened on; learner: the ticket
        started_ms INTEGER NOT NULL,
        ended_ms INTEGER,
        languages TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE participants (
        session INTEGER NOT NULL REFERENCES sessions(id),
        peer BLOB NOT NULL,
        name TEXT NOT NULL,
        colour TEXT NOT NULL,
        role TEXT NOT NULL,
        joined_ms INTEGER NOT NULL,
        left_ms INTEGER
    );
    CREATE INDEX participants_by_session ON participants(session, peer);
    CREATE TABLE updates (
        id INTEGER PRIMARY KEY,
        session INTEGER NOT NULL REFERENCES sessions(id),
        doc TEXT NOT NULL,
        author BLOB,
        at_ms INTEGER NOT NULL,
        bytes BLOB NOT NULL
    );
    CREATE INDEX updates_by_doc ON updates(session, doc, id);
    CREATE INDEX updates_by_time ON updates(session, doc, at_ms);
    -- The state of `doc` after update `upto` (or, when `reset`, a state that replaces all
    -- before it: a learner's replica started again from the hub's).
    CREATE TABLE snapshots (
        session INTEGER NOT NULL REFERENCES sessions(id),
        doc TEXT NOT NULL,
        upto INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        reset INTEGER NOT NULL DEFAULT 0,
        state BLOB NOT NULL,
        PRIMARY KEY (session, doc, upto, reset)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        session INTEGER NOT NULL REFERENCES sessions(id),
        author BLOB,
        doc TEXT,
        path TEXT NOT NULL,
        runtime TEXT NOT NULL,
        files_hash TEXT NOT NULL,
        output TEXT NOT NULL,
        outcome TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        wall_ms INTEGER NOT NULL,
        cpu_ms INTEGER,
        peak_kib INTEGER
    );
    CREATE TABLE chat (
        id INTEGER PRIMARY KEY,
        session INTEGER NOT NULL REFERENCES sessions(id),
        author BLOB NOT NULL,
        name TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        text TEXT NOT NULL
    );
    ",
    // 2: documents and authors interned, so each update row holds small integers instead of a
    //    74-character document key and a 32-byte peer id, twice more in its indexes (an hour of
    //    a 30-learner class went from 345 to about 60 bytes an update); times are read in id
    //    order now, so their index goes.
    "
    CREATE TABLE documents (
        id INTEGER PRIMARY KEY,
        session INTEGER NOT NULL REFERENCES sessions(id),
        key TEXT NOT NULL,           -- 'board' or 'workspace-<peer id hex>'
        UNIQUE (session, key)
    );
    CREATE TABLE peers (
        id INTEGER PRIMARY KEY,
        peer BLOB NOT NULL UNIQUE
    );
    INSERT OR IGNORE INTO documents (session, key)
        SELECT session, doc FROM updates UNION SELECT session, doc FROM snapshots;
    INSERT OR IGNORE INTO peers (peer)
        SELECT DISTINCT author FROM updates WHERE author IS NOT NULL;
    CREATE TABLE updates_v2 (
        id INTEGER PRIMARY KEY,
        doc INTEGER NOT NULL REFERENCES documents(id),
        author INTEGER REFERENCES peers(id),
        at_ms INTEGER NOT NULL,
        bytes BLOB NOT NULL
    );
    INSERT INTO updates_v2 (id, doc, author, at_ms, bytes)
        SELECT u.id, d.id, p.id, u.at_ms, u.bytes FROM updates u
        JOIN documents d ON d.session = u.session AND d.key = u.doc
        LEFT JOIN peers p ON p.peer = u.author;
    DROP TABLE updates;
    ALTER TABLE updates_v2 RENAME TO updates;
    CREATE INDEX updates_by_doc ON updates(doc, id);
    -- The state of `doc` after update `upto` (or, when `reset`, a state that replaces all
    -- before it: a learner's replica started again from the hub's).
    CREATE TABLE snapshots_v2 (
        doc INTEGER NOT NULL REFERENCES documents(id),
        upto INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        reset INTEGER NOT NULL DEFAULT 0,
        state BLOB NOT NULL,
        PRIMARY KEY (doc, upto, reset)
    );
    INSERT INTO snapshots_v2 (doc, upto, at_ms, reset, state)
        SELECT d.id, s.upto, s.at_ms, s.reset, s.state FROM snapshots s
        JOIN documents d ON d.session = s.session AND d.key = s.doc;
    DROP TABLE snapshots;
    ALTER TABLE snapshots_v2 RENAME TO snapshots;
    ",
    // 3: where each participant stands as the instructor last set it (role, removed), so a
    //    room hosted again still keeps out whoever was removed.
    "
    CREATE TABLE standings (
        session INTEGER NOT NULL REFERENCES sessions(id),
        peer BLOB NOT NULL,
        role TEXT NOT NULL,
        removed INTEGER NOT NULL DEFAULT 0,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (session, peer)
    );
    ",
    // 4: the room's rules as the instructor last set them (approval, lock, pen), for a room
    //    hosted again.
    "
    CREATE TABLE rules (
        session INTEGER PRIMARY KEY REFERENCES sessions(id),
        approval_required INTEGER NOT NULL,
        locked INTEGER NOT NULL,
        pen BLOB,
        at_ms INTEGER NOT NULL
    );
    ",
];

/// The version this build writes and reads.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{History, SessionId};
    use coderoom_protocol::{DocId, PeerId};
    use coderoom_room::files;

    #[test]
    fn a_version_1_history_reads_the_same_after_migrating() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("history.sqlite3");
        let board = files::new_doc(3);
        let first = files::capture_edit(&board, |d| files::insert(d, "main.py", 0, "print(1)"))
            .expect("first");
        let second = files::capture_edit(&board, |d| files::insert(d, "main.py", 8, "\nprint(2)"))
            .expect("second");
        let ada = PeerId([2; 32]);
        let work = files::new_doc(4);
        let mine =
            files::capture_edit(&work, |d| files::insert(d, "ada.py", 0, "x = 1")).expect("mine");
        {
            let conn = rusqlite::Connection::open(&path).expect("sqlite");
            conn.execute_batch(MIGRATIONS[0]).expect("version 1");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .expect("id");
            conn.execute(
                "INSERT INTO sessions (id, room, title, side, me, started_ms)
                 VALUES (1, zeroblob(16), 'Old', 'hub', zeroblob(32), 0)",
                [],
            )
            .expect("session");
            let update = "INSERT INTO updates (session, doc, author, at_ms, bytes)
                          VALUES (1, ?1, ?2, ?3, ?4)";
            conn.execute(
                update,
                rusqlite::params!["board", None::<Vec<u8>>, 10, first],
            )
            .expect("first");
            conn.execute(
                "INSERT INTO snapshots (session, doc, upto, at_ms, reset, state)
                 VALUES (1, 'board', 1, 10, 0, ?1)",
                [&first],
            )
            .expect("snapshot");
            let key = crate::doc_key(DocId::Workspace(ada));
            conn.execute(update, rusqlite::params![key, ada.0.to_vec(), 15, mine])
                .expect("mine");
            conn.execute(
                update,
                rusqlite::params!["board", None::<Vec<u8>>, 20, second],
            )
            .expect("second");
        }
        let mut history = History::open(&path).expect("migrated");
        let session = SessionId(1);
        let text = |history: &History, doc, at| {
            let state = history.state_at(session, doc, at).expect("replay");
            files::read_all(&state).into_values().collect::<String>()
        };
        assert_eq!(text(&history, DocId::Board, Some(10)), "print(1)");
        assert_eq!(text(&history, DocId::Board, None), "print(1)\nprint(2)");
        assert_eq!(text(&history, DocId::Workspace(ada), None), "x = 1");
        assert_eq!(history.span(session).expect("span"), Some((10, 20, 3)));
        assert_eq!(
            history.documents(session).expect("docs"),
            vec![DocId::Board, DocId::Workspace(ada)]
        );
        let more =
            files::capture_edit(&work, |d| files::insert(d, "ada.py", 5, "\n")).expect("more");
        history
            .append_update(session, DocId::Workspace(ada), Some(ada), 30, &more)
            .expect("append after migrating");
        assert_eq!(text(&history, DocId::Workspace(ada), None), "x = 1\n");
        assert_eq!(history.sessions().expect("list")[0].updates, 4);
    }
}
