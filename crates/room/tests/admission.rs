//! The hub's rules, driven through its IO-less core: who gets in, who may write what, the pen,
//! lecture mode, rate-limited room codes, and frames that break the protocol.

use coderoom_protocol::{
    Control, Credential, DocId, JoinSecret, Message, Notice, PeerId, Refusal, Role,
    PROTOCOL_VERSION,
};
use coderoom_room::{files, HubAction, HubCore, HubEvent, PeerAction, PeerCore, PeerEvent};
use yrs::ReadTxn;

mod common;

use common::*;

#[test]
fn approval_lock_and_removal() {
    let mut hub = hub();
    hub.handle(0, HubEvent::Instructor(Control::RequireApproval(true)));
    let actions = connect(
        &mut hub,
        1,
        peer(1),
        hello(Credential::Secret(SECRET), "Ada"),
        0,
    );
    assert!(sent_to(&actions, 1).contains(&Message::Waiting));
    assert!(actions
        .iter()
        .any(|a| matches!(a, HubAction::JoinRequest(p) if p.name == "Ada")));
    assert!(!welcomed(&actions, 1));
    let actions = hub.handle(0, HubEvent::Instructor(Control::Approve(peer(1))));
    assert!(welcomed(&actions, 1));

    let actions = connect(
        &mut hub,
        2,
        peer(2),
        hello(Credential::Secret(SECRET), "Bob"),
        0,
    );
    assert!(sent_to(&actions, 2).contains(&Message::Waiting));
    let actions = hub.handle(0, HubEvent::Instructor(Control::Deny(peer(2))));
    assert_eq!(refusal(&actions, 2), Some(Refusal::Denied));
    assert!(closed(&actions, 2));

    // Locked: newcomers are turned away, known learners come back.
    hub.handle(0, HubEvent::Instructor(Control::RequireApproval(false)));
    hub.handle(0, HubEvent::Instructor(Control::Lock(true)));
    let actions = connect(
        &mut hub,
        3,
        peer(3),
        hello(Credential::Secret(SECRET), "Cy"),
        0,
    );
    assert_eq!(refusal(&actions, 3), Some(Refusal::Locked));
    hub.handle(0, HubEvent::Closed { conn: 1 });
    let actions = connect(
        &mut hub,
        4,
        peer(1),
        hello(Credential::Secret(SECRET), "Ada"),
        0,
    );
    assert!(
        welcomed(&actions, 4),
        "a known learner rejoins a locked room"
    );

    // Removed: out now, and the same ticket does not work again.
    let actions = hub.handle(0, HubEvent::Instructor(Control::Remove(peer(1))));
    assert_eq!(refusal(&actions, 4), Some(Refusal::Removed));
    hub.handle(0, HubEvent::Instructor(Control::Lock(false)));
    let actions = connect(
        &mut hub,
        5,
        peer(1),
        hello(Credential::Secret(SECRET), "Ada again"),
        0,
    );
    assert_eq!(refusal(&actions, 5), Some(Refusal::Removed));
    assert!(hub.participants().iter().all(|p| p.name != "Ada"));
}

#[test]
fn wrong_codes_are_rate_limited_per_peer() {
    let mut hub = hub();
    let code = |c: &str| hello(Credential::Code(c.into()), "Guesser");
    for attempt in 0..5u64 {
        let actions = connect(
            &mut hub,
            10 + attempt,
            peer(9),
            code("000000"),
            attempt * 1000,
        );
        assert_eq!(refusal(&actions, 10 + attempt), Some(Refusal::WrongCode));
    }
    // The sixth try is refused even with the right code, until the window passes.
    let actions = connect(&mut hub, 20, peer(9), code("123456"), 6_000);
    assert!(
        matches!(refusal(&actions, 20), Some(Refusal::TooManyAttempts { retry_after_secs }) if retry_after_secs > 0)
    );
    // Another peer is not affected.
    let actions = connect(
        &mut hub,
        21,
        peer(8),
        hello(Credential::Code("123456".into()), "Someone else"),
        6_000,
    );
    assert!(welcomed(&actions, 21));
    let actions = connect(&mut hub, 22, peer(9), code("123456"), 70_000);
    assert!(welcomed(&actions, 22));
}

#[test]
fn hello_problems_are_named() {
    let mut hub = hub();
    let mut old = hello(Credential::Secret(SECRET), "Ada");
    if let Message::Hello {
        protocol_version, ..
    } = &mut old
    {
        *protocol_version = 99;
    }
    assert_eq!(
        refusal(&connect(&mut hub, 1, peer(1), old, 0), 1),
        Some(Refusal::VersionMismatch {
            hub: PROTOCOL_VERSION
        })
    );
    assert_eq!(
        refusal(
            &connect(
                &mut hub,
                2,
                peer(2),
                hello(Credential::Secret(SECRET), "  "),
                0
            ),
            2
        ),
        Some(Refusal::BadName)
    );
    assert_eq!(
        refusal(
            &connect(
                &mut hub,
                3,
                peer(3),
                hello(Credential::Secret(JoinSecret([0; 32])), "Ada"),
                0
            ),
            3
        ),
        Some(Refusal::WrongSecret)
    );
    for refusal in [
        Refusal::WrongSecret,
        Refusal::Locked,
        Refusal::Removed,
        Refusal::TooManyAttempts {
            retry_after_secs: 30,
        },
    ] {
        assert!(!refusal.to_string().is_empty());
    }
}

#[test]
fn protocol_violations_close_the_connection() {
    let mut hub = hub();
    let sync = Message::Sync {
        doc: DocId::Board,
        payload: vec![0, 0],
    };
    let actions = connect(&mut hub, 1, peer(1), sync, 0);
    assert!(closed(&actions, 1), "a frame before Hello");
    assert!(sent_to(&actions, 1).iter().any(
        |m| matches!(m, Message::Notice(Notice::ProtocolViolation(r)) if r.contains("Hello"))
    ));

    let actions = connect(
        &mut hub,
        2,
        peer(2),
        hello(Credential::Secret(SECRET), "Ada"),
        0,
    );
    assert!(welcomed(&actions, 2));
    // A learner may not steer the room, nor send what only hubs send.
    let actions = hub.handle(
        0,
        HubEvent::Frame {
            conn: 2,
            message: Message::Control(Control::Lock(true)),
        },
    );
    assert!(sent_to(&actions, 2)
        .iter()
        .any(|m| matches!(m, Message::Notice(Notice::ProtocolViolation(_)))));
    let actions = hub.handle(
        0,
        HubEvent::Frame {
            conn: 2,
            message: Message::Waiting,
        },
    );
    assert!(closed(&actions, 2));
    // Undecodable sync payloads too.
    let actions = connect(
        &mut hub,
        3,
        peer(3),
        hello(Credential::Secret(SECRET), "Bob"),
        0,
    );
    assert!(welcomed(&actions, 3));
    let actions = hub.handle(
        0,
        HubEvent::Frame {
            conn: 3,
            message: Message::Sync {
                doc: DocId::Workspace(peer(3)),
                payload: vec![0, 2, 200, 1],
            },
        },
    );
    assert!(closed(&actions, 3));
}

/// A peer core wired to the hub core by hand.
struct Pair {
    hub: HubCore,
    peers: Vec<(u64, PeerCore)>,
}

impl Pair {
    fn new(count: u8) -> Self {
        let mut pair = Self {
            hub: hub(),
            peers: Vec::new(),
        };
        for n in 1..=count {
            let core = PeerCore::new(
                peer(n),
                ROOM,
                Credential::Secret(SECRET),
                format!("P{n}"),
                "#fff".into(),
                u64::from(n) << 20,
            );
            pair.peers.push((u64::from(n), core));
            let actions = pair.hub.handle(
                0,
                HubEvent::Connected {
                    conn: u64::from(n),
                    peer: peer(n),
                },
            );
            pair.hub_out(actions);
            let index = pair.peers.len() - 1;
            let actions = pair.peers[index].1.handle(PeerEvent::Connected);
            pair.peer_out(index, actions);
        }
        pair
    }

    fn hub_out(&mut self, actions: Vec<HubAction>) {
        for action in actions {
            if let HubAction::Send { conn, message } = action {
                if let Some(index) = self.peers.iter().position(|(c, _)| *c == conn) {
                    let actions = self.peers[index].1.handle(PeerEvent::Frame(message));
                    self.peer_out(index, actions);
                }
            }
        }
    }

    fn peer_out(&mut self, index: usize, actions: Vec<PeerAction>) -> Vec<PeerAction> {
        let mut reports = Vec::new();
        for action in actions {
            match action {
                PeerAction::Send(message) => {
                    let conn = self.peers[index].0;
                    let actions = self.hub.handle(0, HubEvent::Frame { conn, message });
                    self.hub_out(actions);
                }
                other => reports.push(other),
            }
        }
        reports
    }

    fn type_on(&mut self, index: usize, doc: DocId, text: &'static str) {
        let actions = self.peers[index]
            .1
            .edit(doc, move |d| files::insert(d, "main.py", 0, text));
        self.peer_out(index, actions);
    }

    fn text(&self, index: usize, doc: DocId) -> String {
        self.peers[index]
            .1
            .doc(doc)
            .map(files::read_all)
            .unwrap_or_default()
            .get("main.py")
            .cloned()
            .unwrap_or_default()
    }

    fn hub_text(&self, doc: DocId) -> String {
        self.hub
            .doc(doc)
            .map(files::read_all)
            .unwrap_or_default()
            .get("main.py")
            .cloned()
            .unwrap_or_default()
    }
}

#[test]
fn the_pen_opens_the_board_and_lecture_mode_reaches_everyone() {
    let mut pair = Pair::new(2);
    pair.type_on(0, DocId::Board, "no pen ");
    assert_eq!(pair.hub_text(DocId::Board), "");
    assert_eq!(
        pair.text(0, DocId::Board),
        "",
        "the refused replica is reset to the hub's"
    );

    let actions = pair
        .hub
        .handle(0, HubEvent::Instructor(Control::GivePen(Some(peer(1)))));
    pair.hub_out(actions);
    pair.type_on(0, DocId::Board, "with pen ");
    assert_eq!(pair.hub_text(DocId::Board), "with pen ");
    assert_eq!(pair.text(1, DocId::Board), "with pen ");
    pair.type_on(1, DocId::Board, "not mine ");
    assert_eq!(pair.hub_text(DocId::Board), "with pen ");

    let actions = pair
        .hub
        .handle(0, HubEvent::Instructor(Control::GivePen(None)));
    pair.hub_out(actions);
    pair.type_on(0, DocId::Board, "pen gone ");
    assert_eq!(pair.hub_text(DocId::Board), "with pen ");
    assert_eq!(pair.text(0, DocId::Board), "with pen ");

    // The instructor's own edits and lecture mode reach every learner.
    let actions = pair
        .hub
        .edit(DocId::Board, |d| files::insert(d, "main.py", 0, "teacher "));
    pair.hub_out(actions);
    assert_eq!(pair.text(1, DocId::Board), "teacher with pen ");
    let follow = pair.hub.handle(
        0,
        HubEvent::Instructor(Control::Follow {
            leader: Some(PeerId([0; 32])),
            binding: true,
        }),
    );
    let reached = follow
        .iter()
        .filter(|a| {
            matches!(
                a,
                HubAction::Send {
                    message: Message::Control(Control::Follow { binding: true, .. }),
                    ..
                }
            )
        })
        .count();
    assert_eq!(reached, 2);

    // Workspaces: the owner writes, the instructor reads; another learner neither.
    pair.type_on(1, DocId::Workspace(peer(2)), "mine ");
    assert_eq!(pair.hub_text(DocId::Workspace(peer(2))), "mine ");
    assert!(pair.peers[0].1.doc(DocId::Workspace(peer(2))).is_none());
    pair.type_on(0, DocId::Workspace(peer(2)), "intruder ");
    assert_eq!(pair.hub_text(DocId::Workspace(peer(2))), "mine ");

    // A crafted update to someone else's workspace is refused by the hub itself.
    let forged = files::new_doc(77);
    files::insert(&forged, "main.py", 0, "forged ");
    let update =
        yrs::Transact::transact(&forged).encode_state_as_update_v1(&yrs::StateVector::default());
    let payload = yrs::updates::encoder::Encode::encode_v1(&yrs::sync::Message::Sync(
        yrs::sync::SyncMessage::Update(update),
    ));
    let actions = pair.hub.handle(
        0,
        HubEvent::Frame {
            conn: 1,
            message: Message::Sync {
                doc: DocId::Workspace(peer(2)),
                payload,
            },
        },
    );
    assert!(sent_to(&actions, 1).iter().any(
        |m| matches!(m, Message::Notice(Notice::Refused { reason, .. }) if reason.contains("owner"))
    ));
    assert_eq!(pair.hub_text(DocId::Workspace(peer(2))), "mine ");

    // Observers write nothing.
    let actions = pair.hub.handle(
        0,
        HubEvent::Instructor(Control::SetRole(peer(2), Role::Observer)),
    );
    pair.hub_out(actions);
    let reports = {
        let actions = pair.peers[1].1.edit(DocId::Workspace(peer(2)), |d| {
            files::insert(d, "main.py", 0, "watching ")
        });
        pair.peer_out(1, actions)
    };
    // The observer's replica took the edit (its own history has it), nothing else happened
    // or the hub refused it; either way the hub's copy is unchanged.
    assert!(
        reports
            .iter()
            .all(|r| matches!(r, PeerAction::Applied { mine: true, .. }))
            || reports
                .iter()
                .any(|r| matches!(r, PeerAction::EditRefused { .. }))
    );
    assert_eq!(pair.hub_text(DocId::Workspace(peer(2))), "mine ");
}

#[test]
fn chat_and_runs_are_stamped_by_the_hub_and_reach_only_who_may_read() {
    use coderoom_protocol::{ChatLine, RunReport, RunStep, MAX_CHAT_CHARS, MAX_RUN_OUTPUT};
    let mut hub = hub();
    let ada = peer(1);
    let bea = peer(2);
    admit(&mut hub, 1, ada, "Ada", 0);
    admit(&mut hub, 2, bea, "Bea", 0);
    let frame = |hub: &mut HubCore, conn: u64, message: Message| {
        hub.handle(10, HubEvent::Frame { conn, message })
    };

    // Chat: the hub says who wrote it (whatever the sender claimed), to everyone, sender too.
    let forged = Message::Chat(ChatLine {
        from: bea,
        name: "Teacher".into(),
        text: "  hi all ".into(),
    });
    let actions = frame(&mut hub, 1, forged);
    let stamped = ChatLine {
        from: ada,
        name: "Ada".into(),
        text: "hi all".into(),
    };
    assert!(actions.contains(&HubAction::Chat(stamped.clone())));
    for conn in [1, 2] {
        assert_eq!(
            sent_to(&actions, conn),
            vec![Message::Chat(stamped.clone())]
        );
    }
    let said = hub.handle(20, HubEvent::InstructorSays("welcome".into()));
    assert!(said
        .iter()
        .any(|a| matches!(a, HubAction::Chat(line) if line.name == "Teacher")));
    let long = Message::Chat(ChatLine {
        from: ada,
        name: String::new(),
        text: "x".repeat(MAX_CHAT_CHARS + 1),
    });
    let actions = frame(&mut hub, 2, long);
    assert!(
        closed(&actions, 2),
        "an over-long chat message closes its sender"
    );
    assert!(!actions.iter().any(|a| matches!(a, HubAction::Chat(_))));

    // Runs: Ada's run from her workspace is recorded and shown to no other learner.
    let run = |step: RunStep| {
        Message::Run(RunReport {
            by: bea,
            run: 7,
            step,
        })
    };
    let started = run(RunStep::Started {
        doc: DocId::Workspace(ada),
        path: "main.py".into(),
        runtime: "python".into(),
        files_hash: "abc".into(),
    });
    let actions = frame(&mut hub, 1, started);
    assert!(actions.iter().any(|a| matches!(
        a,
        HubAction::Run(RunReport { by, run: 7, .. }) if *by == ada
    )));
    assert!(sent_to(&actions, 2).is_empty());
    let output = run(RunStep::Output {
        stderr: false,
        text: "hello\n".into(),
    });
    assert!(frame(&mut hub, 1, output)
        .iter()
        .any(|a| matches!(a, HubAction::Run(_))));
    let flood = run(RunStep::Output {
        stderr: false,
        text: "x".repeat(MAX_RUN_OUTPUT + 1),
    });
    assert!(closed(&frame(&mut hub, 1, flood), 1));

    // Reconnected Ada may not run from a workspace she cannot read, nor end runs never started.
    admit(&mut hub, 3, ada, "Ada", 30);
    let others = run(RunStep::Started {
        doc: DocId::Workspace(bea),
        path: "main.py".into(),
        runtime: "python".into(),
        files_hash: "abc".into(),
    });
    assert!(closed(&frame(&mut hub, 3, others), 3));
    admit(&mut hub, 4, ada, "Ada", 40);
    let stray = Message::Run(RunReport {
        by: ada,
        run: 99,
        step: RunStep::Ended {
            outcome: "exited with 0".into(),
            wall_ms: 1,
            cpu_ms: None,
            peak_kib: None,
        },
    });
    let actions = frame(&mut hub, 4, stray);
    assert!(actions.is_empty(), "{actions:?}");
}

#[test]
fn the_rules_are_reported_when_they_change_and_come_back_without_a_removed_pen_holder() {
    use coderoom_protocol::Participant;
    use coderoom_room::Rules;
    let mut hub = hub();
    let ada = peer(1);
    admit(&mut hub, 1, ada, "Ada", 0);
    let actions = hub.handle(1, HubEvent::Instructor(Control::GivePen(Some(ada))));
    let expected = Rules {
        approval_required: false,
        locked: false,
        pen: Some(ada),
    };
    assert!(actions.contains(&HubAction::Rules(expected)));
    let actions = hub.handle(2, HubEvent::Instructor(Control::Lock(true)));
    assert!(actions.contains(&HubAction::Rules(Rules {
        locked: true,
        ..expected
    })));
    // Nothing changed, nothing reported.
    let actions = hub.handle(3, HubEvent::Instructor(Control::Lock(true)));
    assert!(!actions.iter().any(|a| matches!(a, HubAction::Rules(_))));

    // Hosted again: the lock holds; the pen goes back to a member, never to a removed one.
    let member = |id, removed| {
        (
            Participant {
                id,
                name: "Ada".into(),
                colour: "#123456".into(),
                role: Role::Learner,
                online: false,
            },
            removed,
        )
    };
    let mut again = self::hub();
    again.restore_members([member(ada, false)]);
    again.restore_rules(hub.rules());
    assert_eq!(again.rules().pen, Some(ada));
    assert_eq!(
        refusal(
            &connect(
                &mut again,
                1,
                peer(9),
                hello(Credential::Secret(SECRET), "Cy"),
                0
            ),
            1
        ),
        Some(Refusal::Locked)
    );
    let mut removed = self::hub();
    removed.restore_members([member(ada, true)]);
    removed.restore_rules(hub.rules());
    assert_eq!(removed.rules().pen, None);
}

#[test]
fn a_peer_cannot_flood_chat_presence_or_runs_nor_pass_for_the_instructor() {
    use coderoom_protocol::{
        ChatLine, RunReport, RunStep, CHAT_PER_WINDOW, MAX_OPEN_RUNS, MAX_PRESENCE_CLIENTS,
    };
    let mut hub = hub();
    // Names: printable, and not the instructor's.
    for name in ["teacher", "Ada\nchat: Teacher: hi"] {
        assert_eq!(
            refusal(
                &connect(
                    &mut hub,
                    9,
                    peer(9),
                    hello(Credential::Secret(SECRET), name),
                    0
                ),
                9
            ),
            Some(Refusal::BadName),
            "{name:?}"
        );
    }
    let ada = peer(1);
    admit(&mut hub, 1, ada, "Ada", 0);
    let chat = |text: &str| {
        Message::Chat(ChatLine {
            from: ada,
            name: String::new(),
            text: text.into(),
        })
    };

    // Chat: past the allowance, messages are dropped with a notice, until the window passes.
    let mut relayed = 0;
    for n in 0..CHAT_PER_WINDOW + 2 {
        let actions = hub.handle(
            100,
            HubEvent::Frame {
                conn: 1,
                message: chat(&format!("spam {n}")),
            },
        );
        relayed += actions
            .iter()
            .filter(|a| matches!(a, HubAction::Chat(_)))
            .count();
        assert!(!closed(&actions, 1));
        if n >= CHAT_PER_WINDOW {
            assert!(sent_to(&actions, 1)
                .iter()
                .any(|m| matches!(m, Message::Notice(Notice::ChatDropped(_)))));
        }
    }
    assert_eq!(relayed, CHAT_PER_WINDOW as usize);
    let later = hub.handle(
        20_000,
        HubEvent::Frame {
            conn: 1,
            message: chat("later"),
        },
    );
    assert!(later.iter().any(|a| matches!(a, HubAction::Chat(_))));

    // Runs: a new run past the limit ends the oldest instead of cutting the learner off.
    let started = |run: u64| {
        Message::Run(RunReport {
            by: ada,
            run,
            step: RunStep::Started {
                doc: DocId::Workspace(ada),
                path: "main.py".into(),
                runtime: "python".into(),
                files_hash: "abc".into(),
            },
        })
    };
    for run in 0..MAX_OPEN_RUNS as u64 {
        hub.handle(
            200 + run,
            HubEvent::Frame {
                conn: 1,
                message: started(run),
            },
        );
    }
    let actions = hub.handle(
        300,
        HubEvent::Frame {
            conn: 1,
            message: started(99),
        },
    );
    assert!(!closed(&actions, 1));
    assert!(actions.iter().any(|a| matches!(
        a,
        HubAction::Run(RunReport {
            run: 0,
            step: RunStep::Ended { .. },
            ..
        })
    )));

    // Presence: a connection announcing too many clients is cut off.
    let payload = {
        use yrs::block::ClientID;
        use yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
        use yrs::updates::encoder::Encode;
        let clients = (0..=MAX_PRESENCE_CLIENTS as u64)
            .map(|client| {
                let entry = AwarenessUpdateEntry {
                    clock: 1,
                    json: "null".into(),
                };
                (ClientID::new(client), entry)
            })
            .collect();
        yrs::sync::Message::Awareness(AwarenessUpdate { clients }).encode_v1()
    };
    let actions = hub.handle(
        400,
        HubEvent::Frame {
            conn: 1,
            message: Message::Awareness { payload },
        },
    );
    assert!(closed(&actions, 1));
    let gone = hub.handle(401, HubEvent::Closed { conn: 1 });
    assert!(
        !gone.iter().any(|a| matches!(
            a,
            HubAction::Send {
                message: Message::Awareness { .. },
                ..
            }
        )),
        "no flood of 'gone' announcements"
    );
}

#[test]
fn a_denied_pen_holder_loses_the_pen() {
    let mut hub = hub();
    let ada = peer(1);
    admit(&mut hub, 1, ada, "Ada", 0);
    hub.handle(1, HubEvent::Instructor(Control::GivePen(Some(ada))));
    let actions = hub.handle(2, HubEvent::Instructor(Control::Deny(ada)));
    assert_eq!(hub.rules().pen, None);
    assert!(actions
        .iter()
        .any(|a| matches!(a, HubAction::Rules(r) if r.pen.is_none())));
}

#[test]
fn a_room_is_restored_from_its_own_history_even_past_a_peers_update_limit() {
    let board = files::new_doc(5);
    let text = "print('a long lesson')\n".repeat(150_000);
    files::insert(&board, "lesson.py", 0, &text);
    let state = files::full_state(&board);
    assert!(state.len() > coderoom_protocol::MAX_UPDATE);
    let restored = HubCore::restore(hub().settings().clone(), 1 << 41, [(DocId::Board, state)])
        .expect("restored");
    let doc = restored.doc(DocId::Board).expect("board");
    assert_eq!(files::len(doc, "lesson.py") as usize, text.len());
}

#[test]
fn a_changed_role_is_told_to_the_person_it_concerns() {
    let mut hub = hub();
    let mut learner = common::learner_core(1, "Ada");
    let mut to_hub: Vec<Message> = learner
        .handle(PeerEvent::Connected)
        .into_iter()
        .filter_map(|a| match a {
            PeerAction::Send(message) => Some(message),
            _ => None,
        })
        .collect();
    hub.handle(
        1,
        HubEvent::Connected {
            conn: 1,
            peer: peer(1),
        },
    );
    let mut told = Vec::new();
    let mut deliver = |learner: &mut PeerCore, actions: Vec<HubAction>| {
        for message in sent_to(&actions, 1) {
            told.extend(learner.handle(PeerEvent::Frame(message)));
        }
    };
    for message in to_hub.drain(..) {
        let actions = hub.handle(1, HubEvent::Frame { conn: 1, message });
        deliver(&mut learner, actions);
    }
    let actions = hub.handle(
        2,
        HubEvent::Instructor(Control::SetRole(peer(1), Role::Observer)),
    );
    deliver(&mut learner, actions);
    assert!(
        told.iter()
            .any(|a| matches!(a, PeerAction::RoleChanged(Role::Observer))),
        "{told:?}"
    );
    assert_eq!(learner.role(), Some(Role::Observer));
}

#[test]
fn edits_made_away_from_the_hub_are_known_unsent_until_the_handshake_carries_them() {
    let mut hub = hub();
    let mut learner = common::learner_core(1, "Ada");
    let workspace = DocId::Workspace(peer(1));
    learner.edit(workspace, |doc| {
        files::insert(doc, "main.py", 0, "typed offline\n")
    });
    assert!(learner.has_unsent_edits());
    let hello = learner.handle(PeerEvent::Connected);
    hub.handle(
        1,
        HubEvent::Connected {
            conn: 1,
            peer: peer(1),
        },
    );
    common::converse(&mut hub, &mut learner, 1, hello);
    assert!(!learner.has_unsent_edits());
    assert_eq!(
        files::read_all(hub.doc(workspace).expect("workspace"))
            .get("main.py")
            .map(String::as_str),
        Some("typed offline\n")
    );
}

#[test]
fn a_name_already_in_the_room_is_refused_with_a_reason() {
    let mut hub = hub();
    admit(&mut hub, 1, peer(1), "Ada", 1);
    let actions = connect(
        &mut hub,
        2,
        peer(2),
        hello(Credential::Secret(common::SECRET), " ada "),
        1,
    );
    assert_eq!(refusal(&actions, 2), Some(Refusal::NameTaken));
    // Ada herself coming back (a second connection of hers) is let in.
    admit(&mut hub, 3, peer(1), "Ada", 2);
    // Once the first Ada has gone, the name is free.
    hub.handle(3, HubEvent::Closed { conn: 1 });
    hub.handle(3, HubEvent::Closed { conn: 3 });
    admit(&mut hub, 4, peer(2), "Ada", 3);
}

#[test]
fn a_paste_too_large_to_send_is_undone_with_a_reason_instead_of_looping() {
    let mut hub = hub();
    let mut learner = common::learner_core(1, "Ada");
    let workspace = DocId::Workspace(peer(1));
    let hello = learner.handle(PeerEvent::Connected);
    hub.handle(
        1,
        HubEvent::Connected {
            conn: 1,
            peer: peer(1),
        },
    );
    common::converse(&mut hub, &mut learner, 1, hello);
    let typed = learner.edit(workspace, |doc| files::insert(doc, "main.py", 0, "kept\n"));
    common::converse(&mut hub, &mut learner, 1, typed);
    let paste = "x".repeat(3 * 1024 * 1024);
    let actions = learner.edit(workspace, |doc| files::insert(doc, "main.py", 0, &paste));
    assert!(
        actions.iter().any(|a| matches!(
            a,
            PeerAction::EditRefused { reason, .. } if reason.contains("at most 2 MB")
        )),
        "{actions:?}"
    );
    common::converse(&mut hub, &mut learner, 1, actions);
    for side in [
        learner.doc(workspace).expect("learner's copy"),
        hub.doc(workspace).expect("hub's copy"),
    ] {
        assert_eq!(
            files::read_all(side).get("main.py").map(String::as_str),
            Some("kept\n")
        );
    }

    // A step 2 past the update cap (a peer that pasted while away, say) is refused and the
    // sender reset, not cut off, so reconnecting does not run into it again.
    let oversized = yrs::sync::Message::Sync(yrs::sync::SyncMessage::Update(vec![
        0;
        coderoom_protocol::MAX_UPDATE
            + 1024
    ]));
    let actions = hub.handle(
        5,
        HubEvent::Frame {
            conn: 1,
            message: Message::Sync {
                doc: workspace,
                payload: yrs::updates::encoder::Encode::encode_v1(&oversized),
            },
        },
    );
    assert!(!closed(&actions, 1), "{actions:?}");
    assert!(
        sent_to(&actions, 1)
            .iter()
            .any(|m| matches!(m, Message::Resync { .. })),
        "{actions:?}"
    );
}

#[test]
fn the_instructor_turns_learners_chat_off_and_on_and_everyone_is_told() {
    use coderoom_protocol::ChatLine;
    let mut hub = hub();
    let ada = peer(1);
    admit(&mut hub, 1, ada, "Ada", 0);
    let say = |hub: &mut HubCore, now: u64, text: &str| {
        hub.handle(
            now,
            HubEvent::Frame {
                conn: 1,
                message: Message::Chat(ChatLine {
                    from: ada,
                    name: String::new(),
                    text: text.into(),
                }),
            },
        )
    };
    let off = hub.handle(5, HubEvent::Instructor(Control::LearnersChat(false)));
    assert!(sent_to(&off, 1).contains(&Message::Control(Control::LearnersChat(false))));

    // Ada's message is not relayed; she is told why.
    let actions = say(&mut hub, 10, "hello?");
    assert!(!actions.iter().any(|a| matches!(a, HubAction::Chat(_))));
    assert!(sent_to(&actions, 1).iter().any(|m| matches!(
        m,
        Message::Notice(Notice::ChatDropped(why)) if why.contains("turned the chat off")
    )));
    // The instructor still writes.
    let said = hub.handle(20, HubEvent::InstructorSays("quiet please".into()));
    assert!(said.iter().any(|a| matches!(a, HubAction::Chat(_))));
    // A newcomer hears that the chat is off.
    let bea = peer(2);
    let welcome = connect(
        &mut hub,
        2,
        bea,
        hello(Credential::Secret(SECRET), "Bea"),
        30,
    );
    assert!(sent_to(&welcome, 2).contains(&Message::Control(Control::LearnersChat(false))));
    // On again: Ada's chat is relayed, and a learner's core reports the change.
    hub.handle(40, HubEvent::Instructor(Control::LearnersChat(true)));
    let actions = say(&mut hub, 50, "thanks");
    assert!(actions.iter().any(|a| matches!(a, HubAction::Chat(_))));
    let mut learner = learner_core(1, "Ada");
    let told = learner.handle(PeerEvent::Frame(Message::Control(Control::LearnersChat(
        false,
    ))));
    assert!(told.contains(&PeerAction::ChatAllowed(false)));
}

#[test]
fn a_raised_hand_reaches_everyone_until_the_instructor_lowers_it() {
    let mut hub = hub();
    let ada = peer(1);
    admit(&mut hub, 1, ada, "Ada", 0);
    let raise = |hub: &mut HubCore, raised: bool| {
        hub.handle(
            10,
            HubEvent::Frame {
                conn: 1,
                message: Message::Hand { raised },
            },
        )
    };
    let up = raise(&mut hub, true);
    assert!(up.contains(&HubAction::Hands(vec![ada])));
    assert!(sent_to(&up, 1).contains(&Message::Control(Control::Hands(vec![ada]))));
    // Raising it again changes nothing and sends nothing.
    assert!(!raise(&mut hub, true)
        .iter()
        .any(|a| matches!(a, HubAction::Hands(_))));
    // A newcomer sees whose hands are up.
    let bea = peer(2);
    let welcome = connect(
        &mut hub,
        2,
        bea,
        hello(Credential::Secret(SECRET), "Bea"),
        20,
    );
    assert!(sent_to(&welcome, 2).contains(&Message::Control(Control::Hands(vec![ada]))));
    // The instructor lowers it; a learner cannot lower anyone's but their own.
    let bea_tries = hub.handle(
        30,
        HubEvent::Frame {
            conn: 2,
            message: Message::Control(Control::LowerHand(ada)),
        },
    );
    assert!(!bea_tries.iter().any(|a| matches!(a, HubAction::Hands(_))));
    let down = hub.handle(40, HubEvent::Instructor(Control::LowerHand(ada)));
    assert!(down.contains(&HubAction::Hands(vec![])));
    let mut learner = learner_core(1, "Ada");
    let told = learner.handle(PeerEvent::Frame(Message::Control(Control::Hands(vec![
        ada,
    ]))));
    assert!(told.contains(&PeerAction::Hands(vec![ada])));
}
