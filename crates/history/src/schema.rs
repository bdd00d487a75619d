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
];

/// The version this build writes and reads.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;
