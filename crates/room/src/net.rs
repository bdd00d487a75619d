//! The room over iroh: an endpoint with no relays and no internet lookups, the hub as a
//! `ProtocolHandler` under Coderoom's ALPN, and peers that connect and reconnect by themselves.
//! Tasks here only move frames between QUIC streams and the IO-less cores.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coderoom_protocol::{
    decode, encode, frame_length, ChatLine, Control, Credential, DocId, Message, PeerId, Refusal,
    Role, RunReport, RunStep, Ticket, ALPN, FRAME_HEADER,
};
use iroh::address_lookup::UserData;
use iroh::endpoint::{
    presets, Connection, IdleTimeout, PortmapperConfig, QuicTransportConfig, RecvStream, SendStream,
};
use iroh::protocol::{AcceptError, ProtocolHandler, Router};
use iroh::{Endpoint, EndpointAddr, RelayMode, SecretKey};
use iroh_mdns_address_lookup::{DiscoveryEvent, MdnsAddressLookup};
use tokio::sync::{mpsc, Mutex, Notify};
use yrs::Doc;

use crate::core::hub::ConnId;
use crate::core::sync;
use crate::queue::OutQueue;
use crate::{
    files, HubAction, HubCore, HubEvent, PeerAction, PeerCore, PeerEvent, RoomError, RoomSettings,
};
use crate::{Journal, JournalError};

fn network(error: impl std::fmt::Display) -> RoomError {
    RoomError::Network(error.to_string())
}

/// This install's persistent secret key: made once, kept in the data dir, so a learner who
/// reconnects (or restarts the app) is the same learner.
pub fn load_or_create_identity(path: &Path) -> Result<SecretKey, RoomError> {
    let identity_error = |reason: String| RoomError::Identity {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                identity_error(format!(
                    "{} bytes, expected 32: the file is damaged; delete it to get a new identity",
                    bytes.len()
                ))
            })?;
            Ok(SecretKey::from_bytes(&bytes))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            rand::fill(&mut bytes);
            let key = SecretKey::from_bytes(&bytes);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| identity_error(e.to_string()))?;
            }
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| identity_error(e.to_string()))?;
            file.write_all(&key.to_bytes())
                .map_err(|e| identity_error(e.to_string()))?;
            Ok(key)
        }
        Err(error) => Err(identity_error(error.to_string())),
    }
}

/// An endpoint for a classroom LAN: no relays, no port mapping, no internet lookups.
pub async fn endpoint(secret: SecretKey, bind: SocketAddr) -> Result<Endpoint, RoomError> {
    endpoint_with(secret, bind, None).await
}

/// The mDNS service Coderoom's hubs announce themselves under.
const MDNS_SERVICE: &str = "coderoom";
/// What a hub announces: `coderoom/1 <room id hex> <title>`.
const ANNOUNCE_PREFIX: &str = "coderoom/1 ";

/// How often an idle connection is pinged, and how long silence lasts before it counts as gone.
/// A hub that was killed or lost its Wi-Fi is noticed within seconds (iroh's defaults of 5 s
/// and 30 s left learners typing into a dead connection), and on a LAN a ping a second per
/// learner costs nothing.
const KEEP_ALIVE: Duration = Duration::from_secs(1);
const GONE_AFTER: Duration = Duration::from_secs(5);

fn transport() -> Result<QuicTransportConfig, RoomError> {
    let idle = IdleTimeout::try_from(GONE_AFTER).map_err(network)?;
    Ok(QuicTransportConfig::builder()
        .keep_alive_interval(KEEP_ALIVE)
        .max_idle_timeout(Some(idle))
        .default_path_keep_alive_interval(KEEP_ALIVE)
        .default_path_max_idle_timeout(GONE_AFTER)
        .build())
}

async fn endpoint_with(
    secret: SecretKey,
    bind: SocketAddr,
    mdns: Option<(MdnsAddressLookup, Option<String>)>,
) -> Result<Endpoint, RoomError> {
    let mut builder = Endpoint::builder(presets::Minimal)
        .relay_mode(RelayMode::Disabled)
        .portmapper_config(PortmapperConfig::Disabled)
        .clear_ip_transports()
        .bind_addr(bind)
        .map_err(network)?
        .secret_key(secret)
        .transport_config(transport()?);
    if let Some((lookup, announce)) = mdns {
        builder = builder.address_lookup(lookup);
        if let Some(announce) = announce {
            let data: UserData = announce.parse().map_err(network)?;
            builder = builder.user_data_for_address_lookup(data);
        }
    }
    builder.bind().await.map_err(network)
}

fn mdns(secret: &SecretKey, advertise: bool) -> Result<MdnsAddressLookup, RoomError> {
    MdnsAddressLookup::builder()
        .service_name(MDNS_SERVICE)
        .advertise(advertise)
        .build(secret.public())
        .map_err(network)
}

/// A room announced on the local network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearbyRoom {
    pub hub: iroh::EndpointId,
    pub room: coderoom_protocol::RoomId,
    pub title: String,
}

fn announcement(room: coderoom_protocol::RoomId, title: &str) -> String {
    let id: String = room.0.iter().map(|b| format!("{b:02x}")).collect();
    // UserData holds at most 245 bytes.
    let title: String = title.chars().take(120).collect();
    format!("{ANNOUNCE_PREFIX}{id} {title}")
}

fn parse_announcement(text: &str) -> Option<(coderoom_protocol::RoomId, String)> {
    let rest = text.strip_prefix(ANNOUNCE_PREFIX)?;
    let (id, title) = rest.split_once(' ').unwrap_or((rest, ""));
    if id.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(id.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some((coderoom_protocol::RoomId(bytes), title.to_owned()))
}

/// Rooms announced on the LAN, listened for during `wait` (mDNS; no ticket needed).
pub async fn nearby_rooms(bind: SocketAddr, wait: Duration) -> Result<Vec<NearbyRoom>, RoomError> {
    let secret = SecretKey::from_bytes(&rand::random());
    let lookup = mdns(&secret, false)?;
    let mut events = lookup.subscribe().await;
    let endpoint = endpoint_with(secret, bind, Some((lookup, None))).await?;
    let mut rooms: Vec<NearbyRoom> = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    use futures_util::StreamExt;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next()).await {
        match event {
            DiscoveryEvent::Discovered { endpoint_info, .. } => {
                let Some((room, title)) = endpoint_info
                    .data
                    .user_data()
                    .and_then(|d| parse_announcement(d.as_ref()))
                else {
                    continue;
                };
                rooms.retain(|r| r.hub != endpoint_info.endpoint_id);
                rooms.push(NearbyRoom {
                    hub: endpoint_info.endpoint_id,
                    room,
                    title,
                });
            }
            DiscoveryEvent::Expired { endpoint_id } => rooms.retain(|r| r.hub != endpoint_id),
            _ => {}
        }
    }
    endpoint.close().await;
    Ok(rooms)
}

pub fn peer_id(endpoint_id: iroh::EndpointId) -> PeerId {
    PeerId(*endpoint_id.as_bytes())
}

async fn write_queued(
    send: &mut SendStream,
    queued: &[crate::queue::Queued],
) -> Result<(), RoomError> {
    let mut batch = Vec::new();
    for item in queued {
        match &item.frame {
            Some(frame) => batch.extend_from_slice(frame),
            None => batch.extend_from_slice(&encode(&item.message)?),
        }
    }
    send.write_all(&batch).await.map_err(network)
}

/// Reads one frame; the length is checked before its bytes are read.
async fn read_frame(recv: &mut RecvStream) -> Result<Message, RoomError> {
    let mut header = [0u8; FRAME_HEADER];
    recv.read_exact(&mut header).await.map_err(network)?;
    let length = frame_length(header)?;
    let mut payload = vec![0u8; length];
    recv.read_exact(&mut payload).await.map_err(network)?;
    Ok(decode(&payload)?)
}

/// Every document's files, for `documents()` on either side.
fn all_files<'a>(
    ids: Vec<DocId>,
    doc: impl Fn(DocId) -> Option<&'a Doc>,
) -> Vec<(DocId, BTreeMap<String, String>)> {
    ids.into_iter()
        .filter_map(|id| doc(id).map(|d| (id, files::read_all(d))))
        .collect()
}

/// One connection's outgoing side: a queue the hub fills and a task that drains it.
struct Outbox {
    queue: std::sync::Mutex<OutQueue>,
    wake: Notify,
    closing: std::sync::Mutex<Option<String>>,
}

impl Outbox {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            queue: std::sync::Mutex::new(OutQueue::default()),
            wake: Notify::new(),
            closing: std::sync::Mutex::new(None),
        })
    }

    /// Whether messages wait to be written.
    fn queued(&self) -> bool {
        self.queue
            .lock()
            .map(|queue| !queue.is_empty())
            .unwrap_or(false)
    }

    fn push(&self, message: Message, frame: Option<Arc<[u8]>>) -> bool {
        let pushed = match self.queue.lock() {
            Ok(mut queue) => queue.push_encoded(message, frame).is_ok(),
            Err(_) => false,
        };
        self.wake.notify_one();
        pushed
    }

    fn close(&self, reason: String) {
        if let Ok(mut closing) = self.closing.lock() {
            closing.get_or_insert(reason);
        }
        self.wake.notify_one();
    }

    fn closing(&self) -> Option<String> {
        self.closing.lock().ok().and_then(|c| c.clone())
    }

    /// Writes what is queued, batch by batch, until closed or the stream fails.
    async fn run(&self, send: &mut SendStream) -> Result<Option<String>, RoomError> {
        loop {
            let batch = match self.queue.lock() {
                Ok(mut queue) => queue.drain(),
                Err(_) => return Ok(Some("internal error".into())),
            };
            if !batch.is_empty() {
                write_queued(send, &batch).await?;
                continue;
            }
            if let Some(reason) = self.closing() {
                return Ok(Some(reason));
            }
            self.wake.notified().await;
        }
    }
}

/// Where the hub's or a learner's history goes (see [`Journal`]).
pub type BoxedJournal = Box<dyn Journal>;

/// Something the hub reports to the instructor's window or terminal.
#[derive(Debug, Clone)]
pub enum HubReport {
    Changed(DocId),
    JoinRequest(coderoom_protocol::Participant),
    PeerDropped {
        peer: PeerId,
        reason: String,
    },
    /// Writing history failed (the room goes on; what is in memory is not lost until it stops).
    HistoryFailed(String),
    /// Too many wrong room codes: joining by code is paused until `Control::AllowCodeJoins`.
    CodeJoinsPaused {
        wrong_codes: usize,
    },
    /// A chat message, as relayed to everyone.
    Chat(ChatLine),
    /// A step of someone's run.
    Run(RunReport),
    /// Who is in the room changed.
    Participants(Vec<coderoom_protocol::Participant>),
    /// The room's rules changed (approval, lock, pen).
    Rules(crate::Rules),
    /// Whose hands are raised, after a change.
    Hands(Vec<PeerId>),
    /// Where learners are changed (`None`: that client left).
    Presence(Vec<crate::presence::PresenceChange>),
}

/// A change to a document that an editor showing it must take in: what came from elsewhere
/// (peers, the hub, a resync), never an edit made here, which the editor already has.
#[derive(Debug, Clone, PartialEq)]
pub enum DocumentChange {
    /// A yrs v1 update to apply.
    Update { doc: DocId, update: Vec<u8> },
    /// The replica was started again from the hub's copy: load it whole.
    Reset { doc: DocId },
}

/// Where an app's editors get [`DocumentChange`]s.
pub type DocumentChanges = mpsc::UnboundedReceiver<DocumentChange>;

/// Screens an editor's update against the replica, then applies it as an edit made here.
fn editor_update(doc: &Doc, update: &[u8]) -> Result<(), RoomError> {
    if update.len() > coderoom_protocol::MAX_UPDATE {
        return Err(RoomError::BadUpdate(format!(
            "an edit of {} MB is more than a room takes at once ({} MB)",
            update.len() / 1_000_000,
            coderoom_protocol::MAX_UPDATE / 1_000_000
        )));
    }
    sync::screen_for(doc, update, coderoom_protocol::MAX_UPDATE)?;
    sync::apply_screened(doc, update)
}

/// The hub's state, shared by its connections: each one hands its frames to the core under a
/// short lock and queues the resulting sends itself, so a keystroke crosses no extra task.
struct HubState {
    core: HubCore,
    outboxes: BTreeMap<ConnId, (PeerId, Arc<Outbox>)>,
    journal: Option<BoxedJournal>,
    /// Whether a history failure has been reported (once until writes work again).
    journal_failing: bool,
    reports: mpsc::UnboundedSender<HubReport>,
    /// The instructor's editors, when watching.
    editors: Option<mpsc::UnboundedSender<DocumentChange>>,
    started: Instant,
    next_conn: ConnId,
}

type SharedHub = Arc<std::sync::Mutex<HubState>>;

impl HubState {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Hands one event to the core. A panic inside (a bug in the hub or in yrs, set off by
    /// one peer's frame) is caught here: that connection is closed with the reason, and the
    /// room, its other connections and the router go on.
    fn handle(&mut self, event: HubEvent) -> Result<(), String> {
        let now = self.now();
        let core = &mut self.core;
        let actions = guarded(move || core.handle(now, event))?;
        self.carry_out(actions);
        Ok(())
    }

    fn carry_out(&mut self, actions: Vec<HubAction>) {
        // A relay is the same message to many connections in a row: encode it once.
        let mut last_frame: Option<(Message, Arc<[u8]>)> = None;
        for action in actions {
            match action {
                HubAction::Send { conn, message } => {
                    let frame = match &last_frame {
                        Some((last, frame)) if *last == message => Some(Arc::clone(frame)),
                        _ => encode(&message).ok().map(|bytes| {
                            let frame: Arc<[u8]> = bytes.into();
                            last_frame = Some((message.clone(), Arc::clone(&frame)));
                            frame
                        }),
                    };
                    if let Some((peer, outbox)) = self.outboxes.get(&conn) {
                        if !outbox.push(message, frame) {
                            let reason =
                                "fell too far behind; it will resync when it reconnects".to_owned();
                            let _ = self.reports.send(HubReport::PeerDropped {
                                peer: *peer,
                                reason: reason.clone(),
                            });
                            outbox.close(reason);
                        }
                    }
                }
                HubAction::Close { conn, reason } => {
                    if let Some((peer, outbox)) = self.outboxes.get(&conn) {
                        let _ = self.reports.send(HubReport::PeerDropped {
                            peer: *peer,
                            reason: reason.clone(),
                        });
                        outbox.close(reason);
                    }
                }
                HubAction::Persist {
                    doc,
                    author,
                    update,
                } => {
                    self.journal(|journal| journal.update(doc, Some(author), &update));
                    if author != self.core.settings().instructor {
                        if let Some(editors) = &self.editors {
                            let _ = editors.send(DocumentChange::Update { doc, update });
                        }
                    }
                }
                HubAction::Participants(list) => {
                    let _ = self.reports.send(HubReport::Participants(list));
                }
                HubAction::Presence(changes) => {
                    let _ = self.reports.send(HubReport::Presence(changes));
                }
                HubAction::Hands(hands) => {
                    let _ = self.reports.send(HubReport::Hands(hands));
                }
                HubAction::Chat(line) => {
                    self.journal(|journal| journal.chat(&line));
                    let _ = self.reports.send(HubReport::Chat(line));
                }
                HubAction::Standing(standing) => {
                    self.journal(|journal| journal.standing(&standing))
                }
                HubAction::Rules(rules) => {
                    self.journal(|journal| journal.rules(&rules));
                    let _ = self.reports.send(HubReport::Rules(rules));
                }
                HubAction::Run(report) => {
                    self.journal(|journal| journal.run(&report));
                    let _ = self.reports.send(HubReport::Run(report));
                }
                HubAction::Joined(participant) => {
                    if let Some(journal) = self.journal.as_mut() {
                        journal.joined(&participant);
                    }
                }
                HubAction::Left(peer) => {
                    if let Some(journal) = self.journal.as_mut() {
                        journal.left(peer);
                    }
                }
                HubAction::Changed(doc) => {
                    let _ = self.reports.send(HubReport::Changed(doc));
                }
                HubAction::JoinRequest(participant) => {
                    let _ = self.reports.send(HubReport::JoinRequest(participant));
                }
                HubAction::CodeJoinsPaused { wrong_codes } => {
                    let _ = self
                        .reports
                        .send(HubReport::CodeJoinsPaused { wrong_codes });
                }
            }
        }
    }
}

impl HubState {
    /// Writes to history, if kept; a failure is reported once until writes work again.
    fn journal(&mut self, write: impl FnOnce(&mut dyn Journal) -> Result<(), JournalError>) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        match (write(journal.as_mut()), self.journal_failing) {
            (Ok(()), _) => self.journal_failing = false,
            (Err(reason), false) => {
                self.journal_failing = true;
                let _ = self.reports.send(HubReport::HistoryFailed(reason));
            }
            (Err(_), true) => {}
        }
    }
}

/// Runs `work`, turning a panic into an error that says what it was.
fn guarded<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        tracing::error!("a message could not be handled: {what}");
        format!(
            "a message could not be handled (internal error: {what}); the connection was closed"
        )
    })
}

fn lock(shared: &SharedHub) -> std::sync::MutexGuard<'_, HubState> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Clone)]
struct HubProtocol {
    shared: SharedHub,
}

impl std::fmt::Debug for HubProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HubProtocol")
    }
}

impl ProtocolHandler for HubProtocol {
    async fn accept(&self, connection: Connection) -> Result<(), AcceptError> {
        let peer = peer_id(connection.remote_id());
        let (mut send, mut recv) = connection.accept_bi().await?;
        let outbox = Outbox::new();
        let conn = {
            let mut hub = lock(&self.shared);
            hub.next_conn += 1;
            let conn = hub.next_conn;
            hub.outboxes.insert(conn, (peer, Arc::clone(&outbox)));
            let _ = hub.handle(HubEvent::Connected { conn, peer });
            conn
        };
        let reader = async {
            loop {
                match read_frame(&mut recv).await {
                    Ok(message) => {
                        let mut hub = lock(&self.shared);
                        if let Err(reason) = hub.handle(HubEvent::Frame { conn, message }) {
                            let _ = hub.reports.send(HubReport::PeerDropped {
                                peer,
                                reason: reason.clone(),
                            });
                            return reason;
                        }
                    }
                    Err(error) => return error.to_string(),
                }
            }
        };
        let reason = tokio::select! {
            reason = reader => reason,
            written = outbox.run(&mut send) => match written {
                Ok(reason) => reason.unwrap_or_default(),
                Err(error) => error.to_string(),
            },
        };
        {
            let mut hub = lock(&self.shared);
            hub.outboxes.remove(&conn);
            let _ = hub.handle(HubEvent::Closed { conn });
        }
        // Let what was queued (a refusal, say) reach the peer before closing.
        let _ = send.finish();
        let _ = tokio::time::timeout(Duration::from_millis(500), send.stopped()).await;
        connection.close(1u32.into(), reason.as_bytes());
        Ok(())
    }
}

/// A hosted room: the hub's endpoint, its accept loop and the state its connections share.
pub struct Hub {
    router: Router,
    shared: SharedHub,
    settings: RoomSettings,
    reports: Mutex<mpsc::UnboundedReceiver<HubReport>>,
    /// The instructor's awareness client: new each time, as a restarted yjs client's is.
    presence_client: u64,
    presence_clock: AtomicU64,
}

impl Hub {
    /// Starts hosting `settings` on a new endpoint bound to `bind` (e.g. `0.0.0.0:0` for a LAN,
    /// `127.0.0.1:0` for tests). `core` may be restored from history.
    pub async fn start(
        secret: SecretKey,
        bind: SocketAddr,
        core: HubCore,
        journal: Option<BoxedJournal>,
    ) -> Result<Self, RoomError> {
        let endpoint = endpoint(secret, bind).await?;
        Ok(Self::start_on(endpoint, core, journal))
    }

    /// Like [`Hub::start`], and also announces the room on the LAN (mDNS) so learners can find
    /// it without a ticket and join with the short code.
    pub async fn start_on_lan(
        secret: SecretKey,
        bind: SocketAddr,
        core: HubCore,
        journal: Option<BoxedJournal>,
    ) -> Result<Self, RoomError> {
        let announce = announcement(core.settings().id, &core.settings().title);
        let lookup = mdns(&secret, true)?;
        let endpoint = endpoint_with(secret, bind, Some((lookup, Some(announce)))).await?;
        Ok(Self::start_on(endpoint, core, journal))
    }

    fn start_on(endpoint: Endpoint, core: HubCore, journal: Option<BoxedJournal>) -> Self {
        let settings = core.settings().clone();
        let (report_tx, reports) = mpsc::unbounded_channel();
        let shared = Arc::new(std::sync::Mutex::new(HubState {
            core,
            outboxes: BTreeMap::new(),
            journal,
            journal_failing: false,
            reports: report_tx,
            editors: None,
            started: Instant::now(),
            next_conn: 0,
        }));
        let router = Router::builder(endpoint)
            .accept(
                ALPN,
                HubProtocol {
                    shared: Arc::clone(&shared),
                },
            )
            .spawn();
        Self {
            router,
            shared,
            settings,
            reports: Mutex::new(reports),
            presence_client: rand::random::<u64>() >> 11,
            presence_clock: AtomicU64::new(1),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        self.router.endpoint()
    }

    /// The hub's address with every direct address it listens on.
    pub fn addr(&self) -> EndpointAddr {
        let endpoint = self.endpoint();
        let mut addr = endpoint.addr();
        for socket in endpoint.bound_sockets() {
            if !socket.ip().is_unspecified() {
                addr = addr.with_ip_addr(socket);
            }
        }
        addr
    }

    pub fn ticket(&self) -> Ticket {
        Ticket {
            hub: self.addr(),
            room: self.settings.id,
            secret: self.settings.secret,
        }
    }

    pub fn settings(&self) -> &RoomSettings {
        &self.settings
    }

    /// The room's rules as they stand (approval, lock, pen).
    pub fn rules(&self) -> crate::Rules {
        lock(&self.shared).core.rules()
    }

    pub async fn control(&self, control: Control) {
        let _ = lock(&self.shared).handle(HubEvent::Instructor(control));
    }

    /// The instructor writes in the room's chat.
    pub async fn say(&self, text: &str) {
        let _ = lock(&self.shared).handle(HubEvent::InstructorSays(text.to_owned()));
    }

    /// The instructor edits a document (usually the board).
    pub async fn edit(&self, doc: DocId, edit: impl FnOnce(&Doc) + Send + 'static) {
        let mut hub = lock(&self.shared);
        let actions = hub.core.edit(doc, edit);
        hub.carry_out(actions);
    }

    /// Applies an update made by the instructor's editor (a yjs update from the web view),
    /// screened like a peer's; it goes to the room as any edit of the instructor's does.
    pub async fn apply_editor_update(&self, doc: DocId, update: &[u8]) -> Result<(), RoomError> {
        let mut hub = lock(&self.shared);
        let mut outcome = Ok(());
        let actions = hub
            .core
            .edit(doc, |replica| outcome = editor_update(replica, update));
        hub.carry_out(actions);
        outcome
    }

    /// A step of a run the instructor started here: kept in history and shown to the readers
    /// of the document it runs from.
    pub async fn report_run(&self, run: u64, step: RunStep) {
        let _ = lock(&self.shared).handle(HubEvent::InstructorRun { run, step });
    }

    /// Where the instructor is (file, cursor), for learners' editors and lecture mode.
    pub async fn set_presence(&self, presence: &crate::presence::Presence) {
        let clock = self.presence_clock.fetch_add(1, Ordering::Relaxed) as u32;
        let payload = crate::presence::encode(self.presence_client, clock, Some(presence));
        let _ = lock(&self.shared).handle(HubEvent::InstructorPresence(payload));
    }

    /// From now on, every change to a document from elsewhere (learners' edits) comes out of
    /// the returned receiver, for the instructor's editors (replacing an earlier watcher).
    pub fn watch_documents(&self) -> DocumentChanges {
        let (sender, receiver) = mpsc::unbounded_channel();
        lock(&self.shared).editors = Some(sender);
        receiver
    }

    /// A document's whole state (a yrs v1 update), for an editor opening it.
    pub fn document_state(&self, doc: DocId) -> Option<Vec<u8>> {
        lock(&self.shared).core.doc(doc).map(files::full_state)
    }

    pub async fn files(&self, doc: DocId) -> Option<BTreeMap<String, String>> {
        lock(&self.shared).core.doc(doc).map(files::read_all)
    }

    /// Every document with its files.
    pub async fn documents(&self) -> Vec<(DocId, BTreeMap<String, String>)> {
        let hub = lock(&self.shared);
        all_files(hub.core.doc_ids(), |id| hub.core.doc(id))
    }

    pub async fn participants(&self) -> Vec<coderoom_protocol::Participant> {
        lock(&self.shared).core.participants()
    }

    /// The names of everyone connected now, in the participants' order.
    pub async fn online(&self) -> Vec<String> {
        self.participants()
            .await
            .into_iter()
            .filter(|p| p.online)
            .map(|p| p.name)
            .collect()
    }

    /// The next thing to tell the instructor.
    pub async fn next_report(&self) -> Option<HubReport> {
        self.reports.lock().await.recv().await
    }

    /// Stops hosting (see [`Hub::close`]), ignoring a failure to finish history.
    pub async fn shutdown(self) {
        let _ = self.close().await;
    }

    /// Ends the class: everyone is told "the instructor ended the class" (their apps stop
    /// reconnecting), then hosting stops as [`Hub::close`] does.
    pub async fn end(self) -> Result<(), JournalError> {
        let _ = lock(&self.shared).handle(HubEvent::Instructor(Control::EndClass));
        // Each connection sends what is queued (the refusal) and closes; wait for that, briefly.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while !lock(&self.shared).outboxes.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.close().await
    }

    /// Stops hosting: connections close, then history is finished (runs still going, last
    /// snapshots, the session marked ended). A failure to finish history is returned; the room
    /// is closed either way.
    pub async fn close(self) -> Result<(), JournalError> {
        let _ = self.router.shutdown().await;
        let journal = lock(&self.shared).journal.take();
        match journal {
            Some(mut journal) => journal.finish(),
            None => Ok(()),
        }
    }
}

/// What a joined peer reports.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerReport {
    Joined {
        role: Role,
        title: String,
    },
    Waiting,
    Changed(DocId),
    EditRefused {
        doc: DocId,
        reason: String,
    },
    Disconnected(String),
    Participants(Vec<coderoom_protocol::Participant>),
    Pen(Option<PeerId>),
    /// The instructor changed this peer's role.
    RoleChanged(Role),
    /// Others' presence changed (`None`: that client left).
    Presence(Vec<crate::presence::PresenceChange>),
    /// The hub turned this peer away for good (it no longer reconnects).
    Refused(String),
    /// Writing this learner's own history failed.
    HistoryFailed(String),
    /// A chat message, as the hub relayed it (this peer's own too).
    Chat(ChatLine),
    /// A chat message of this peer's was not relayed, and why.
    ChatDropped(String),
    /// A step of someone else's run.
    Run(RunReport),
    Follow {
        leader: Option<PeerId>,
        binding: bool,
    },
    /// Away from the hub: the next attempt to reach it is in this long.
    Retrying(Duration),
    /// Whether learners may write in the chat now.
    ChatAllowed(bool),
    /// Whose hands are raised.
    Hands(Vec<PeerId>),
}

/// A peer's state, shared by its connection's reader, its edits and its reconnect loop, as the
/// hub's is: an arriving update is applied where it is read, an edit queued where it is made.
struct PeerState {
    core: PeerCore,
    /// The live connection's outgoing queue, if connected.
    outbox: Option<Arc<Outbox>>,
    reports: mpsc::UnboundedSender<PeerReport>,
    /// Whether the current connection got as far as joining.
    joined: bool,
    /// The learner's own history, when kept.
    journal: Option<BoxedJournal>,
    /// Chat written while away from the hub, sent when back.
    unsent_chat: Vec<Message>,
    /// Who the hub last said was online (for the learner's history).
    here: BTreeMap<PeerId, coderoom_protocol::Participant>,
    /// The learner's editors, when watching.
    editors: Option<mpsc::UnboundedSender<DocumentChange>>,
}

type SharedPeer = Arc<std::sync::Mutex<PeerState>>;

fn lock_peer(shared: &SharedPeer) -> std::sync::MutexGuard<'_, PeerState> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PeerState {
    fn carry_out(&mut self, actions: Vec<PeerAction>) {
        for action in actions {
            let report = match action {
                PeerAction::Send(message) => {
                    if let Some(outbox) = &self.outbox {
                        if !outbox.push(message, None) {
                            outbox.close("the hub stopped reading".into());
                        }
                    }
                    continue;
                }
                PeerAction::Disconnect(reason) => {
                    if let Some(outbox) = &self.outbox {
                        outbox.close(reason);
                    }
                    continue;
                }
                PeerAction::Applied { doc, update, mine } => {
                    if let (Some(editors), false) = (&self.editors, mine) {
                        let _ = editors.send(DocumentChange::Update {
                            doc,
                            update: update.clone(),
                        });
                    }
                    let author = mine.then(|| self.core.me());
                    match self.journal(|journal| journal.update(doc, author, &update)) {
                        Some(failed) => failed,
                        None => continue,
                    }
                }
                PeerAction::Chat(line) => {
                    if let Some(failed) = self.journal(|journal| journal.chat(&line)) {
                        let _ = self.reports.send(failed);
                    }
                    PeerReport::Chat(line)
                }
                PeerAction::ChatDropped(reason) => PeerReport::ChatDropped(reason),
                PeerAction::Run(report) => {
                    if let Some(failed) = self.journal(|journal| journal.run(&report)) {
                        let _ = self.reports.send(failed);
                    }
                    PeerReport::Run(report)
                }
                PeerAction::Reset(doc) => {
                    if let Some(editors) = &self.editors {
                        let _ = editors.send(DocumentChange::Reset { doc });
                    }
                    let Some(state) = self.core.doc(doc).map(files::full_state) else {
                        continue;
                    };
                    match self.journal(|journal| journal.reset(doc, &state)) {
                        Some(failed) => failed,
                        None => continue,
                    }
                }
                PeerAction::Changed(doc) => PeerReport::Changed(doc),
                PeerAction::Joined { role, title } => {
                    self.joined = true;
                    if let Some(outbox) = &self.outbox {
                        for message in std::mem::take(&mut self.unsent_chat) {
                            outbox.push(message, None);
                        }
                    }
                    PeerReport::Joined { role, title }
                }
                PeerAction::WaitingForApproval => PeerReport::Waiting,
                PeerAction::Refused(reason) => PeerReport::Disconnected(reason.to_string()),
                PeerAction::EditRefused { doc, reason } => PeerReport::EditRefused { doc, reason },
                PeerAction::Participants(list) => {
                    self.note_who_is_here(&list);
                    PeerReport::Participants(list)
                }
                PeerAction::Pen(holder) => PeerReport::Pen(holder),
                PeerAction::RoleChanged(role) => PeerReport::RoleChanged(role),
                PeerAction::Follow { leader, binding } => PeerReport::Follow { leader, binding },
                PeerAction::Presence(changes) => PeerReport::Presence(changes),
                PeerAction::ChatAllowed(on) => PeerReport::ChatAllowed(on),
                PeerAction::Hands(hands) => PeerReport::Hands(hands),
            };
            let _ = self.reports.send(report);
        }
    }
}

impl PeerState {
    /// A learner's history keeps who was in the class too: arrivals and departures, from the
    /// hub's lists of participants.
    fn note_who_is_here(&mut self, list: &[coderoom_protocol::Participant]) {
        let online: BTreeMap<PeerId, coderoom_protocol::Participant> = list
            .iter()
            .filter(|p| p.online)
            .map(|p| (p.id, p.clone()))
            .collect();
        if let Some(journal) = self.journal.as_mut() {
            for (id, participant) in &online {
                if !self.here.contains_key(id) {
                    journal.joined(participant);
                }
            }
            for id in self.here.keys() {
                if !online.contains_key(id) {
                    journal.left(*id);
                }
            }
        }
        self.here = online;
    }

    /// Writes to this learner's history, if kept; the report to make when that failed.
    fn journal(
        &mut self,
        write: impl FnOnce(&mut dyn Journal) -> Result<(), JournalError>,
    ) -> Option<PeerReport> {
        let journal = self.journal.as_mut()?;
        write(journal.as_mut()).err().map(PeerReport::HistoryFailed)
    }
}

/// A learner (or observer) in a room: reconnects with backoff until refused or stopped.
pub struct Peer {
    shared: SharedPeer,
    presence_client: u64,
    presence_clock: AtomicU64,
    reports: Mutex<mpsc::UnboundedReceiver<PeerReport>>,
    endpoint: Endpoint,
    me: PeerId,
    task: tokio::task::JoinHandle<Result<(), RoomError>>,
}

/// Chat messages kept while away from the hub.
const MAX_UNSENT_CHAT: usize = 20;

/// Connection backoff: from 100 ms doubling to 5 s.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long a first connection waits for the hub to answer before the peer gives up.
const CONNECT_WAIT: Duration = Duration::from_secs(5);

impl Peer {
    pub async fn join(
        secret: SecretKey,
        bind: SocketAddr,
        hub: EndpointAddr,
        room: coderoom_protocol::RoomId,
        credential: Credential,
        name: String,
        colour: String,
    ) -> Result<Self, RoomError> {
        Self::rejoin(
            secret,
            bind,
            hub,
            room,
            credential,
            (name, colour),
            Vec::new(),
        )
        .await
    }

    /// Like [`Peer::join`], for a room this peer was in before: `earlier` holds its documents
    /// as its own history last had them (the workspace, with edits made while the hub was
    /// away), which the handshake then offers the hub, so nothing typed offline is lost across
    /// a restart of the app. Such a peer waits for a hub that does not answer (it may be
    /// restarting) instead of giving up.
    pub async fn rejoin(
        secret: SecretKey,
        bind: SocketAddr,
        hub: EndpointAddr,
        room: coderoom_protocol::RoomId,
        credential: Credential,
        (name, colour): (String, String),
        earlier: Vec<(DocId, Vec<u8>)>,
    ) -> Result<Self, RoomError> {
        let endpoint = endpoint(secret, bind).await?;
        let peer = Self::join_on(endpoint, hub, room, credential, name, colour, earlier)?;
        Ok(peer)
    }

    /// Joins a room found with [`nearby_rooms`], with the code the instructor reads out; the
    /// hub's addresses come from mDNS.
    pub async fn join_nearby(
        secret: SecretKey,
        bind: SocketAddr,
        room: &NearbyRoom,
        code: String,
        name: String,
        colour: String,
    ) -> Result<Self, RoomError> {
        let lookup = mdns(&secret, false)?;
        let endpoint = endpoint_with(secret, bind, Some((lookup, None))).await?;
        Self::join_on(
            endpoint,
            EndpointAddr::new(room.hub),
            room.room,
            Credential::Code(code),
            name,
            colour,
            Vec::new(),
        )
    }

    fn join_on(
        endpoint: Endpoint,
        hub: EndpointAddr,
        room: coderoom_protocol::RoomId,
        credential: Credential,
        name: String,
        colour: String,
        earlier: Vec<(DocId, Vec<u8>)>,
    ) -> Result<Self, RoomError> {
        let me = peer_id(endpoint.id());
        let mut core = PeerCore::new(
            me,
            room,
            credential,
            name,
            colour,
            rand::random::<u64>() >> 12,
        );
        let patient = !earlier.is_empty();
        for (doc, state) in earlier {
            core.restore(doc, &state)?;
        }
        let (report_tx, reports) = mpsc::unbounded_channel();
        let shared = Arc::new(std::sync::Mutex::new(PeerState {
            core,
            outbox: None,
            reports: report_tx,
            joined: false,
            journal: None,
            here: BTreeMap::new(),
            unsent_chat: Vec::new(),
            editors: None,
        }));
        let task = tokio::spawn(peer_loop(
            endpoint.clone(),
            hub,
            Arc::clone(&shared),
            patient,
        ));
        Ok(Self {
            shared,
            // Awareness client ids are 53-bit in yjs.
            presence_client: rand::random::<u64>() >> 11,
            presence_clock: AtomicU64::new(1),
            reports: Mutex::new(reports),
            endpoint,
            me,
            task,
        })
    }

    pub fn id(&self) -> PeerId {
        self.me
    }

    pub fn workspace(&self) -> DocId {
        DocId::Workspace(self.me)
    }

    /// Edits a local replica (online or offline); the change reaches the hub when connected.
    pub async fn edit(&self, doc: DocId, edit: impl FnOnce(&Doc) + Send + 'static) {
        let mut peer = lock_peer(&self.shared);
        let actions = peer.core.edit(doc, edit);
        peer.carry_out(actions);
    }

    /// Applies an update made by this learner's editor (a yjs update from the web view),
    /// screened first; it reaches the hub as any edit made here does.
    pub async fn apply_editor_update(&self, doc: DocId, update: &[u8]) -> Result<(), RoomError> {
        let mut peer = lock_peer(&self.shared);
        let mut outcome = Ok(());
        let actions = peer
            .core
            .edit(doc, |replica| outcome = editor_update(replica, update));
        peer.carry_out(actions);
        outcome
    }

    /// From now on, every change to a replica from elsewhere (the hub, a resync) comes out of
    /// the returned receiver, for this learner's editors (replacing an earlier watcher).
    pub fn watch_documents(&self) -> DocumentChanges {
        let (sender, receiver) = mpsc::unbounded_channel();
        lock_peer(&self.shared).editors = Some(sender);
        receiver
    }

    /// A replica's whole state (a yrs v1 update), for an editor opening it.
    pub fn document_state(&self, doc: DocId) -> Option<Vec<u8>> {
        lock_peer(&self.shared).core.doc(doc).map(files::full_state)
    }

    /// Whether the hub would take this learner's edits to `doc` now (role and pen).
    pub fn may_write(&self, doc: DocId) -> bool {
        lock_peer(&self.shared).core.may_write(doc)
    }

    /// Whether this peer has edits the hub has not been sent yet (typed while away from it, or
    /// still queued): an app asks before closing then (they stay in the peer's own history,
    /// and [`Peer::rejoin`] brings them back).
    pub fn has_unsent_edits(&self) -> bool {
        let peer = lock_peer(&self.shared);
        peer.core.has_unsent_edits() || peer.outbox.as_ref().is_some_and(|outbox| outbox.queued())
    }

    /// Shares where this peer is (file, cursor, selection) with the room.
    pub async fn set_presence(&self, presence: &crate::presence::Presence) {
        let clock = self.presence_clock.fetch_add(1, Ordering::Relaxed) as u32;
        let payload = crate::presence::encode(self.presence_client, clock, Some(presence));
        self.send(Message::Awareness { payload }).await;
    }

    /// Raises or lowers this learner's hand ("I'm stuck"), when connected.
    pub async fn raise_hand(&self, raised: bool) {
        self.send(Message::Hand { raised }).await;
    }

    /// Writes `text` in the room's chat (it comes back as a `PeerReport::Chat` once relayed).
    /// Away from the hub, it is sent when this peer is back (up to 20 messages wait).
    pub async fn say(&self, text: &str) -> Result<(), RoomError> {
        if text.trim().chars().count() > coderoom_protocol::MAX_CHAT_CHARS {
            return Err(RoomError::Network(format!(
                "a chat message is at most {} characters",
                coderoom_protocol::MAX_CHAT_CHARS
            )));
        }
        if self.task.is_finished() {
            return Err(RoomError::Network("this peer has left the room".into()));
        }
        let message = Message::Chat(ChatLine {
            from: self.me,
            name: String::new(),
            text: text.to_owned(),
        });
        let mut peer = lock_peer(&self.shared);
        if let (Some(outbox), true) = (&peer.outbox, peer.joined) {
            if outbox.push(message.clone(), None) {
                return Ok(());
            }
        }
        if peer.unsent_chat.len() >= MAX_UNSENT_CHAT {
            return Err(RoomError::Network(format!(
                "not connected to the hub, and {MAX_UNSENT_CHAT} messages already wait to be sent"
            )));
        }
        // Sent when this peer is back in the room.
        peer.unsent_chat.push(message);
        Ok(())
    }

    /// A step of a run of this peer's: kept in its own history, and sent to the hub (which
    /// records it and shows it to the document's readers) when connected.
    pub async fn report_run(&self, run: u64, step: RunStep) {
        let report = RunReport {
            by: self.me,
            run,
            step,
        };
        let mut peer = lock_peer(&self.shared);
        if let Some(failed) = peer.journal(|journal| journal.run(&report)) {
            let _ = peer.reports.send(failed);
        }
        if let (Some(outbox), true) = (&peer.outbox, peer.joined) {
            outbox.push(Message::Run(report), None);
        }
    }

    /// Sends a raw message (for tests of the hub's defences).
    pub async fn send(&self, message: Message) {
        lock_peer(&self.shared).carry_out(vec![PeerAction::Send(message)]);
    }

    pub async fn files(&self, doc: DocId) -> Option<BTreeMap<String, String>> {
        lock_peer(&self.shared).core.doc(doc).map(files::read_all)
    }

    /// Keeps this learner's own history in `journal` from now on. It first gets every replica
    /// as it stands, so nothing is missed whenever it is attached.
    pub fn keep_history(&self, journal: BoxedJournal) -> Result<(), JournalError> {
        let mut peer = lock_peer(&self.shared);
        let mut journal = journal;
        for id in peer.core.doc_ids() {
            if let Some(doc) = peer.core.doc(id) {
                journal.reset(id, &files::full_state(doc))?;
            }
        }
        for participant in peer.here.values() {
            journal.joined(participant);
        }
        peer.journal = Some(journal);
        Ok(())
    }

    /// Reads a replica in place (no copy of its files), e.g. a file's length or an encoded state.
    pub fn read<R>(&self, doc: DocId, read: impl FnOnce(&Doc) -> R) -> Option<R> {
        lock_peer(&self.shared).core.doc(doc).map(read)
    }

    pub async fn documents(&self) -> Vec<(DocId, BTreeMap<String, String>)> {
        let peer = lock_peer(&self.shared);
        all_files(peer.core.doc_ids(), |id| peer.core.doc(id))
    }

    pub async fn next_report(&self) -> Option<PeerReport> {
        self.reports.lock().await.recv().await
    }

    /// Ends when the hub refuses us for good (with why) or the peer is stopped.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Leaves the room (see [`Peer::close`]), ignoring a failure to finish history.
    pub async fn leave(self) {
        let _ = self.close().await;
    }

    /// Leaves the room, then finishes this learner's history; a failure to finish it is
    /// returned.
    pub async fn close(self) -> Result<(), JournalError> {
        self.task.abort();
        self.endpoint.close().await;
        let journal = lock_peer(&self.shared).journal.take();
        match journal {
            Some(mut journal) => journal.finish(),
            None => Ok(()),
        }
    }
}

enum Session {
    Refused(Refusal),
    Dropped(String),
}

async fn peer_loop(
    endpoint: Endpoint,
    hub: EndpointAddr,
    shared: SharedPeer,
    patient: bool,
) -> Result<(), RoomError> {
    let mut backoff = BACKOFF_START;
    let mut ever_joined = patient;
    loop {
        let session = connect_once(&endpoint, &hub, &shared).await;
        let joined = {
            let mut peer = lock_peer(&shared);
            peer.outbox = None;
            let actions = peer.core.handle(PeerEvent::Disconnected);
            peer.carry_out(actions);
            std::mem::take(&mut peer.joined)
        };
        let reports = lock_peer(&shared).reports.clone();
        if joined {
            backoff = BACKOFF_START;
            ever_joined = true;
        }
        match session {
            // A ticket whose room is not running: say so instead of trying forever. (Once in
            // the room, a hub that goes away is waited for: it may be restarting.)
            Err(RoomError::Unreachable(reason)) if !ever_joined => {
                let _ = reports.send(PeerReport::Disconnected(reason.clone()));
                let _ = reports.send(PeerReport::Refused(reason.clone()));
                return Err(RoomError::Unreachable(reason));
            }
            Ok(Session::Refused(reason)) => {
                let _ = reports.send(PeerReport::Disconnected(reason.to_string()));
                let _ = reports.send(PeerReport::Refused(reason.to_string()));
                return Err(RoomError::Refused(reason));
            }
            Ok(Session::Dropped(reason)) => {
                let _ = reports.send(PeerReport::Disconnected(reason));
            }
            Err(error) => {
                let _ = reports.send(PeerReport::Disconnected(error.to_string()));
            }
        }
        // Offline: edits go on in the replicas meanwhile.
        let jitter =
            Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 2 + 1));
        let _ = reports.send(PeerReport::Retrying(backoff + jitter));
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn connect_once(
    endpoint: &Endpoint,
    hub: &EndpointAddr,
    shared: &SharedPeer,
) -> Result<Session, RoomError> {
    let connection = tokio::time::timeout(CONNECT_WAIT, endpoint.connect(hub.clone(), ALPN))
        .await
        .map_err(|_| {
            RoomError::Unreachable(format!(
                "no answer from the instructor's laptop after {} s: are you on the same Wi-Fi, \
                 and does its firewall let UDP through?",
                CONNECT_WAIT.as_secs()
            ))
        })?
        .map_err(network)?;
    let (mut send, mut recv) = connection.open_bi().await.map_err(network)?;
    let outbox = Outbox::new();
    {
        let mut peer = lock_peer(shared);
        peer.outbox = Some(Arc::clone(&outbox));
        let actions = peer.core.handle(PeerEvent::Connected);
        peer.carry_out(actions);
    }
    let reader = async {
        loop {
            match read_frame(&mut recv).await {
                Ok(Message::Refused(reason)) => return Session::Refused(reason),
                Ok(message) => {
                    let mut peer = lock_peer(shared);
                    let core = &mut peer.core;
                    // A hub's frame that sets off a panic ends this connection, not the app.
                    match guarded(move || core.handle(PeerEvent::Frame(message))) {
                        Ok(actions) => peer.carry_out(actions),
                        Err(reason) => return Session::Dropped(reason),
                    }
                }
                Err(error) => return Session::Dropped(error.to_string()),
            }
        }
    };
    let session = tokio::select! {
        session = reader => session,
        written = outbox.run(&mut send) => Session::Dropped(match written {
            Ok(reason) => reason.unwrap_or_else(|| "closed".into()),
            Err(error) => error.to_string(),
        }),
    };
    connection.close(0u32.into(), b"bye");
    Ok(session)
}
