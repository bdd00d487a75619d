import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The app is served from Tauri's own protocol and must work offline: everything, Monaco's
// workers included, is bundled into dist/ and nothing is fetched from a CDN.
export default defineConfig({
  clearScreen: false,
  base: "./",
  plugins: [svelte()],
  resolve: {
    alias: {
      // y-monaco imports Monaco's API by a path that monaco-editor 0.57's exports map no longer
      // serves; point it at the same module the app uses.
      "monaco-editor/esm/vs/editor/editor.api.js": fileURLToPath(
        new URL("./node_modules/monaco-editor/esm/vs/editor/editor.api.js", import.meta.url),
      ),
    },
  },
  build: {
    target: "safari15",
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 8000,
  },
  worker: { format: "es" },
  server: { port: 5173, strictPort: true },
});
