// The types: a user's code compiles against the package's declarations (resolved through
// its "exports", as an installed package is), the served /jobcast.d.ts compiles on its own,
// and the event payloads the client pairs by hand are the ones the OpenAPI document names.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { repo } from "./harness.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

function compile(args) {
  try {
    execFileSync(process.execPath, [tsc, ...args], { cwd: root, encoding: "utf8", stdio: "pipe" });
  } catch (error) {
    assert.fail(`tsc ${args.join(" ")}:\n${error.stdout}${error.stderr}`);
  }
}

test("a TypeScript user's code compiles against the package (self-referenced through exports)", () => {
  compile(["-p", "test/types/tsconfig.json"]);
});

test("the served jobcast.d.ts is self-contained and compiles alone", () => {
  compile(["--noEmit", "--strict", "--lib", "ES2022,DOM,DOM.Iterable", "dist/browser/jobcast.d.ts"]);
  const dts = readFileSync(join(root, "dist", "browser", "jobcast.d.ts"), "utf8");
  assert.doesNotMatch(dts, /from "\.\//, "no relative imports left");
});

test("each stream event's data is the schema the client pairs with its name", () => {
  const doc = JSON.parse(readFileSync(join(repo, "src", "http", "openapi.json"), "utf8"));
  const schemas = doc.components.schemas;
  // Each event name with the shapes of its branches: a schema, or a schema narrowed to some
  // statuses ("JobEvent:queued|running").
  const byName = (schema) => {
    const names = {};
    for (const branch of schema.oneOf) {
      const content = branch.properties.data.contentSchema;
      const status = content.allOf?.[1].properties.status;
      const shape = content.$ref
        ? content.$ref.split("/").at(-1)
        : `${content.allOf[0].$ref.split("/").at(-1)}:${(status.enum ?? [status.const]).join("|")}`;
      (names[branch.properties.event.const] ??= []).push(shape);
    }
    return names;
  };
  // As in src/index.ts: JobStreamEventData and ChangeEventData. The second progress branch is
  // a queued job's pause notice (no id), still a ProgressEvent.
  assert.deepEqual(byName(schemas.JobStreamEvent), {
    progress: ["ProgressEvent", "ProgressEvent:queued"],
    log: ["LogLine"],
    child: ["ChildEvent"],
    completed: ["CompletedEvent"],
    failed: ["FailedEvent"],
  });
  assert.deepEqual(byName(schemas.ChangeEvent), {
    ready: ["ReadyEvent"],
    progress: ["JobEvent:queued|running|waiting"],
    completed: ["JobEvent:completed"],
    failed: ["JobEvent:failed|cancelled"],
  });
  // And the two routes stream them.
  const item = (path) => doc.paths[path].get.responses["200"].content["text/event-stream"].itemSchema.$ref;
  assert.equal(item("/api/jobs/{id}/stream"), "#/components/schemas/JobStreamEvent");
  assert.equal(item("/api/events"), "#/components/schemas/ChangeEvent");
});
