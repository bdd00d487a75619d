//! What happened, in the words of a teacher or a learner: names, never ids or debug text.

use coderoom_protocol::{Control, Participant, PeerId, Role};

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Instructor => "instructor",
        Role::Learner => "learner",
        Role::Observer => "observer",
    }
}

/// A participant's name from the last list (never an id); someone not in it is the instructor.
pub fn name_of(people: &[Participant], who: PeerId) -> String {
    people
        .iter()
        .find(|p| p.id == who)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| "the instructor".into())
}

/// What an instructor's action did, said to the instructor.
pub fn describe(control: &Control, people: &[Participant]) -> String {
    let name = |who: &PeerId| name_of(people, *who);
    match control {
        Control::Approve(who) => format!("{} is in", name(who)),
        Control::Deny(who) => format!("{} was not let in", name(who)),
        Control::Remove(who) => format!("{} was removed", name(who)),
        Control::SetRole(who, role) => format!("{} is now {}", name(who), role_name(*role)),
        Control::Lock(true) => "the room is locked to newcomers".into(),
        Control::Lock(false) => "newcomers may join again".into(),
        Control::RequireApproval(true) => "newcomers wait for your approval".into(),
        Control::RequireApproval(false) => "newcomers join without approval".into(),
        Control::GivePen(Some(who)) => format!("{} has the pen", name(who)),
        Control::GivePen(None) => "you took the pen back".into(),
        Control::Follow { binding: true, .. } => "lecture mode: everyone follows you".into(),
        Control::Follow { .. } => "lecture mode is over".into(),
        Control::AllowCodeJoins => "joining with the room code works again".into(),
        Control::CodeJoinsNeedApproval(true) => "code joins wait for your approval".into(),
        Control::CodeJoinsNeedApproval(false) => "code joins need no approval".into(),
        Control::EndClass => "the class has ended".into(),
        Control::LearnersChat(true) => "learners may write in the chat again".into(),
        Control::LearnersChat(false) => "the chat is yours alone for now".into(),
        Control::LowerHand(who) => format!("{}'s hand is down", name(who)),
        Control::Hands(_) => String::new(),
        Control::Participants(_) | Control::JoinRequest(_) => String::new(),
    }
}

/// The pen moved: said to the learner `me`, who `had_it` before or not.
pub fn pen_message(
    holder: Option<PeerId>,
    me: PeerId,
    had_it: bool,
    people: &[Participant],
) -> String {
    match holder {
        Some(holder) if holder == me => "you have the pen: you may edit the board".to_owned(),
        Some(holder) if had_it => format!(
            "the instructor gave the pen to {}: the board is read-only for you again",
            name_of(people, holder)
        ),
        Some(holder) => format!("{} has the pen", name_of(people, holder)),
        None if had_it => {
            "the instructor took the pen back: the board is read-only for you again".to_owned()
        }
        None => "only the instructor edits the board".to_owned(),
    }
}

/// The instructor changed this learner's role.
pub fn role_message(role: Role) -> String {
    format!(
        "the instructor made you {}{}",
        role_name(role),
        match role {
            Role::Observer => ": you can watch but not edit",
            Role::Learner => ": you can edit your workspace",
            Role::Instructor => "",
        }
    )
}

/// Following changed for a learner.
pub fn follow_message(leader: Option<PeerId>, binding: bool, people: &[Participant]) -> String {
    match (leader, binding) {
        (Some(leader), true) => format!(
            "lecture mode: you follow {} until it ends",
            name_of(people, leader)
        ),
        (Some(leader), false) => format!("following {}", name_of(people, leader)),
        (None, _) => "lecture mode is over".to_owned(),
    }
}
