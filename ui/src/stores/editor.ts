// What the editor shows: the open tabs (document and file), the one in front, and whom this
// person follows.
import { writable } from "svelte/store";

export interface Tab { doc: string; file: string }

export const tabs = writable<Tab[]>([]);
export const active = writable<Tab | null>(null);
/** The document whose files the tree shows. */
export const browsing = writable<string>("board");
/** The person followed by choice (lecture mode is in the class store). */
export const following = writable<string | null>(null);

export const sameTab = (a: Tab | null, b: Tab | null) => !!a && !!b && a.doc === b.doc && a.file === b.file;

export function open(tab: Tab) {
  tabs.update((list) => (list.some((t) => sameTab(t, tab)) ? list : [...list, tab]));
  active.set(tab);
  browsing.set(tab.doc);
}

export function close(tab: Tab) {
  tabs.update((list) => {
    const rest = list.filter((t) => !sameTab(t, tab));
    active.update((now) => (sameTab(now, tab) ? rest[rest.length - 1] ?? null : now));
    return rest;
  });
}

export function reset() {
  tabs.set([]);
  active.set(null);
  browsing.set("board");
  following.set(null);
}
