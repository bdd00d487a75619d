// The class this window is in: how it is connected, who is there, what this person may do,
// and where everyone is. Fed by the class channel's events.
import { derived, get, writable } from "svelte/store";
import { Documents } from "../lib/docs";
import { resetRuns, takeRunEvent } from "./runs";
import {
  api,
  classChannel,
  type ClassEvent,
  type Connection,
  type Entered,
  type Person,
  type PresenceState,
  type Role,
} from "../lib/ipc";

export interface ClassState {
  entered: Entered;
  role: Role;
  title: string;
  connection: Connection;
  connectionMessage: string;
  people: Person[];
  online: number;
  readable: string[];
  writable: string[];
  pen: string | null;
  /** Whom lecture mode (binding) or this person (not binding) follows. */
  lecture: { leader: string | null; message: string } | null;
  /** Chat lines, newest last, with when they arrived (ms). */
  chat: { from: string; name: string; text: string; at: number }[];
  /** Whether learners may write in the chat (the instructor turns it off and on). */
  chatAllowed: boolean;
  /** The room's rules (the instructor's menu shows them). */
  rules: { approvalRequired: boolean; locked: boolean };
  /** Whose hands are raised ("I'm stuck"). */
  hands: string[];
}

export const current = writable<ClassState | null>(null);
/** Each window (awareness client) in the room and where it is. */
export const presence = writable<Map<number, PresenceState>>(new Map());
/** Messages to show once, newest last. */
export const notices = writable<{ id: number; text: string }[]>([]);
/** A question to ask before the window closes (unsent edits). */
export const closeQuestion = writable<string | null>(null);

let noticeId = 0;
export function notify(text: string) {
  const id = ++noticeId;
  notices.update((list) => [...list.slice(-4), { id, text }]);
  setTimeout(() => notices.update((list) => list.filter((n) => n.id !== id)), 8000);
}

export let documents = new Documents(notify);

export const myRole = derived(current, ($current) => $current?.role ?? null);

export function mayWrite(state: ClassState | null, doc: string): boolean {
  return !!state && state.writable.includes(doc);
}

function update(change: (state: ClassState) => Partial<ClassState>) {
  current.update((state) => (state ? { ...state, ...change(state) } : state));
}

/** Events that came before the command entering the class had answered (the class starts
 * talking at once): taken in when it has. */
let early: ClassEvent[] = [];

function handle(event: ClassEvent) {
  if (!get(current)) {
    early.push(event);
    return;
  }
  switch (event.kind) {
    case "connection":
      update(() => ({ connection: event.connection, connectionMessage: event.message }));
      if (event.connection.state === "gone") notify(event.message);
      break;
    case "welcome":
      update(() => ({ role: event.role, title: event.title }));
      break;
    case "people":
      update(() => ({ people: event.people, online: event.online }));
      break;
    case "access":
      update(() => ({ readable: event.readable, writable: event.writable }));
      break;
    case "pen": {
      const state = get(current);
      update(() => ({ pen: event.holder }));
      if (state && !state.entered.instructor) notify(event.message);
      break;
    }
    case "role":
      update(() => ({ role: event.role }));
      notify(event.message);
      break;
    case "follow":
      update(() => ({
        lecture: event.binding && event.leader ? { leader: event.leader, message: event.message } : null,
      }));
      notify(event.message);
      break;
    case "presence":
      presence.update((map) => {
        const next = new Map(map);
        for (const change of event.changes) {
          if (change.state) next.set(change.client, change.state);
          else next.delete(change.client);
        }
        return next;
      });
      break;
    case "join_request":
      notify(`${event.person.name} asks to join: approve or refuse in the list`);
      break;
    case "chat":
      update((state) => ({
        chat: [...state.chat.slice(-199), { from: event.from, name: event.name, text: event.text, at: Date.now() }],
      }));
      break;
    case "notice":
      notify(event.message);
      break;
    case "close_requested":
      closeQuestion.set(event.message);
      break;
    case "run":
      takeRunEvent(event);
      break;
    case "hands": {
      const state = get(current);
      const raised = event.people.filter((id) => !state?.hands.includes(id));
      update(() => ({ hands: event.people }));
      if (state?.entered.instructor) {
        for (const id of raised) {
          const name = state.people.find((p) => p.id === id)?.name ?? "Someone";
          notify(`${name} raised a hand`);
        }
      }
      break;
    }
    case "rules":
      update(() => ({ rules: { approvalRequired: event.approval_required, locked: event.locked } }));
      break;
    case "chat_allowed":
      update(() => ({ chatAllowed: event.on }));
      notify(event.message);
      break;
  }
}

/** A fresh channel for a class about to be entered. */
export function newChannel() {
  early = [];
  documents.closeAll();
  documents = new Documents(notify);
  const docs = documents;
  return classChannel(handle, (frame) => docs.frame(frame));
}

export function entered(entered: Entered) {
  presence.set(new Map());
  resetRuns();
  current.set({
    entered,
    role: entered.instructor ? "Instructor" : "Learner",
    title: entered.title,
    connection: entered.instructor ? { state: "hosting" } : { state: "connecting" },
    connectionMessage: "",
    people: [],
    online: 0,
    readable: [],
    writable: [],
    pen: null,
    lecture: null,
    chat: [],
    chatAllowed: true,
    rules: { approvalRequired: false, locked: false },
    hands: [],
  });
  for (const note of entered.notes) notify(note);
  const waiting = early;
  early = [];
  for (const event of waiting) handle(event);
}

/** Leaves (or ends) the class; the question to ask first when edits would stay behind. */
export async function leave(end: boolean, confirmed: boolean): Promise<string | null> {
  const question = await api.leave(end, confirmed);
  if (question) return question;
  documents.closeAll();
  current.set(null);
  presence.set(new Map());
  return null;
}
