// The Rust side, typed: commands, and the class's channel, on which JSON events and binary
// document frames (`[kind][key length][key][yrs update]`) arrive in order.
import { Channel, invoke } from "@tauri-apps/api/core";

export type Role = "Instructor" | "Learner" | "Observer";

export interface Profile { name: string; colour: string }

export interface RecentSession {
  id: number;
  title: string;
  hosted: boolean;
  started_ms: number;
  last_ms: number;
  participants: string[];
  languages: string[];
  ticket: string | null;
}

export interface Entered {
  me: string;
  title: string;
  instructor: boolean;
  ticket: string | null;
  code: string | null;
  workspace: string;
  notes: string[];
}

export interface Person {
  id: string;
  name: string;
  colour: string;
  role: Role;
  online: boolean;
  waiting: boolean;
}

export interface PresenceState {
  person: string;
  name: string;
  colour: string;
  role: Role;
  doc: string | null;
  file: string | null;
  cursor: number | null;
  selection: [number, number] | null;
}

export type Connection =
  | { state: "hosting" | "connecting" | "waiting" | "connected" | "gone" }
  | { state: "reconnecting"; retry_ms: number };

export type ClassEvent =
  | { kind: "connection"; connection: Connection; message: string }
  | { kind: "welcome"; role: Role; title: string }
  | { kind: "people"; people: Person[]; online: number }
  | { kind: "access"; readable: string[]; writable: string[] }
  | { kind: "pen"; holder: string | null; message: string }
  | { kind: "role"; role: Role; message: string }
  | { kind: "follow"; leader: string | null; binding: boolean; message: string }
  | { kind: "presence"; changes: { client: number; state: PresenceState | null }[] }
  | { kind: "join_request"; person: Person }
  | { kind: "chat"; from: string; name: string; text: string }
  | { kind: "notice"; message: string }
  | { kind: "close_requested"; message: string }
  | { kind: "chat_allowed"; on: boolean; message: string }
  | { kind: "rules"; approval_required: boolean; locked: boolean }
  | { kind: "hands"; people: string[] }
  | { kind: "run"; run: number; by: string; name: string; step: RunStepView };

export interface ErrorLine { file: string; line: number; column: number | null; message: string | null }

export type RunStepView =
  | { step: "started"; doc: string; path: string; runtime: string }
  | { step: "output"; stderr: boolean; text: string; errors: ErrorLine[] }
  | { step: "ended"; outcome: string; wall_ms: number };

export interface DocumentFrame { reset: boolean; doc: string; update: Uint8Array }

export type ClassAction =
  | { action: "approve" | "deny" | "remove" | "make_observer" | "make_learner" | "give_pen" | "lower_hand"; person: string }
  | { action: "take_pen" | "allow_code_joins" }
  | { action: "require_approval" | "lock" | "lecture" | "learners_chat"; on: boolean };

export interface WindowPresence {
  doc: string | null;
  file: string | null;
  cursor: number | null;
  selection: [number, number] | null;
  following: string | null;
}

const decoder = new TextDecoder();

function bytesOf(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (data instanceof Uint8Array) return data;
  if (Array.isArray(data)) return Uint8Array.from(data as number[]);
  return null;
}

/** Reads a binary frame of the class channel. */
export function readFrame(bytes: Uint8Array): DocumentFrame | null {
  if (bytes.length < 2) return null;
  const keyLength = bytes[1];
  if (bytes.length < 2 + keyLength) return null;
  return {
    reset: bytes[0] === 1,
    doc: decoder.decode(bytes.subarray(2, 2 + keyLength)),
    update: bytes.subarray(2 + keyLength),
  };
}

/** A channel for one class: events and document frames each go to their handler. */
export function classChannel(
  onEvent: (event: ClassEvent) => void,
  onFrame: (frame: DocumentFrame) => void,
): Channel<unknown> {
  const channel = new Channel<unknown>();
  channel.onmessage = (message) => {
    const bytes = bytesOf(message);
    if (bytes) {
      const frame = readFrame(bytes);
      if (frame) onFrame(frame);
      return;
    }
    onEvent(message as ClassEvent);
  };
  return channel;
}

/** The error of a failed command, as the sentence Rust gave. */
export const sentence = (error: unknown) => (typeof error === "string" ? error : String(error));

export const api = {
  profileGet: () => invoke<Profile | null>("profile_get"),
  profileSave: (profile: Profile) => invoke<Profile>("profile_save", { ...profile }),
  profileColours: () => invoke<string[]>("profile_colours"),
  recentSessions: () => invoke<RecentSession[]>("recent_sessions"),
  checkFilePath: (path: string) => invoke<void>("check_file_path", { path }),
  hostClass: (
    title: string,
    board: { starter: [string, string][]; folder: string | null },
    resume: number | null,
    events: Channel<unknown>,
  ) => invoke<Entered>("host_class", { title, board, resume, events }),
  joinClass: (ticket: string, events: Channel<unknown>) => invoke<Entered>("join_class", { ticket, events }),
  nearbyRooms: () => invoke<{ hub: string; title: string }[]>("nearby_rooms"),
  joinNearby: (hub: string, code: string, events: Channel<unknown>) =>
    invoke<Entered>("join_nearby", { hub, code, events }),
  docState: async (doc: string) => bytesOf(await invoke<unknown>("doc_state", { doc })) ?? new Uint8Array(),
  docUpdate: (doc: string, update: Uint8Array) => invoke<void>("doc_update", update, { headers: { doc } }),
  setPresence: (presence: WindowPresence) => invoke<void>("set_presence", { presence }),
  act: (action: ClassAction) => invoke<string>("class_act", { action }),
  say: (text: string) => invoke<void>("class_say", { text }),
  leave: (end: boolean, confirmed: boolean) => invoke<string | null>("leave_class", { end, confirmed }),
  quit: () => invoke<void>("quit"),
  runRuntime: (file: string) => invoke<string>("run_runtime", { file }),
  runStart: (doc: string, file: string) => invoke<{ run: number; runtime: string }>("run_start", { doc, file }),
  runStop: (run: number) => invoke<void>("run_stop", { run }),
  runInput: (run: number, line: string) => invoke<void>("run_input", { run, line }),
  raiseHand: (raised: boolean) => invoke<void>("raise_hand", { raised }),
};
