import { useEffect, useRef, useState } from "react";
import type { Job } from "jobcast";
import { useJobcastClient, useJob, useUpload } from "jobcast/react";

interface ImportResult {
  traces: number;
  spans: number;
  error_spans: number;
  skipped_lines: number;
}

/**
 * The import modal: pick a file, upload it (its own bar), start the import job, follow it
 * (one live bar, the log lines), then the result or the error, with retry. Closing the modal
 * (or unmounting it) stops following; the job itself goes on.
 */
export function ImportModal(props: { onClose(): void; onImported(summary: string): void }) {
  const client = useJobcastClient();
  const dialog = useRef<HTMLDialogElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [job, setJob] = useState<Job | null>(null);
  const [startError, setStartError] = useState<string | null>(null);
  const upload = useUpload();
  const followed = useJob(job, {
    onFinished: (state) => {
      if (state.status === "completed") {
        const r = state.result as ImportResult;
        props.onImported(`${file?.name ?? "file"}: ${r.traces} traces, ${r.spans} spans`);
      }
    },
  });

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
  }, []);

  async function start() {
    if (!file) return;
    setStartError(null);
    setJob(null);
    try {
      const uploaded = await upload.upload(file, { contentType: "application/x-ndjson" });
      setJob(await client.createJob("import-traces", { upload_id: uploaded.upload_id }));
    } catch (error) {
      setStartError(error instanceof Error ? error.message : String(error));
    }
  }

  const running = followed.status === "queued" || followed.status === "running";
  const result = followed.status === "completed" ? (followed.result as ImportResult) : null;
  const failed = followed.status === "failed" || followed.status === "cancelled";
  const busy = upload.status === "uploading" || running;

  return (
    <dialog ref={dialog} id="import-dialog" onClose={props.onClose}>
      <h2>Import traces</h2>
      <label className="file">
        <span>JSONL file</span>
        <input
          id="file"
          type="file"
          accept=".jsonl,.ndjson,application/x-ndjson"
          disabled={busy}
          onChange={(event) => setFile(event.target.files?.[0] ?? null)}
        />
      </label>

      {upload.status !== "idle" && (
        <section className="step" id="upload">
          <div className="row">
            <span>Upload</span>
            <span id="upload-percent">{Math.round(upload.progress)}%</span>
          </div>
          <progress id="upload-bar" max={100} value={upload.progress} aria-valuenow={Math.round(upload.progress)} />
        </section>
      )}

      {job && (
        <section className="step" id="job">
          <div className="row">
            <span>
              Import <span id="job-status" className={`status ${followed.status ?? ""}`}>{followed.status}</span>
            </span>
            <span id="job-message">
              {followed.stage ? `[${followed.stage}] ` : ""}
              {followed.message ?? ""}
            </span>
          </div>
          <progress id="job-bar" max={100} value={followed.progress} aria-valuenow={Math.round(followed.progress)} />
          <ol id="logs" className="logs">
            {followed.logs.map((line) => (
              <li key={line.seq} className={line.level}>
                {line.message}
              </li>
            ))}
          </ol>
        </section>
      )}

      {result && (
        <p id="result" className="result">
          Imported {result.spans} spans in {result.traces} traces ({result.error_spans} with errors,{" "}
          {result.skipped_lines} lines skipped).
        </p>
      )}
      {(failed || startError || followed.requestError) && (
        <p id="error" className="error">
          {startError ?? (followed.status === "cancelled" ? "Cancelled." : followed.error)}
        </p>
      )}

      <footer>
        {running && (
          <button id="cancel" type="button" onClick={() => void followed.cancel()}>
            Cancel import
          </button>
        )}
        {failed && (
          <button id="retry" type="button" onClick={() => void followed.retry()}>
            Retry
          </button>
        )}
        <button id="start" type="button" disabled={!file || busy} onClick={() => void start()}>
          {job ? "Import again" : "Upload and import"}
        </button>
        <button id="close" type="button" onClick={() => dialog.current?.close()}>
          Close
        </button>
      </footer>
    </dialog>
  );
}
