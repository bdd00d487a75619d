import { defineConfig } from "vite";

// The app is served from Tauri's own protocol and must work offline: everything, Monaco's
// workers included, is bundled into dist/ and nothing is fetched from a CDN.
export default defineConfig({
  clearScreen: false,
  base: "./",
  build: {
    target: "safari15",
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 8000,
  },
  worker: { format: "es" },
  server: { port: 5173, strictPort: true },
});
