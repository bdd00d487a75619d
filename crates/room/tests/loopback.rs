//! Real iroh endpoints on loopback, relays disabled: learners typing at once converge, refusals
//! hold, a restarted hub gets offline edits merged, and bad frames only cost their sender.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use coderoom_protocol::{Credential, DocId, JoinSecret, Message, RoomId, Ticket, ALPN};
use coderoom_room::net::{self, Hub, Peer, PeerReport};
use coderoom_room::{files, HubCore, RoomSettings};
use iroh::SecretKey;

fn key() -> SecretKey {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    SecretKey::from_bytes(&bytes)
}

fn settings(instructor: &SecretKey) -> RoomSettings {
    let mut id = [0u8; 16];
    rand::fill(&mut id);
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    RoomSettings {
        id: RoomId(id),
        title: "Loopback class".into(),
        secret: JoinSecret(secret),
        code: "424242".into(),
        instructor: net::peer_id(instructor.public()),
        instructor_name: "Teacher".into(),
    }
}

const LOCAL: &str = "127.0.0.1:0";

async fn host() -> (Hub, SecretKey) {
    let secret = key();
    let core = HubCore::new(settings(&secret), rand::random::<u64>() >> 12);
    let hub = Hub::start(secret.clone(), LOCAL.parse().expect("addr"), core, None)
        .await
        .expect("hub");
    (hub, secret)
}

async fn join(ticket: &Ticket, name: &str) -> Peer {
    Peer::join(
        key(),
        LOCAL.parse().expect("addr"),
        ticket.hub.clone(),
        ticket.room,
        Credential::Secret(ticket.secret),
        name.into(),
        "#cc3333".into(),
    )
    .await
    .expect("peer")
}

async fn joined(peer: &Peer) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match peer.next_report().await {
                Some(PeerReport::Joined { .. }) => return,
                Some(_) => {}
                None => panic!("the peer stopped before joining"),
            }
        }
    })
    .await
    .expect("joined within 10 s");
}

/// Polls until `check` holds, for up to `seconds`.
async fn eventually<F, Fut>(seconds: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// `learner` types in their workspace and the hub has it within 5 s.
async fn still_types(hub: &Hub, learner: &Peer) {
    learner
        .edit(learner.workspace(), |doc| typed(doc, "still here\n"))
        .await;
    assert!(
        eventually(5, || async {
            hub.files(learner.workspace()).await == learner.files(learner.workspace()).await
        })
        .await
    );
}

fn typed(doc: &yrs::Doc, text: &str) {
    let length = files::len(doc, "main.py");
    files::insert(doc, "main.py", length, text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_learners_typing_at_once_converge() {
    let (hub, _) = host().await;
    let ticket = hub.ticket();
    let mut learners = Vec::new();
    for i in 0..10 {
        learners.push(join(&ticket, &format!("Learner {i}")).await);
    }
    for learner in &learners {
        joined(learner).await;
    }
    let pen_holder = learners[3].id();
    hub.control(coderoom_protocol::Control::GivePen(Some(pen_holder)))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Everyone types at once: each learner into their workspace and the pen holder and the
    // instructor onto the board, interleaved.
    let rounds = 30;
    let typing = learners.iter().enumerate().map(|(i, learner)| async move {
        for round in 0..rounds {
            let line = format!("print({i}, {round})\n");
            learner
                .edit(learner.workspace(), move |doc| typed(doc, &line))
                .await;
            if learner.id() == pen_holder {
                learner
                    .edit(DocId::Board, move |doc| {
                        files::insert(doc, "main.py", 0, "#")
                    })
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let instructor = async {
        for round in 0..rounds {
            hub.edit(DocId::Board, move |doc| {
                typed(doc, &format!("board {round}\n"))
            })
            .await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::join!(futures_join_all(typing), instructor);

    let converged = eventually(20, || async {
        let board = hub.files(DocId::Board).await;
        for learner in &learners {
            if learner.files(DocId::Board).await != board {
                return false;
            }
            if learner.files(learner.workspace()).await != hub.files(learner.workspace()).await {
                return false;
            }
        }
        true
    })
    .await;
    assert!(converged, "documents did not converge");
    let board = hub.files(DocId::Board).await.expect("board");
    assert_eq!(board["main.py"].matches("board ").count(), rounds);
    assert_eq!(board["main.py"].matches('#').count(), rounds);
    for (i, learner) in learners.iter().enumerate() {
        let workspace = hub.files(learner.workspace()).await.expect("workspace");
        assert_eq!(workspace["main.py"].lines().count(), rounds, "learner {i}");
    }
    for learner in learners {
        learner.leave().await;
    }
    hub.shutdown().await;
}

/// `futures::future::join_all` without the dependency.
async fn futures_join_all<F: std::future::Future<Output = ()>>(
    futures: impl IntoIterator<Item = F>,
) {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    for handle in handles {
        handle.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_edits_never_reach_others_and_the_sender_is_reset() {
    let (hub, _) = host().await;
    let ticket = hub.ticket();
    let (alice, bob) = (join(&ticket, "Alice").await, join(&ticket, "Bob").await);
    joined(&alice).await;
    joined(&bob).await;
    hub.edit(DocId::Board, |doc| typed(doc, "teacher's board\n"))
        .await;
    assert!(
        eventually(5, || async {
            alice.files(DocId::Board).await == hub.files(DocId::Board).await
        })
        .await
    );

    // Alice has no pen: her board edit is refused, Bob never sees it, her replica is reset.
    alice
        .edit(DocId::Board, |doc| typed(doc, "graffiti\n"))
        .await;
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(PeerReport::EditRefused { doc, reason }) = alice.next_report().await {
                return (doc, reason);
            }
        }
    })
    .await
    .expect("a refusal");
    assert_eq!(refused.0, DocId::Board);
    assert!(refused.1.contains("pen"), "{}", refused.1);
    assert!(
        eventually(5, || async {
            alice.files(DocId::Board).await == hub.files(DocId::Board).await
        })
        .await
    );
    assert!(!hub.files(DocId::Board).await.expect("board")["main.py"].contains("graffiti"));
    assert!(!bob.files(DocId::Board).await.expect("board")["main.py"].contains("graffiti"));

    // Nor may she write Bob's workspace; and Bob does not even hold hers.
    alice
        .edit(bob.workspace(), |doc| typed(doc, "mine now"))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(hub
        .files(bob.workspace())
        .await
        .unwrap_or_default()
        .values()
        .all(|t| !t.contains("mine now")));
    assert_eq!(bob.files(alice.workspace()).await, None);

    // An observer writes nothing, not even its own workspace.
    hub.control(coderoom_protocol::Control::SetRole(
        bob.id(),
        coderoom_protocol::Role::Observer,
    ))
    .await;
    bob.edit(bob.workspace(), |doc| typed(doc, "observer typing"))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(hub
        .files(bob.workspace())
        .await
        .unwrap_or_default()
        .values()
        .all(|t| !t.contains("observer typing")));
    alice.leave().await;
    bob.leave().await;
    hub.shutdown().await;
}

/// What the hub persisted, in order (the history crate's tests use the real database).
type PersistedLog = Arc<Mutex<Vec<(DocId, Vec<u8>)>>>;

struct MemoryJournal(PersistedLog);

impl coderoom_room::Journal for MemoryJournal {
    fn update(
        &mut self,
        doc: DocId,
        _: Option<coderoom_protocol::PeerId>,
        update: &[u8],
    ) -> Result<(), coderoom_room::JournalError> {
        self.0.lock().expect("log").push((doc, update.to_vec()));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_edits_merge_when_a_restarted_hub_comes_back() {
    let secret = key();
    let settings = settings(&secret);
    let log: PersistedLog = Arc::default();
    let persist =
        |log: &PersistedLog| -> net::BoxedJournal { Box::new(MemoryJournal(Arc::clone(log))) };
    let hub = Hub::start(
        secret.clone(),
        LOCAL.parse().expect("addr"),
        HubCore::new(settings.clone(), 1 << 30),
        Some(persist(&log)),
    )
    .await
    .expect("hub");
    let ticket = hub.ticket();
    let port = hub.addr().ip_addrs().next().expect("addr").port();
    let learner = join(&ticket, "Ada").await;
    joined(&learner).await;
    learner
        .edit(learner.workspace(), |doc| typed(doc, "before\n"))
        .await;
    assert!(
        eventually(5, || async {
            hub.files(learner.workspace()).await == learner.files(learner.workspace()).await
        })
        .await
    );

    // The hub goes away; the learner keeps typing.
    hub.shutdown().await;
    learner
        .edit(learner.workspace(), |doc| {
            typed(doc, "while the hub was down\n")
        })
        .await;
    learner
        .say("is the hub down?")
        .await
        .expect("kept to send later");
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The hub comes back on the same address, rebuilt from what it persisted.
    let restored = HubCore::restore(settings.clone(), 2 << 30, log.lock().expect("log").clone())
        .expect("restore");
    let hub = Hub::start(
        secret,
        format!("127.0.0.1:{port}").parse().expect("addr"),
        restored,
        Some(persist(&log)),
    )
    .await
    .expect("hub again");
    hub.edit(DocId::Board, |doc| typed(doc, "after the restart\n"))
        .await;
    let merged = eventually(20, || async {
        let on_hub = hub.files(learner.workspace()).await;
        on_hub
            .as_ref()
            .and_then(|f| f.get("main.py"))
            .is_some_and(|t| t == "before\nwhile the hub was down\n")
            && learner.files(DocId::Board).await == hub.files(DocId::Board).await
    })
    .await;
    assert!(
        merged,
        "offline edits did not merge: hub has {:?}",
        hub.files(learner.workspace()).await
    );
    // What the learner wrote in the chat meanwhile arrives too.
    let chat = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(report) = hub.next_report().await {
            if let net::HubReport::Chat(line) = report {
                return Some(line);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("the chat written while the hub was down");
    assert_eq!(
        (chat.name.as_str(), chat.text.as_str()),
        ("Ada", "is the hub down?")
    );
    learner.leave().await;
    hub.shutdown().await;
}

/// A Hello frame for `ticket`'s room with `secret`, as a hand-made client would send.
fn hello_frame(ticket: &Ticket, secret: JoinSecret, name: &str) -> Vec<u8> {
    coderoom_protocol::encode(&Message::Hello {
        protocol_version: coderoom_protocol::PROTOCOL_VERSION,
        room: ticket.room,
        credential: Credential::Secret(secret),
        name: name.into(),
        colour: "#000".into(),
    })
    .expect("frame")
}

/// A raw connection to the hub that has sent `frames` (no peer logic behind it). Its parts are
/// returned so the caller decides how long each lives.
struct RawClient {
    _endpoint: iroh::Endpoint,
    connection: iroh::endpoint::Connection,
    _send: iroh::endpoint::SendStream,
    _recv: iroh::endpoint::RecvStream,
}

async fn raw_client(ticket: &Ticket, frames: &[u8]) -> RawClient {
    let endpoint = net::endpoint(key(), LOCAL.parse().expect("addr"))
        .await
        .expect("endpoint");
    let connection = endpoint
        .connect(ticket.hub.clone(), ALPN)
        .await
        .expect("connect");
    let (mut send, recv) = connection.open_bi().await.expect("stream");
    send.write_all(frames).await.expect("write");
    RawClient {
        _endpoint: endpoint,
        connection,
        _send: send,
        _recv: recv,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_their_sender() {
    let (hub, _) = host().await;
    let ticket = hub.ticket();
    let good = join(&ticket, "Good").await;
    joined(&good).await;

    let attack = |frame: Vec<u8>| {
        let ticket = ticket.clone();
        async move {
            let client = raw_client(&ticket, &frame).await;
            let closed =
                tokio::time::timeout(Duration::from_secs(5), client.connection.closed()).await;
            assert!(
                closed.is_ok(),
                "the hub kept a connection that sent {:?}",
                &frame[..frame.len().min(16)]
            );
        }
    };
    // Garbage, an oversized length, a Hello with the wrong secret, and an invalid update.
    attack(vec![0, 0, 0, 5, 0xff, 0xfe, 0xfd, 0xfc, 0xfb]).await;
    attack(u32::MAX.to_be_bytes().to_vec()).await;
    attack(hello_frame(&ticket, JoinSecret([0; 32]), "Mallory")).await;
    let mut frames = hello_frame(&ticket, ticket.secret, "Mallory");
    frames.extend(
        coderoom_protocol::encode(&Message::Sync {
            doc: DocId::Board,
            payload: vec![0, 2, 9, 1, 2, 3],
        })
        .expect("frame"),
    );
    attack(frames).await;

    // The good learner carries on.
    still_types(&hub, &good).await;
    assert_eq!(hub.online().await, ["Good"]);
    good.leave().await;
    hub.shutdown().await;
}

/// The reason the hub gives when it turns `peer` away.
async fn refusal_of(peer: &Peer) -> String {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(PeerReport::Disconnected(reason)) = peer.next_report().await {
                return reason;
            }
        }
    })
    .await
    .expect("refused")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tickets_are_refused_with_a_reason() {
    let (hub, _) = host().await;
    let mut wrong = hub.ticket();
    wrong.secret = JoinSecret([7; 32]);
    let peer = join(&wrong, "Eve").await;
    let reason = refusal_of(&peer).await;
    assert!(reason.contains("secret does not match"), "{reason}");
    assert!(
        eventually(5, || async { peer.is_finished() }).await,
        "a refused peer stops retrying"
    );

    let mut other_room = hub.ticket();
    other_room.room = RoomId([9; 16]);
    let peer = join(&other_room, "Eve").await;
    let reason = refusal_of(&peer).await;
    assert!(reason.contains("another room"), "{reason}");
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_reaches_others_and_is_cleared_when_a_peer_leaves() {
    use coderoom_room::presence::Presence;
    let (hub, _) = host().await;
    let ticket = hub.ticket();
    let (ada, bo) = (join(&ticket, "Ada").await, join(&ticket, "Bo").await);
    joined(&ada).await;
    joined(&bo).await;
    let here = Presence {
        peer: ada.id(),
        name: "Ada".into(),
        colour: "#e11d48".into(),
        role: coderoom_protocol::Role::Learner,
        doc: Some(DocId::Board),
        file: Some("main.py".into()),
        cursor: Some(7),
        selection: Some((2, 7)),
        following: None,
    };
    ada.set_presence(&here).await;
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(PeerReport::Presence(changes)) = bo.next_report().await {
                if let Some((client, Some(state))) = changes.into_iter().next() {
                    return (client, state);
                }
            }
        }
    })
    .await
    .expect("presence arrives");
    assert_eq!(seen.1, here);
    ada.leave().await;
    let cleared = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(PeerReport::Presence(changes)) = bo.next_report().await {
                if changes.contains(&(seen.0, None)) {
                    return;
                }
            }
        }
    })
    .await;
    assert!(
        cleared.is_ok(),
        "Ada's presence was not cleared when she left"
    );
    bo.leave().await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_that_stops_reading_does_not_stall_the_others() {
    let (hub, _) = host().await;
    let ticket = hub.ticket();
    let good = join(&ticket, "Good").await;
    joined(&good).await;

    // A learner whose app hangs: it joins properly, then never reads another byte.
    // (Its receive stream is held and never read.)
    let stalled = raw_client(&ticket, &hello_frame(&ticket, ticket.secret, "Stalled")).await;
    assert!(eventually(5, || async { hub.online().await.len() == 2 }).await);

    // The instructor types a lot (with bulky lines, so the stalled peer's flow control fills).
    let started = std::time::Instant::now();
    for round in 0..2_000 {
        let line = format!("{round:05} {}\n", "x".repeat(200));
        hub.edit(DocId::Board, move |doc| typed(doc, &line)).await;
    }
    let caught_up = eventually(20, || async {
        good.files(DocId::Board).await == hub.files(DocId::Board).await
    })
    .await;
    assert!(
        caught_up,
        "the good learner fell behind because of the stalled one"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(stalled);
    good.leave().await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_bombs_and_code_guessing_over_the_wire() {
    let (hub, _) = host().await;
    let ticket = hub.ticket();
    let good = join(&ticket, "Good").await;
    joined(&good).await;
    let before = common::peak_rss_kib();

    // A step 1 claiming four billion state-vector entries, and an update claiming as many
    // clients: a few bytes each, refused before anything is allocated.
    for kind in [0u64, 2] {
        let payload = common::claiming(kind, u64::from(u32::MAX));
        let mut frames = hello_frame(&ticket, ticket.secret, "Mallory");
        frames.extend(
            coderoom_protocol::encode(&Message::Sync {
                doc: DocId::Board,
                payload,
            })
            .expect("frame"),
        );
        let client = raw_client(&ticket, &frames).await;
        let closed = tokio::time::timeout(Duration::from_secs(5), client.connection.closed()).await;
        assert!(closed.is_ok(), "the hub kept a connection that sent a bomb");
    }
    assert!(
        common::peak_rss_kib() < before + 32 * 1024,
        "peak memory grew from {before} to {} KiB",
        common::peak_rss_kib()
    );

    // Wrong room codes from fresh keys (no ticket needed on a LAN): the room pauses code joins.
    for attempt in 0..25 {
        let frame = coderoom_protocol::encode(&Message::Hello {
            protocol_version: coderoom_protocol::PROTOCOL_VERSION,
            room: ticket.room,
            credential: Credential::Code(format!("{:06}", 100_000 + attempt)),
            name: format!("Guess {attempt}"),
            colour: "#000".into(),
        })
        .expect("frame");
        let client = raw_client(&ticket, &frame).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), client.connection.closed()).await;
    }
    let paused = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match hub.next_report().await {
                Some(net::HubReport::CodeJoinsPaused { wrong_codes }) => return wrong_codes,
                Some(_) => {}
                None => panic!("the hub stopped"),
            }
        }
    })
    .await
    .expect("the instructor is told code joins are paused");
    assert_eq!(paused, 20);

    // The class goes on: the good learner's edits arrive, and a ticket still lets one in.
    still_types(&hub, &good).await;
    let late = join(&ticket, "Late").await;
    joined(&late).await;
    late.leave().await;
    good.leave().await;
    hub.shutdown().await;
}

/// The reports of `peer` until it is turned away for good (or `seconds` pass), with how long
/// that took.
async fn reports_until_it_stops(peer: &Peer, seconds: u64) -> (Vec<PeerReport>, Duration) {
    let started = tokio::time::Instant::now();
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(seconds), async {
        while let Some(report) = peer.next_report().await {
            let last = matches!(report, PeerReport::Refused(_));
            seen.push(report);
            if last {
                return;
            }
        }
    })
    .await;
    (seen, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_the_class_tells_learners_and_they_stop() {
    let (hub, _) = host().await;
    let learner = join(&hub.ticket(), "Ada").await;
    joined(&learner).await;
    hub.end().await.expect("ended");
    let (reports, _) = reports_until_it_stops(&learner, 10).await;
    assert!(
        reports.iter().any(
            |r| matches!(r, PeerReport::Refused(reason) if reason == "the instructor ended the class")
        ),
        "{reports:?}"
    );
    assert!(
        learner.is_finished(),
        "the learner is still trying to reconnect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_for_a_room_that_is_not_running_gives_up_with_a_reason() {
    let (hub, _) = host().await;
    let ticket = hub.ticket();
    hub.shutdown().await;
    let learner = join(&ticket, "Ada").await;
    let (reports, took) = reports_until_it_stops(&learner, 20).await;
    let reason = reports
        .iter()
        .find_map(|r| match r {
            PeerReport::Refused(reason) => Some(reason.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no reason given: {reports:?}"));
    assert!(
        reason.starts_with("no answer from the instructor's laptop after 5 s"),
        "{reason}"
    );
    assert!(took < Duration::from_secs(12), "gave up after {took:?}");
    assert!(eventually(2, || async { learner.is_finished() }).await);
}
