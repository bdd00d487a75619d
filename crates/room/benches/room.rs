//! Rooms over real iroh endpoints on loopback (relays off), against a bare baseline measured in
//! the same run: the same kind of endpoints relaying the same framed yrs updates through a hub
//! that applies each, with no room logic (no admission, permissions, persistence or queues).
//!
//! `cargo build --release -p coderoom-cli && cargo bench -p coderoom-room --bench room`
//!
//! Typing: N peers each type 4 keystrokes a second (random phase) into their own file of one
//! shared document, so every keystroke goes through the hub to every other peer. In Coderoom the
//! peers are made co-instructors for this, the role that may write the board together. A
//! keystroke's latency runs from the sender's edit to its arrival in each other peer's replica.
//!
//! For typing, each hub (bare or Coderoom) runs in a process of its own, as it does in class on
//! the instructor's laptop: this bench re-runs itself with `CODEROOM_BENCH_HUB=bare|room`. A
//! round types the same schedule (the same random phases) through both, so their ratio compares
//! like with like. `CODEROOM_BENCH_PEERS=30,60` limits the room sizes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coderoom_protocol::{Control, Credential, DocId, JoinSecret, Role, RoomId, ALPN};
use coderoom_room::net::{self, Hub, Peer, PeerReport};
use coderoom_room::{files, HubCore, RoomSettings};
use iroh::endpoint::{Connection, RecvStream, SendStream};
use iroh::protocol::{AcceptError, ProtocolHandler, Router};
use iroh::{EndpointAddr, SecretKey};
use tokio::sync::mpsc;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact};

const LOCAL: &str = "127.0.0.1:0";
const TYPING_SECONDS: u64 = 5;
/// Alternating rounds of the bare and the Coderoom typing runs per room size
/// (`CODEROOM_BENCH_ROUNDS` overrides).
const ROUNDS: usize = 5;

fn key() -> SecretKey {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    SecretKey::from_bytes(&bytes)
}

fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Send times per (sender, keystroke number).
type SendLog = Arc<Mutex<BTreeMap<(usize, u32), Instant>>>;
type Latencies = Arc<Mutex<Vec<f64>>>;

fn file_name(sender: usize) -> String {
    format!("f{sender}")
}

/// After an update arrives at `me`: count each sender's keystrokes in the replica
/// (`typed_by(sender)`, its file's length) and record the latency of each one newly there.
/// `now` is when the replica reported the update applied (before reading it back).
fn record_arrivals(
    now: Instant,
    typed_by: impl Fn(usize) -> u32,
    me: usize,
    seen: &mut [u32],
    sent: &SendLog,
    latencies: &Latencies,
) {
    let log = sent.lock().expect("log");
    let mut out = latencies.lock().expect("latencies");
    for sender in (0..seen.len()).filter(|s| *s != me) {
        let count = typed_by(sender);
        while seen[sender] < count {
            if let Some(at) = log.get(&(sender, seen[sender])) {
                out.push(now.duration_since(*at).as_secs_f64() * 1000.0);
            }
            seen[sender] += 1;
        }
    }
}

/// Each sender's file length in a replica, read in place.
fn typed_lengths(doc: &Doc, names: &[String]) -> Vec<u32> {
    names.iter().map(|name| files::len(doc, name)).collect()
}

/// Each sender's typing schedule: 4 keys a second, starting `phase_ms` in.
async fn type_keys<F, Fut>(sender: usize, phase_ms: u64, sent: SendLog, mut press: F)
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let period = Duration::from_millis(250);
    tokio::time::sleep(Duration::from_millis(phase_ms)).await;
    let keys = (TYPING_SECONDS * 4) as u32;
    let mut next = tokio::time::Instant::now();
    for number in 0..keys {
        sent.lock()
            .expect("log")
            .insert((sender, number), Instant::now());
        press(number).await;
        next += period;
        tokio::time::sleep_until(next).await;
    }
}

// ------------------------------------------------------------------ hubs in their own process

const BENCH_ROOM: RoomId = RoomId([1; 16]);
const BENCH_SECRET: JoinSecret = JoinSecret([2; 32]);

/// A hub running in a child process of this bench; killed when dropped.
struct HubProcess {
    child: tokio::process::Child,
    addr: EndpointAddr,
}

impl HubProcess {
    async fn start(kind: &str) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(std::env::current_exe().expect("exe"))
            .env("CODEROOM_BENCH_HUB", kind)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("hub process");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ticket: coderoom_protocol::Ticket = loop {
            let line = lines
                .next_line()
                .await
                .expect("hub output")
                .expect("hub ticket");
            if let Some(ticket) = line.strip_prefix("ticket: ") {
                break ticket.parse().expect("ticket");
            }
        };
        Self {
            child,
            addr: ticket.hub,
        }
    }

    async fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// The child's side: host a hub of `kind` until stdin closes. The Coderoom hub makes everyone
/// who joins a co-instructor, so all may type into the board.
fn serve_hub(kind: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let stdin_closed = tokio::spawn(async {
            use tokio::io::AsyncReadExt;
            let mut sink = Vec::new();
            let _ = tokio::io::stdin().read_to_end(&mut sink).await;
        });
        if kind == "bare" {
            let (router, addr) = start_bare(0).await;
            let ticket = coderoom_protocol::Ticket {
                hub: addr,
                room: BENCH_ROOM,
                secret: BENCH_SECRET,
            };
            println!("ticket: {ticket}");
            let _ = stdin_closed.await;
            router.shutdown().await.ok();
        } else {
            let hub = Arc::new(start_hub(0).await);
            println!("ticket: {}", hub.ticket());
            let promoter = Arc::clone(&hub);
            let promoting = tokio::spawn(async move {
                loop {
                    for participant in promoter.participants().await {
                        if participant.role == Role::Learner {
                            promoter
                                .control(Control::SetRole(participant.id, Role::Instructor))
                                .await;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
            let _ = stdin_closed.await;
            promoting.abort();
            if let Ok(hub) = Arc::try_unwrap(hub) {
                hub.shutdown().await;
            }
        }
    });
}

// ------------------------------------------------------------------ Coderoom

fn room_settings(secret: &SecretKey) -> RoomSettings {
    RoomSettings {
        id: BENCH_ROOM,
        title: "Bench".into(),
        secret: BENCH_SECRET,
        code: "000000".into(),
        instructor: net::peer_id(secret.public()),
        instructor_name: "Teacher".into(),
    }
}

/// The persistence hook is called on every update, with nothing behind it (the history bench
/// measures the database).
struct NoHistory;

impl coderoom_room::Journal for NoHistory {
    fn update(
        &mut self,
        _: DocId,
        _: Option<coderoom_protocol::PeerId>,
        _: &[u8],
    ) -> Result<(), coderoom_room::JournalError> {
        Ok(())
    }
}

async fn start_hub(board_lines: usize) -> Hub {
    let secret = key();
    let core = HubCore::new(room_settings(&secret), 1 << 40);
    let hub = Hub::start(
        secret,
        LOCAL.parse().expect("addr"),
        core,
        Some(Box::new(NoHistory)),
    )
    .await
    .expect("hub");
    if board_lines > 0 {
        let text: String = (0..board_lines)
            .map(|i| format!("print('line {i}')\n"))
            .collect();
        hub.edit(DocId::Board, move |doc| {
            files::insert(doc, "main.py", 0, &text)
        })
        .await;
    }
    hub
}

async fn coderoom_join(hub_addr: &EndpointAddr, name: String) -> Peer {
    Peer::join(
        key(),
        LOCAL.parse().expect("addr"),
        hub_addr.clone(),
        BENCH_ROOM,
        Credential::Secret(BENCH_SECRET),
        name,
        "#fff".into(),
    )
    .await
    .expect("join")
}

/// Time from starting to join until the board is complete in the replica.
async fn coderoom_join_time(hub: &Hub, board_len: usize) -> (f64, Peer) {
    let started = Instant::now();
    let peer = coderoom_join(&hub.addr(), "Joiner".into()).await;
    loop {
        match peer.next_report().await {
            Some(PeerReport::Changed(DocId::Board)) => {
                let board = peer.files(DocId::Board).await.unwrap_or_default();
                if board.get("main.py").map_or(0, String::len) >= board_len {
                    return (started.elapsed().as_secs_f64() * 1000.0, peer);
                }
            }
            Some(_) => {}
            None => panic!("peer stopped"),
        }
    }
}

async fn coderoom_typing(phases: &[u64]) -> Vec<f64> {
    let peers = phases.len();
    let hub = HubProcess::start("room").await;
    let mut list = Vec::new();
    for i in 0..peers {
        let peer = coderoom_join(&hub.addr, format!("P{i}")).await;
        list.push(Arc::new(peer));
    }
    // Everyone may type into the board once the hub has made them all co-instructors.
    let first = Arc::clone(&list[0]);
    loop {
        if let Some(PeerReport::Participants(all)) = first.next_report().await {
            if all.iter().filter(|p| p.role == Role::Instructor).count() >= peers {
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent: SendLog = Arc::default();
    let latencies: Latencies = Arc::default();
    let names: Arc<Vec<String>> = Arc::new((0..peers).map(file_name).collect());
    let mut tasks = Vec::new();
    for (me, shared) in list.iter().enumerate() {
        let (peer, sent_log, out, names) = (
            Arc::clone(shared),
            Arc::clone(&sent),
            Arc::clone(&latencies),
            Arc::clone(&names),
        );
        tasks.push(tokio::spawn(async move {
            let mut seen = vec![0u32; peers];
            let deadline = tokio::time::Instant::now() + Duration::from_secs(TYPING_SECONDS + 3);
            while let Ok(Some(report)) = tokio::time::timeout_at(deadline, peer.next_report()).await
            {
                if report == PeerReport::Changed(DocId::Board) {
                    let now = Instant::now();
                    let lengths = peer
                        .read(DocId::Board, |doc| typed_lengths(doc, &names))
                        .unwrap_or_default();
                    let typed_by = |sender: usize| lengths.get(sender).copied().unwrap_or(0);
                    record_arrivals(now, typed_by, me, &mut seen, &sent_log, &out);
                }
            }
        }));
        let (peer, sent_log, phase) = (Arc::clone(shared), Arc::clone(&sent), phases[me]);
        tasks.push(tokio::spawn(async move {
            type_keys(me, phase, sent_log, |_| {
                let peer = Arc::clone(&peer);
                async move {
                    peer.edit(DocId::Board, move |doc| {
                        files::insert(doc, &file_name(me), u32::MAX, "x")
                    })
                    .await
                }
            })
            .await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    drop(first);
    for peer in list {
        if let Ok(peer) = Arc::try_unwrap(peer) {
            peer.leave().await;
        }
    }
    hub.stop().await;
    let samples = latencies.lock().expect("latencies").clone();
    samples
}

// ------------------------------------------------------------------ bare baseline

/// A connected client of the bare hub: its id and its outgoing frames.
type Client = (u64, mpsc::UnboundedSender<Vec<u8>>);

#[derive(Debug, Clone, Default)]
struct BareHub {
    clients: Arc<Mutex<Vec<Client>>>,
    doc: Arc<Mutex<Option<Doc>>>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

async fn read_raw(recv: &mut RecvStream) -> Option<Vec<u8>> {
    let mut header = [0u8; 4];
    recv.read_exact(&mut header).await.ok()?;
    let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
    recv.read_exact(&mut payload).await.ok()?;
    Some(payload)
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

async fn writer(mut send: SendStream, mut frames: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(first) = frames.recv().await {
        let mut batch = first;
        while let Ok(more) = frames.try_recv() {
            batch.extend_from_slice(&more);
        }
        if send.write_all(&batch).await.is_err() {
            return;
        }
    }
}

impl ProtocolHandler for BareHub {
    async fn accept(&self, connection: Connection) -> Result<(), AcceptError> {
        let (send, mut recv) = connection.accept_bi().await?;
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(send, rx));
        self.clients.lock().expect("clients").push((id, tx.clone()));
        while let Some(payload) = read_raw(&mut recv).await {
            if payload.is_empty() {
                // A join: the whole document.
                let state = self
                    .doc
                    .lock()
                    .expect("doc")
                    .as_ref()
                    .map(|d| {
                        d.transact()
                            .encode_state_as_update_v1(&StateVector::default())
                    })
                    .unwrap_or_default();
                let _ = tx.send(frame(&state));
                continue;
            }
            if let (Some(doc), Ok(update)) = (
                self.doc.lock().expect("doc").as_ref(),
                yrs::Update::decode_v1(&payload),
            ) {
                let _ = doc.transact_mut().apply_update(update);
            }
            let framed = frame(&payload);
            for (other, client) in self.clients.lock().expect("clients").iter() {
                if *other != id {
                    let _ = client.send(framed.clone());
                }
            }
        }
        self.clients
            .lock()
            .expect("clients")
            .retain(|(other, _)| *other != id);
        Ok(())
    }
}

async fn start_bare(board_lines: usize) -> (Router, EndpointAddr) {
    let doc = files::new_doc(1 << 40);
    if board_lines > 0 {
        let text: String = (0..board_lines)
            .map(|i| format!("print('line {i}')\n"))
            .collect();
        files::insert(&doc, "main.py", 0, &text);
    }
    let hub = BareHub {
        doc: Arc::new(Mutex::new(Some(doc))),
        ..BareHub::default()
    };
    let endpoint = net::endpoint(key(), LOCAL.parse().expect("addr"))
        .await
        .expect("endpoint");
    let router = Router::builder(endpoint).accept(ALPN, hub).spawn();
    let mut addr = router.endpoint().addr();
    for socket in router.endpoint().bound_sockets() {
        addr = addr.with_ip_addr(socket);
    }
    (router, addr)
}

struct BareClient {
    doc: Arc<Mutex<Doc>>,
    out: mpsc::UnboundedSender<Vec<u8>>,
    arrivals: mpsc::UnboundedReceiver<()>,
    _endpoint: iroh::Endpoint,
}

async fn bare_join(hub: &EndpointAddr, client_id: u64) -> BareClient {
    let endpoint = net::endpoint(key(), LOCAL.parse().expect("addr"))
        .await
        .expect("endpoint");
    let connection = endpoint.connect(hub.clone(), ALPN).await.expect("connect");
    let (send, mut recv) = connection.open_bi().await.expect("stream");
    let (out, rx) = mpsc::unbounded_channel();
    tokio::spawn(writer(send, rx));
    let _ = out.send(frame(&[]));
    let doc = Arc::new(Mutex::new(files::new_doc(client_id)));
    let (arrived, arrivals) = mpsc::unbounded_channel();
    let replica = Arc::clone(&doc);
    tokio::spawn(async move {
        let _connection = connection;
        while let Some(payload) = read_raw(&mut recv).await {
            if let Ok(update) = yrs::Update::decode_v1(&payload) {
                let _ = replica
                    .lock()
                    .expect("doc")
                    .transact_mut()
                    .apply_update(update);
            }
            if arrived.send(()).is_err() {
                return;
            }
        }
    });
    BareClient {
        doc,
        out,
        arrivals,
        _endpoint: endpoint,
    }
}

async fn bare_join_time(hub: &EndpointAddr, board_len: usize) -> f64 {
    let started = Instant::now();
    let mut client = bare_join(hub, rand::random::<u64>() >> 12).await;
    while client.arrivals.recv().await.is_some() {
        let length = files::read_all(&client.doc.lock().expect("doc"))
            .get("main.py")
            .map_or(0, String::len);
        if length >= board_len {
            return started.elapsed().as_secs_f64() * 1000.0;
        }
    }
    f64::NAN
}

async fn bare_typing(phases: &[u64]) -> Vec<f64> {
    let peers = phases.len();
    let hub = HubProcess::start("bare").await;
    let mut clients = Vec::new();
    for i in 0..peers {
        clients.push(bare_join(&hub.addr, (i as u64 + 1) << 20).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent: SendLog = Arc::default();
    let latencies: Latencies = Arc::default();
    let names: Arc<Vec<String>> = Arc::new((0..peers).map(file_name).collect());
    let mut tasks = Vec::new();
    for (me, mut client) in clients.into_iter().enumerate() {
        let names = Arc::clone(&names);
        let (doc, out) = (Arc::clone(&client.doc), client.out.clone());
        let (sent_log, latency_out) = (Arc::clone(&sent), Arc::clone(&latencies));
        let replica = Arc::clone(&client.doc);
        tasks.push(tokio::spawn(async move {
            let mut seen = vec![0u32; peers];
            let deadline = tokio::time::Instant::now() + Duration::from_secs(TYPING_SECONDS + 3);
            while let Ok(Some(())) = tokio::time::timeout_at(deadline, client.arrivals.recv()).await
            {
                let now = Instant::now();
                let lengths = typed_lengths(&replica.lock().expect("doc"), &names);
                let typed_by = |sender: usize| lengths[sender];
                record_arrivals(now, typed_by, me, &mut seen, &sent_log, &latency_out);
            }
            drop(client);
        }));
        let (sent_log, phase) = (Arc::clone(&sent), phases[me]);
        tasks.push(tokio::spawn(async move {
            type_keys(me, phase, sent_log, |_| {
                let (doc, out) = (Arc::clone(&doc), out.clone());
                async move {
                    let update = {
                        let doc = doc.lock().expect("doc");
                        let before = doc.transact().state_vector();
                        files::insert(&doc, &file_name(me), u32::MAX, "x");
                        let update = doc.transact().encode_state_as_update_v1(&before);
                        update
                    };
                    let _ = out.send(frame(&update));
                }
            })
            .await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    hub.stop().await;
    let samples = latencies.lock().expect("latencies").clone();
    samples
}

// ------------------------------------------------------------------ hub process

/// CPU (ms) and RSS (KiB) of a process, from /proc.
fn cpu_and_rss(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ticks * 10.0, rss))
}

/// The real hub as a separate process (`coderoom-cli host`) with `learners` typing 4 keys a
/// second into their own workspaces, as in class: its CPU share and memory.
async fn hub_process(learners: usize) -> Option<(f64, u64, u64)> {
    let cli = std::env::current_exe()
        .ok()?
        .parent()?
        .parent()?
        .join("coderoom-cli");
    if !cli.exists() {
        println!(
            "(hub process figures skipped: build {} first)",
            cli.display()
        );
        return None;
    }
    let data = tempfile::tempdir().ok()?;
    let mut child = tokio::process::Command::new(&cli)
        .args(["host", "--bind", "127.0.0.1:0"])
        .env("CODEROOM_DATA_DIR", data.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let pid = child.id()?;
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take()?).lines();
    let ticket: coderoom_protocol::Ticket = loop {
        let line = lines.next_line().await.ok()??;
        if let Some(ticket) = line.strip_prefix("ticket: ") {
            break ticket.parse().ok()?;
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let idle_rss = cpu_and_rss(pid)?.1;
    let mut peers = Vec::new();
    for i in 0..learners {
        let peer = Peer::join(
            key(),
            LOCAL.parse().ok()?,
            ticket.hub.clone(),
            ticket.room,
            Credential::Secret(ticket.secret),
            format!("L{i}"),
            "#fff".into(),
        )
        .await
        .ok()?;
        peers.push(Arc::new(peer));
    }
    for peer in &peers {
        loop {
            if let Some(PeerReport::Joined { .. }) = peer.next_report().await {
                break;
            }
        }
    }
    let (cpu_before, _) = cpu_and_rss(pid)?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (me, peer) in peers.iter().enumerate() {
        let peer = Arc::clone(peer);
        let sent: SendLog = Arc::default();
        tasks.push(tokio::spawn(async move {
            type_keys(me, rand::random::<u64>() % 250, sent, |_| {
                let peer = Arc::clone(&peer);
                async move {
                    let workspace = peer.workspace();
                    peer.edit(workspace, |doc| {
                        files::insert(doc, "main.py", u32::MAX, "x")
                    })
                    .await
                }
            })
            .await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let (cpu_after, rss) = cpu_and_rss(pid)?;
    let share = (cpu_after - cpu_before) / (started.elapsed().as_secs_f64() * 1000.0) * 100.0;
    let _ = child.kill().await;
    Some((share, rss, idle_rss))
}

fn main() {
    if let Ok(kind) = std::env::var("CODEROOM_BENCH_HUB") {
        return serve_hub(&kind);
    }
    let sizes: Vec<usize> = std::env::var("CODEROOM_BENCH_PEERS")
        .ok()
        .map(|list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![1, 10, 30, 60]);
    let rounds: usize = std::env::var("CODEROOM_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROUNDS);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!("keystroke latency, sender edit -> every other peer's replica (ms)");
        println!("(median over {rounds} alternating rounds of each; this machine's figures drift run to run)");
        println!("{:>8} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10}", "peers", "coderoom p50", "coderoom p99", "bare p50", "bare p99", "p50 ratio", "p99 ratio");
        for &peers in &sizes {
            let (mut room, mut bare) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                let phases: Vec<u64> = (0..peers.max(2)).map(|_| rand::random::<u64>() % 250).collect();
                // `CODEROOM_BENCH_ONLY=bare|room` runs one side only (to profile it).
                let only = std::env::var("CODEROOM_BENCH_ONLY").unwrap_or_default();
                if only != "room" {
                    let samples = bare_typing(&phases).await;
                    bare.push((percentile(&samples, 0.5), percentile(&samples, 0.99)));
                }
                if only != "bare" {
                    let samples = coderoom_typing(&phases).await;
                    room.push((percentile(&samples, 0.5), percentile(&samples, 0.99)));
                }
            }
            let median = |values: Vec<f64>| percentile(&values, 0.5);
            let (r50, r99) = (median(room.iter().map(|r| r.0).collect()), median(room.iter().map(|r| r.1).collect()));
            let (b50, b99) = (median(bare.iter().map(|b| b.0).collect()), median(bare.iter().map(|b| b.1).collect()));
            let ratios: Vec<String> = room.iter().zip(&bare).map(|(r, b)| format!("{:.2}", r.1 / b.1)).collect();
            println!(
                "{peers:>8} {r50:>12.2} {r99:>12.2} {b50:>12.2} {b99:>12.2} {:>10.2} {:>10.2}   (p99 ratio per round: {})",
                r50 / b50,
                r99 / b99,
                ratios.join(", ")
            );
        }

        println!();
        println!("join, until a 10,000-line board is complete in the new replica (ms, 10 joins)");
        let hub = start_hub(10_000).await;
        let board_len = hub.files(DocId::Board).await.unwrap_or_default().get("main.py").map_or(0, String::len);
        let (bare_router, bare_addr) = start_bare(10_000).await;
        let (mut room_times, mut bare_times) = (Vec::new(), Vec::new());
        for _ in 0..10 {
            bare_times.push(bare_join_time(&bare_addr, board_len).await);
            let (time, peer) = coderoom_join_time(&hub, board_len).await;
            room_times.push(time);
            peer.leave().await;
        }
        let (r, b) = (percentile(&room_times, 0.5), percentile(&bare_times, 0.5));
        println!("coderoom p50 {r:.1}, bare p50 {b:.1}, ratio {:.2}", r / b);
        hub.shutdown().await;
        bare_router.shutdown().await.ok();

        println!();
        println!("60 learners joining at once, until all have the board (ms)");
        let hub = Arc::new(start_hub(20).await);
        let board_len = hub.files(DocId::Board).await.unwrap_or_default().get("main.py").map_or(0, String::len);
        let started = Instant::now();
        let joins: Vec<_> = (0..60).map(|_| { let hub = Arc::clone(&hub); tokio::spawn(async move { coderoom_join_time(&hub, board_len).await }) }).collect();
        let mut peers = Vec::new();
        for join in joins {
            if let Ok((_, peer)) = join.await {
                peers.push(peer);
            }
        }
        let room_all = started.elapsed().as_secs_f64() * 1000.0;
        for peer in peers {
            peer.leave().await;
        }
        let (bare_router, bare_addr) = start_bare(20).await;
        let bare_board = 20 * "print('line 10')\n".len() - 20;
        let started = Instant::now();
        let joins: Vec<_> = (0..60).map(|_| { let addr = bare_addr.clone(); tokio::spawn(async move { bare_join_time(&addr, bare_board).await }) }).collect();
        for join in joins {
            let _ = join.await;
        }
        let bare_all = started.elapsed().as_secs_f64() * 1000.0;
        println!("coderoom {room_all:.0}, bare {bare_all:.0}, ratio {:.2}", room_all / bare_all);
        bare_router.shutdown().await.ok();

        println!();
        if let Some((cpu, rss, idle)) = hub_process(60).await {
            println!("hub process (coderoom-cli host) with 60 learners typing 4 keys/s into their workspaces:");
            println!("CPU {cpu:.1} % of one core, RSS {:.1} MiB (idle before joins {:.1} MiB)", rss as f64 / 1024.0, idle as f64 / 1024.0);
        }
    });
}
