import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Client } from "jobcast";
import { JobcastProvider } from "jobcast/react";
import { App } from "./App";
import "./styles.css";

// The jobcast server: ?server=... (and ?token=... for a server with tokens; a real app gets
// the job from its backend instead, and the page needs only its signed stream_url).
const params = new URLSearchParams(location.search);
const client = new Client({
  baseUrl: params.get("server") ?? import.meta.env.VITE_JOBCAST_URL ?? "http://127.0.0.1:8080",
  token: params.get("token") ?? undefined,
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <JobcastProvider client={client}>
      <App />
    </JobcastProvider>
  </StrictMode>,
);
