//! The hub and 30 peers in memory under seeded faults: random delays (so messages from
//! different peers interleave in any order), dropped connections, peer restarts and hub restarts
//! (the hub rebuilt from what it persisted). After the faults stop and everyone reconnects, every
//! replica of every document must equal the hub's, for every seed.
//!
//! `CODEROOM_SIM_SEEDS=N` runs N seeds (default 1,000); `CODEROOM_SIM_SEED=S` replays one.

use std::collections::{BTreeMap, VecDeque};

use coderoom_protocol::{Control, Credential, DocId, JoinSecret, Message, PeerId, RoomId};
use coderoom_room::core::hub::ConnId;
use coderoom_room::{
    files, HubAction, HubCore, HubEvent, PeerAction, PeerCore, PeerEvent, RoomSettings,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PEERS: usize = 30;
const FAULT_TICKS: u64 = 400;

struct Link {
    peer: usize,
    to_hub: VecDeque<(u64, Message)>,
    to_peer: VecDeque<(u64, Message)>,
}

struct Sim {
    rng: StdRng,
    now: u64,
    settings: RoomSettings,
    hub: HubCore,
    hub_generation: u64,
    persisted: Vec<(DocId, Vec<u8>)>,
    peers: Vec<PeerCore>,
    /// When each disconnected peer tries again.
    reconnect_at: Vec<Option<u64>>,
    links: BTreeMap<ConnId, Link>,
    next_conn: ConnId,
    peer_restarts: u64,
}

fn peer_id(index: usize) -> PeerId {
    let mut id = [0u8; 32];
    id[0] = 1;
    id[1] = index as u8;
    PeerId(id)
}

impl Sim {
    fn new(seed: u64) -> Self {
        let settings = RoomSettings {
            id: RoomId([3; 16]),
            title: "Sim".into(),
            secret: JoinSecret([4; 32]),
            code: "123456".into(),
            instructor: PeerId([0; 32]),
            instructor_name: "Teacher".into(),
        };
        let peers = (0..PEERS)
            .map(|i| Self::fresh_peer(&settings, i, seed, 0))
            .collect();
        Self {
            rng: StdRng::seed_from_u64(seed),
            now: 0,
            hub: HubCore::new(settings.clone(), 1 << 40),
            hub_generation: 0,
            settings,
            persisted: Vec::new(),
            peers,
            reconnect_at: vec![Some(0); PEERS],
            links: BTreeMap::new(),
            next_conn: 1,
            peer_restarts: 0,
        }
    }

    fn fresh_peer(settings: &RoomSettings, index: usize, seed: u64, restarts: u64) -> PeerCore {
        PeerCore::new(
            peer_id(index),
            settings.id,
            Credential::Secret(settings.secret),
            format!("Learner {index}"),
            "#3366cc".into(),
            ((seed % 1000) << 30) + ((index as u64) << 20) + (restarts << 12),
        )
    }

    fn delay(&mut self) -> u64 {
        // Mostly LAN-fast, sometimes Wi-Fi slow.
        if self.rng.random_bool(0.1) {
            self.rng.random_range(20..200)
        } else {
            self.rng.random_range(0..5)
        }
    }

    fn conn_of(&self, peer: usize) -> Option<ConnId> {
        self.links
            .iter()
            .find(|(_, l)| l.peer == peer)
            .map(|(id, _)| *id)
    }

    fn hub_actions(&mut self, actions: Vec<HubAction>) {
        for action in actions {
            match action {
                HubAction::Send { conn, message } => {
                    let at = self.now + self.delay();
                    if let Some(link) = self.links.get_mut(&conn) {
                        let at = at.max(link.to_peer.back().map_or(0, |(t, _)| *t));
                        link.to_peer.push_back((at, message));
                    }
                }
                HubAction::Close { conn, reason } => panic!("hub closed {conn}: {reason}"),
                HubAction::Persist { doc, update, .. } => self.persisted.push((doc, update)),
                HubAction::Changed(_)
                | HubAction::JoinRequest(_)
                | HubAction::Joined(_)
                | HubAction::Left(_)
                | HubAction::Chat(_)
                | HubAction::Run(_)
                | HubAction::Standing(_)
                | HubAction::Rules(_)
                | HubAction::Participants(_)
                | HubAction::Presence(_)
                | HubAction::Hands(_)
                | HubAction::CodeJoinsPaused { .. } => {}
            }
        }
    }

    fn peer_actions(&mut self, peer: usize, actions: Vec<PeerAction>) {
        for action in actions {
            match action {
                PeerAction::Send(message) => {
                    let at = self.now + self.delay();
                    if let Some(conn) = self.conn_of(peer) {
                        let link = self.links.get_mut(&conn).expect("link");
                        let at = at.max(link.to_hub.back().map_or(0, |(t, _)| *t));
                        link.to_hub.push_back((at, message));
                    }
                }
                PeerAction::Disconnect(reason) => panic!("peer {peer} disconnected: {reason}"),
                PeerAction::Refused(reason) => panic!("peer {peer} refused: {reason}"),
                _ => {}
            }
        }
    }

    fn drop_link(&mut self, conn: ConnId) {
        if let Some(link) = self.links.remove(&conn) {
            let actions = self.hub.handle(self.now, HubEvent::Closed { conn });
            self.hub_actions(actions);
            let actions = self.peers[link.peer].handle(PeerEvent::Disconnected);
            self.peer_actions(link.peer, actions);
            let backoff = self.rng.random_range(10..100);
            self.reconnect_at[link.peer] = Some(self.now + backoff);
        }
    }

    fn connect(&mut self, peer: usize) {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.links.insert(
            conn,
            Link {
                peer,
                to_hub: VecDeque::new(),
                to_peer: VecDeque::new(),
            },
        );
        self.reconnect_at[peer] = None;
        let actions = self.hub.handle(
            self.now,
            HubEvent::Connected {
                conn,
                peer: peer_id(peer),
            },
        );
        self.hub_actions(actions);
        let actions = self.peers[peer].handle(PeerEvent::Connected);
        self.peer_actions(peer, actions);
    }

    fn tick(&mut self, faults: bool) {
        self.now += 1;
        // Edits: a few learners in their workspaces, the instructor on the board, and now and
        // then a learner trying the board without the pen (refused, then reset).
        for _ in 0..3 {
            let peer = self.rng.random_range(0..PEERS);
            let doc = if self.rng.random_bool(0.05) {
                DocId::Board
            } else {
                DocId::Workspace(peer_id(peer))
            };
            let mut rng = StdRng::seed_from_u64(self.rng.random());
            let mut edit_rng = StdRng::seed_from_u64(rng.random());
            let actions = {
                let sim_edit = |doc: &yrs::Doc| Self::edit_with(doc, &mut edit_rng);
                self.peers[peer].edit(doc, sim_edit)
            };
            self.peer_actions(peer, actions);
        }
        if self.rng.random_bool(0.3) {
            let mut edit_rng = StdRng::seed_from_u64(self.rng.random());
            let actions = self
                .hub
                .edit(DocId::Board, |doc| Self::edit_with(doc, &mut edit_rng));
            self.hub_actions(actions);
        }
        if self.rng.random_bool(0.01) {
            let holder = if self.rng.random_bool(0.5) {
                Some(peer_id(self.rng.random_range(0..PEERS)))
            } else {
                None
            };
            let actions = self
                .hub
                .handle(self.now, HubEvent::Instructor(Control::GivePen(holder)));
            self.hub_actions(actions);
        }
        if faults {
            if self.rng.random_bool(0.02) {
                let conns: Vec<ConnId> = self.links.keys().copied().collect();
                if !conns.is_empty() {
                    let conn = conns[self.rng.random_range(0..conns.len())];
                    self.drop_link(conn);
                }
            }
            if self.rng.random_bool(0.003) {
                let peer = self.rng.random_range(0..PEERS);
                if let Some(conn) = self.conn_of(peer) {
                    self.drop_link(conn);
                }
                self.peer_restarts += 1;
                self.peers[peer] =
                    Self::fresh_peer(&self.settings, peer, self.rng.random(), self.peer_restarts);
            }
            if self.rng.random_bool(0.002) {
                self.restart_hub();
            }
        }
        self.reconnect_due();
        self.deliver_due(true);
    }

    fn reconnect_due(&mut self) {
        for peer in 0..PEERS {
            if self.reconnect_at[peer].is_some_and(|at| at <= self.now)
                && self.conn_of(peer).is_none()
            {
                self.connect(peer);
            }
        }
    }

    /// The next message due on `conn`, hub-bound first, taken off its queue.
    fn take_due(&mut self, conn: ConnId) -> Option<(Option<usize>, Message)> {
        let link = self.links.get_mut(&conn)?;
        if link.to_hub.front().is_some_and(|(t, _)| *t <= self.now) {
            return link.to_hub.pop_front().map(|(_, message)| (None, message));
        }
        if link.to_peer.front().is_some_and(|(t, _)| *t <= self.now) {
            let peer = link.peer;
            return link
                .to_peer
                .pop_front()
                .map(|(_, message)| (Some(peer), message));
        }
        None
    }

    /// Delivers what is due, link by link (in a shuffled order when asked).
    fn deliver_due(&mut self, shuffle: bool) {
        let mut conns: Vec<ConnId> = self.links.keys().copied().collect();
        if shuffle {
            for i in (1..conns.len()).rev() {
                let j = self.rng.random_range(0..=i);
                conns.swap(i, j);
            }
        }
        for conn in conns {
            while let Some((to_peer, message)) = self.take_due(conn) {
                match to_peer {
                    None => {
                        let actions = self.hub.handle(self.now, HubEvent::Frame { conn, message });
                        self.hub_actions(actions);
                    }
                    Some(peer) => {
                        let actions = self.peers[peer].handle(PeerEvent::Frame(message));
                        self.peer_actions(peer, actions);
                    }
                }
            }
        }
    }

    fn edit_with(doc: &yrs::Doc, rng: &mut StdRng) {
        let length = files::len(doc, "main.py");
        if length > 0 && rng.random_bool(0.3) {
            let at = rng.random_range(0..length);
            files::remove(doc, "main.py", at, rng.random_range(1..4));
        } else {
            let at = rng.random_range(0..=length);
            let chunk = ["a", "b", "c", "\n", "é", "ß", "def f():", " "][rng.random_range(0..8)];
            files::insert(doc, "main.py", at, chunk);
        }
    }

    fn restart_hub(&mut self) {
        let conns: Vec<ConnId> = self.links.keys().copied().collect();
        for conn in conns {
            let link = self.links.remove(&conn).expect("link");
            let actions = self.peers[link.peer].handle(PeerEvent::Disconnected);
            self.peer_actions(link.peer, actions);
            self.reconnect_at[link.peer] = Some(self.now + self.rng.random_range(10..100));
        }
        self.hub_generation += 1;
        self.hub = HubCore::restore(
            self.settings.clone(),
            (1 << 40) + (self.hub_generation << 20),
            self.persisted.clone(),
        )
        .expect("restore from the persisted updates");
    }

    fn quiet(&self) -> bool {
        self.links
            .values()
            .all(|l| l.to_hub.is_empty() && l.to_peer.is_empty())
            && self.reconnect_at.iter().all(Option::is_none)
            && self.peers.iter().all(PeerCore::is_joined)
    }
}

fn run_seed(seed: u64) {
    let mut sim = Sim::new(seed);
    for _ in 0..FAULT_TICKS {
        sim.tick(true);
    }
    // Calm: no faults, no edits; let everyone reconnect and drain.
    let mut calm = 0;
    while !sim.quiet() {
        sim.now += 1;
        sim.reconnect_due();
        sim.deliver_due(false);
        calm += 1;
        assert!(calm < 100_000, "seed {seed}: never went quiet");
    }
    // Every replica equals the hub's copy.
    for doc in sim.hub.doc_ids() {
        let expected = files::read_all(sim.hub.doc(doc).expect("hub doc"));
        for (index, peer) in sim.peers.iter().enumerate() {
            if let Some(replica) = peer.doc(doc) {
                assert_eq!(
                    files::read_all(replica),
                    expected,
                    "seed {seed}: peer {index}'s {doc:?} differs from the hub's (replay with CODEROOM_SIM_SEED={seed})"
                );
            }
        }
    }
    for (index, peer) in sim.peers.iter().enumerate() {
        assert!(
            peer.doc(DocId::Board).is_some(),
            "seed {seed}: peer {index} has no board"
        );
        assert!(
            peer.doc(DocId::Workspace(peer_id(index))).is_some(),
            "seed {seed}: peer {index} has no workspace"
        );
    }
}

fn run_seeds(range: std::ops::Range<u64>) {
    if let Some(seed) = std::env::var("CODEROOM_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        if range.contains(&seed) {
            run_seed(seed);
        }
        return;
    }
    let limit: u64 = std::env::var("CODEROOM_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    for seed in range.start..range.end.min(limit) {
        let result = std::panic::catch_unwind(|| run_seed(seed));
        if let Err(panic) = result {
            eprintln!("failing seed: {seed} (replay with CODEROOM_SIM_SEED={seed})");
            std::panic::resume_unwind(panic);
        }
    }
}

// A thousand seeds in four tests, so the test runner spreads them over the cores.
#[test]
fn converge_under_faults_seeds_0_to_249() {
    run_seeds(0..250);
}

#[test]
fn converge_under_faults_seeds_250_to_499() {
    run_seeds(250..500);
}

#[test]
fn converge_under_faults_seeds_500_to_749() {
    run_seeds(500..750);
}

#[test]
fn converge_under_faults_seeds_750_to_999() {
    run_seeds(750..1000);
}
