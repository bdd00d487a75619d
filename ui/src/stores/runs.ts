// Runs seen in this class, kept per file (document and path): this person's own and those of
// documents they read, each with its output as it streamed and how it ended.
import { writable } from "svelte/store";
import type { ClassEvent, ErrorLine } from "../lib/ipc";

export interface RunRecord {
  run: number;
  by: string;
  name: string;
  doc: string;
  path: string;
  runtime: string;
  output: { stderr: boolean; text: string }[];
  /** Places the output points at (tracebacks, compiler errors), each once. */
  errors: ErrorLine[];
  ended: { outcome: string; wall_ms: number } | null;
}

/** Keyed `doc\npath`; runs in the order they started. */
export const runs = writable<Map<string, RunRecord[]>>(new Map());
/** Which file each run belongs to (steps after the start name only the run). */
const fileOf = new Map<number, string>();

export const fileKey = (doc: string, path: string) => `${doc}\n${path}`;

export function takeRunEvent(event: Extract<ClassEvent, { kind: "run" }>) {
  runs.update((all) => {
    const next = new Map(all);
    const step = event.step;
    if (step.step === "started") {
      const key = fileKey(step.doc, step.path);
      fileOf.set(event.run, key);
      const record: RunRecord = {
        run: event.run,
        by: event.by,
        name: event.name,
        doc: step.doc,
        path: step.path,
        runtime: step.runtime,
        output: [],
        errors: [],
        ended: null,
      };
      // The last 20 runs of a file are kept.
      next.set(key, [...(next.get(key) ?? []).slice(-19), record]);
      return next;
    }
    const key = fileOf.get(event.run);
    const list = key ? next.get(key) : undefined;
    const index = list?.findIndex((r) => r.run === event.run) ?? -1;
    if (!key || !list || index < 0) return all;
    const record = { ...list[index] };
    if (step.step === "output") {
      record.output = [...record.output, { stderr: step.stderr, text: step.text }];
      const fresh = step.errors.filter((e) => !record.errors.some((o) => o.file === e.file && o.line === e.line));
      if (fresh.length) record.errors = [...record.errors, ...fresh];
    }
    else if (step.step === "ended") record.ended = { outcome: step.outcome, wall_ms: step.wall_ms };
    const copy = [...list];
    copy[index] = record;
    next.set(key, copy);
    return next;
  });
}

export function resetRuns() {
  runs.set(new Map());
  fileOf.clear();
}
