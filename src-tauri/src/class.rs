//! The class commands: each parses the window's input, calls `coderoom_classroom` and maps the
//! error to its sentence. Documents cross as binary: the window's yjs updates arrive as raw
//! request bodies, and changes from the room leave on the class's channel as raw frames
//! (`coderoom_classroom::class::window_frame`), in order with the class's JSON events on the
//! same channel.

use std::net::SocketAddr;
use std::sync::Arc;

use coderoom_classroom::class::{
    doc_key, parse_doc_key, window_frame, ClassAction, ClassEvent, WindowPresence,
};
use coderoom_classroom::hosting::{host, HostPlan};
use coderoom_classroom::{folder, joining, recent, Class, Profile};
use coderoom_paths::DataDir;
use coderoom_protocol::DocId;
use coderoom_room::files;
use coderoom_room::net::DocumentChange;
use tauri::ipc::{Channel, InvokeResponseBody, Request, Response};
use tokio::sync::Mutex;

/// The class this window is in, if any, and the channel its events go to.
#[derive(Default)]
pub struct CurrentClass(Mutex<Option<Entry>>);

struct Entry {
    class: Arc<Class>,
    channel: Channel<InvokeResponseBody>,
    /// The tasks forwarding its events and document changes, stopped when leaving.
    tasks: Vec<tauri::async_runtime::JoinHandle<()>>,
}

impl Entry {
    /// Stops forwarding and hands back the class once nothing else holds it.
    async fn into_class(self) -> Option<Class> {
        for task in &self.tasks {
            task.abort();
        }
        wait_for_sole(self.class).await
    }
}

impl CurrentClass {
    async fn get(&self) -> Result<Arc<Class>, String> {
        self.0
            .lock()
            .await
            .as_ref()
            .map(|entry| Arc::clone(&entry.class))
            .ok_or_else(|| "you are not in a class".to_owned())
    }

    /// Whether leaving now would leave edits only on this laptop (asked before closing).
    pub async fn unsent_edits(&self) -> Option<Channel<InvokeResponseBody>> {
        let current = self.0.lock().await;
        let entry = current.as_ref()?;
        entry
            .class
            .has_unsent_edits()
            .then(|| entry.channel.clone())
    }
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// Where the app listens: every interface for a classroom, loopback when told (tests, one
/// machine) with `CODEROOM_BIND`.
fn bind() -> SocketAddr {
    std::env::var("CODEROOM_BIND")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

#[tauri::command]
pub fn profile_get(data: tauri::State<'_, DataDir>) -> Result<Option<Profile>, String> {
    Profile::load(&data).map_err(text)
}

/// The profile given on the start screen (joining or hosting needs a name).
fn known_profile(data: &DataDir) -> Result<Profile, String> {
    Profile::load(data)
        .map_err(text)?
        .ok_or_else(|| "give your name first".to_owned())
}

#[tauri::command]
pub fn profile_save(
    data: tauri::State<'_, DataDir>,
    name: String,
    colour: String,
) -> Result<Profile, String> {
    Profile { name, colour }.save(&data).map_err(text)
}

#[tauri::command]
pub fn profile_colours() -> Vec<&'static str> {
    coderoom_classroom::profile::COLOURS.to_vec()
}

#[tauri::command]
pub async fn recent_sessions() -> Result<Vec<recent::RecentSession>, String> {
    recent::recent_sessions(12).map_err(text)
}

#[tauri::command]
pub fn check_file_path(path: String) -> Result<(), String> {
    coderoom_classroom::check_file_path(&path).map_err(text)
}

/// What the window shows of the class it entered.
#[derive(serde::Serialize)]
pub struct Entered {
    me: String,
    title: String,
    instructor: bool,
    ticket: Option<String>,
    code: Option<String>,
    workspace: String,
    notes: Vec<String>,
}

/// The board's first files: the language's starter (given by the window) or a folder's files.
#[derive(serde::Deserialize)]
pub struct BoardStart {
    starter: Vec<(String, String)>,
    folder: Option<String>,
}

#[tauri::command]
pub async fn host_class(
    current: tauri::State<'_, CurrentClass>,
    data: tauri::State<'_, DataDir>,
    title: String,
    board: BoardStart,
    resume: Option<i64>,
    events: Channel<InvokeResponseBody>,
) -> Result<Entered, String> {
    let profile = known_profile(&data)?;
    let title = title.trim().to_owned();
    let (files, mut notes) = match (&board.folder, resume) {
        (_, Some(_)) => (Vec::new(), Vec::new()),
        (Some(folder), None) => folder::read_folder(std::path::Path::new(folder)).map_err(text)?,
        (None, None) => (board.starter, Vec::new()),
    };
    let hosting = host(&HostPlan {
        title: if title.is_empty() {
            "Coderoom class".into()
        } else {
            title
        },
        instructor_name: profile.name.clone(),
        bind: bind(),
        resume: resume.map(coderoom_history::SessionId),
        new_ticket: false,
        keep_history: true,
        announce: true,
    })
    .await
    .map_err(text)?;
    notes.extend(hosting.notes.iter().cloned());
    for (path, text) in files {
        hosting
            .hub
            .edit(DocId::Board, move |doc| files::insert(doc, &path, 0, &text))
            .await;
    }
    let class = Arc::new(Class::hosting(hosting.hub, profile, hosting.session));
    let mut entered = enter(&current, class, events).await?;
    entered.notes = notes;
    Ok(entered)
}

#[tauri::command]
pub async fn join_class(
    current: tauri::State<'_, CurrentClass>,
    data: tauri::State<'_, DataDir>,
    ticket: String,
    events: Channel<InvokeResponseBody>,
) -> Result<Entered, String> {
    let profile = known_profile(&data)?;
    let ticket = joining::parse_ticket(&ticket).map_err(text)?;
    let (peer, resumed) = joining::join_with_ticket(
        &ticket,
        bind(),
        (profile.name.clone(), profile.colour.clone()),
        true,
    )
    .await
    .map_err(text)?;
    let class = Arc::new(Class::joined(peer, profile, Some(ticket), true));
    let mut entered = enter(&current, class, events).await?;
    if resumed {
        entered
            .notes
            .push("your workspace is back as you left it, offline edits included".into());
    }
    Ok(entered)
}

#[derive(serde::Serialize)]
pub struct NearbyView {
    hub: String,
    title: String,
}

#[tauri::command]
pub async fn nearby_rooms() -> Result<Vec<NearbyView>, String> {
    let rooms = joining::nearby(bind(), std::time::Duration::from_secs(2))
        .await
        .map_err(text)?;
    Ok(rooms
        .into_iter()
        .map(|room| NearbyView {
            hub: room.hub.to_string(),
            title: room.title,
        })
        .collect())
}

#[tauri::command]
pub async fn join_nearby(
    current: tauri::State<'_, CurrentClass>,
    data: tauri::State<'_, DataDir>,
    hub: String,
    code: String,
    events: Channel<InvokeResponseBody>,
) -> Result<Entered, String> {
    let profile = known_profile(&data)?;
    let rooms = joining::nearby(bind(), std::time::Duration::from_secs(2))
        .await
        .map_err(text)?;
    let room = rooms
        .into_iter()
        .find(|room| room.hub.to_string() == hub)
        .ok_or("that room is no longer announced nearby: ask for the ticket")?;
    let peer = joining::join_nearby(
        &room,
        &code,
        bind(),
        (profile.name.clone(), profile.colour.clone()),
    )
    .await
    .map_err(text)?;
    let class = Arc::new(Class::joined(peer, profile, None, true));
    enter(&current, class, events).await
}

/// Makes `class` the window's class and starts sending its events and document changes.
async fn enter(
    current: &CurrentClass,
    class: Arc<Class>,
    events: Channel<InvokeResponseBody>,
) -> Result<Entered, String> {
    let mut slot = current.0.lock().await;
    if let Some(earlier) = slot.take() {
        if let Some(earlier) = earlier.into_class().await {
            let _ = earlier.leave().await;
        }
    }
    let (ticket, code) = class.ticket_and_code().unzip();
    let entered = Entered {
        me: coderoom_classroom::class::person_key(class.me()),
        title: class.title().to_owned(),
        instructor: class.is_instructor(),
        ticket,
        code,
        workspace: doc_key(DocId::Workspace(class.me())),
        notes: Vec::new(),
    };
    let mut changes = class.watch_documents();
    let documents = events.clone();
    let watching = Arc::clone(&class);
    let forward_documents = tauri::async_runtime::spawn(async move {
        while let Some(change) = changes.recv().await {
            let (DocumentChange::Update { doc, .. } | DocumentChange::Reset { doc }) = change;
            if !watching.is_shown(doc) {
                continue;
            }
            if documents
                .send(InvokeResponseBody::Raw(window_frame(&change)))
                .is_err()
            {
                break;
            }
        }
    });
    let first = class.first_events().await;
    let reports = Arc::clone(&class);
    let sink = events.clone();
    let forward_events = tauri::async_runtime::spawn(async move {
        send_events(&sink, first);
        while let Some(batch) = reports.next_events().await {
            if !send_events(&sink, batch) {
                break;
            }
        }
    });
    *slot = Some(Entry {
        class,
        channel: events,
        tasks: vec![forward_documents, forward_events],
    });
    Ok(entered)
}

fn send_events(channel: &Channel<InvokeResponseBody>, events: Vec<ClassEvent>) -> bool {
    events.into_iter().all(|event| {
        serde_json::to_string(&event)
            .map(|json| channel.send(InvokeResponseBody::Json(json)).is_ok())
            .unwrap_or(true)
    })
}

#[tauri::command]
pub async fn doc_state(
    current: tauri::State<'_, CurrentClass>,
    doc: String,
) -> Result<Response, String> {
    let class = current.get().await?;
    let doc = parse_doc_key(&doc).map_err(text)?;
    Ok(Response::new(class.document_state(doc)))
}

/// An edit from the window's editor: the body is a yjs update, the `doc` header its document.
#[tauri::command]
pub async fn doc_update(
    current: tauri::State<'_, CurrentClass>,
    request: Request<'_>,
) -> Result<(), String> {
    let class = current.get().await?;
    let doc = request
        .headers()
        .get("doc")
        .and_then(|value| value.to_str().ok())
        .ok_or("an edit came without its document")?;
    let doc = parse_doc_key(doc).map_err(text)?;
    let tauri::ipc::InvokeBody::Raw(update) = request.body() else {
        return Err("an edit came as text, not bytes".into());
    };
    class.apply_editor_update(doc, update).await.map_err(text)
}

#[tauri::command]
pub async fn set_presence(
    current: tauri::State<'_, CurrentClass>,
    presence: WindowPresence,
) -> Result<(), String> {
    current
        .get()
        .await?
        .set_presence(presence)
        .await
        .map_err(text)
}

#[tauri::command]
pub async fn class_act(
    current: tauri::State<'_, CurrentClass>,
    action: ClassAction,
) -> Result<String, String> {
    current.get().await?.act(action).await.map_err(text)
}

#[tauri::command]
pub async fn class_say(
    current: tauri::State<'_, CurrentClass>,
    text: String,
) -> Result<(), String> {
    current.get().await?.say(&text).await.map_err(self::text)
}

/// Leaves the class (`end`: ends it for everyone, the instructor only). Unless `confirmed`, a
/// learner with edits the hub has not had is asked first: the answer is the question.
#[tauri::command]
pub async fn leave_class(
    current: tauri::State<'_, CurrentClass>,
    end: bool,
    confirmed: bool,
) -> Result<Option<String>, String> {
    let mut slot = current.0.lock().await;
    let Some(entry) = slot.as_ref() else {
        return Ok(None);
    };
    if !confirmed && entry.class.has_unsent_edits() {
        return Ok(Some(UNSENT_QUESTION.into()));
    }
    let Some(entry) = slot.take() else {
        return Ok(None);
    };
    let class = entry.into_class().await;
    let finished = match (class, end) {
        (Some(class), true) => class.end().await,
        (Some(class), false) => class.leave().await,
        (None, _) => Ok(()),
    };
    finished.map(|()| None).map_err(text)
}

pub const UNSENT_QUESTION: &str = "Some of your edits have not reached the instructor's laptop \
    yet. They are kept on this laptop and sent when you join this class again. Leave now?";

/// The class once no (aborted) task holds it any more.
async fn wait_for_sole(mut class: Arc<Class>) -> Option<Class> {
    for _ in 0..50 {
        match Arc::try_unwrap(class) {
            Ok(class) => return Some(class),
            Err(shared) => class = shared,
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    None
}

/// What runs `file` ("python3 3.11.2"), or what to install, in words.
#[tauri::command]
pub async fn run_runtime(file: String) -> Result<String, String> {
    tauri::async_runtime::spawn_blocking(move || coderoom_classroom::running::runtime_for(&file))
        .await
        .map_err(text)?
        .map_err(text)
}

#[derive(serde::Serialize)]
pub struct RunStarted {
    run: u64,
    runtime: String,
}

#[tauri::command]
pub async fn run_start(
    current: tauri::State<'_, CurrentClass>,
    doc: String,
    file: String,
) -> Result<RunStarted, String> {
    let class = current.get().await?;
    let doc = parse_doc_key(&doc).map_err(text)?;
    let (run, runtime) = class.run(doc, &file).await.map_err(text)?;
    Ok(RunStarted { run, runtime })
}

#[tauri::command]
pub async fn run_stop(current: tauri::State<'_, CurrentClass>, run: u64) -> Result<(), String> {
    current.get().await?.stop_run(run).map_err(text)
}

#[tauri::command]
pub async fn run_input(
    current: tauri::State<'_, CurrentClass>,
    run: u64,
    line: String,
) -> Result<(), String> {
    current.get().await?.run_input(run, &line).map_err(text)
}

#[tauri::command]
pub async fn raise_hand(
    current: tauri::State<'_, CurrentClass>,
    raised: bool,
) -> Result<(), String> {
    current.get().await?.raise_hand(raised).await.map_err(text)
}
