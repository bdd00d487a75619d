// Who this person is: asked once, kept by the Rust side in the data dir.
import { writable } from "svelte/store";
import { api, type Profile } from "../lib/ipc";

export const profile = writable<Profile | null | undefined>(undefined);

export async function loadProfile() {
  try {
    profile.set(await api.profileGet());
  } catch {
    profile.set(null);
  }
}
