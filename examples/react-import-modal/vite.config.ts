import { defineConfig } from "vite";

// No plugin needed: Vite's esbuild compiles the TSX (the automatic JSX runtime).
export default defineConfig({
  base: "./",
  esbuild: { jsx: "automatic" },
  // jobcast is linked from clients/typescript, which has React of its own for its tests:
  // one React for the app and the hooks.
  resolve: { dedupe: ["react", "react-dom"] },
  build: { outDir: "dist", emptyOutDir: true },
});
