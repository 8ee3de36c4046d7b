import { useState } from "react";
import { ImportModal } from "./ImportModal";

export function App() {
  const [open, setOpen] = useState(false);
  const [imported, setImported] = useState<string[]>([]);
  return (
    <main>
      <header>
        <h1>Traces</h1>
        <button id="open-import" type="button" onClick={() => setOpen(true)}>
          Import traces…
        </button>
      </header>
      <p className="hint">Import a JSONL file of spans (OpenTelemetry field names).</p>
      {imported.length > 0 && (
        <ul id="imports">
          {imported.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      )}
      {open && (
        <ImportModal
          onClose={() => setOpen(false)}
          onImported={(summary) => setImported((all) => [...all, summary])}
        />
      )}
    </main>
  );
}
