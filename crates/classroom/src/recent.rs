//! Recent sessions for the start screen: hosted ones can be hosted again with the same ticket,
//! joined ones joined again with theirs.

use coderoom_history::Side;

use crate::hosting::open_history;
use crate::ClassError;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecentSession {
    pub id: i64,
    pub title: String,
    /// `true`: hosted here (host again); `false`: joined here.
    pub hosted: bool,
    pub started_ms: i64,
    pub last_ms: i64,
    pub participants: Vec<String>,
    pub languages: Vec<String>,
    /// For a joined session: the ticket it was joined with, to join again.
    pub ticket: Option<String>,
}

/// The newest sessions first, at most `limit`.
pub fn recent_sessions(limit: usize) -> Result<Vec<RecentSession>, ClassError> {
    let history = open_history()?;
    Ok(history
        .sessions()?
        .into_iter()
        .take(limit)
        .map(|summary| {
            let hosted = summary.info.side == Side::Hub;
            RecentSession {
                id: summary.info.id.0,
                title: summary.info.title,
                hosted,
                started_ms: summary.info.started_ms,
                last_ms: summary.last_ms,
                participants: summary.participants,
                languages: summary.info.languages,
                ticket: if hosted { None } else { summary.info.address },
            }
        })
        .collect())
}
