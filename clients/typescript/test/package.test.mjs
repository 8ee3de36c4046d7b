// Publish-ready: `npm pack` makes a tarball that installs into a fresh project (offline: the
// package has no dependencies), works there against the server, and type-checks there
// through its "exports". Nothing is published.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Server } from "./harness.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const npm = process.env.npm_execpath
  ? [process.execPath, process.env.npm_execpath]
  : ["npm"];
const run = (args, cwd) => {
  const [command, ...rest] = [...npm, ...args];
  return execFileSync(command, rest, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
};

let server;
let work;
before(async () => {
  server = await Server.start({ tokens: true });
  work = mkdtempSync(join(tmpdir(), "jobcast-npm-"));
});
after(async () => {
  await server.close();
  rmSync(work, { recursive: true, force: true });
});

test("the packed tarball installs in a fresh project and works there, typed", () => {
  // dist/ is this build (npm test checked it); the prepack script would build it again.
  const [packed] = JSON.parse(run(["pack", "--json", "--ignore-scripts", "--pack-destination", work], root));
  const files = packed.files.map((f) => f.path).sort();
  assert.deepEqual(files, [
    "README.md",
    "dist/index.d.ts",
    "dist/index.js",
    "dist/openapi.d.ts",
    "dist/openapi.js",
    "dist/react.d.ts",
    "dist/react.js",
    "package.json",
  ]);
  const project = join(work, "app");
  execFileSync("mkdir", ["-p", project]);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  run(["install", "--offline", "--no-audit", "--no-fund", join(work, packed.filename)], project);
  writeFileSync(
    join(project, "use.mjs"),
    `import { Client } from "jobcast";
const client = new Client({ baseUrl: process.argv[2], token: process.argv[3] });
const job = await client.createJob("demo", { steps: 3, step_ms: 10 });
let last;
for await (const event of client.jobEvents(job)) last = event;
console.log(last.event, Object.keys(last.data.result).sort().join(","));
`,
  );
  const output = execFileSync(process.execPath, ["use.mjs", server.base, server.tokens.submit], {
    cwd: project,
    encoding: "utf8",
  });
  assert.equal(output.trim(), "completed elapsed_ms,steps");

  writeFileSync(
    join(project, "use.ts"),
    `import { Client, type Job, type JobStreamEvent } from "jobcast";
export async function last(client: Client, job: Job): Promise<JobStreamEvent | undefined> {
  let seen: JobStreamEvent | undefined;
  for await (const event of client.jobEvents(job)) seen = event;
  if (seen?.event === "log") return seen.data.seq > 0 ? seen : undefined;
  return seen;
}
`,
  );
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  try {
    execFileSync(
      process.execPath,
      [tsc, "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--lib", "es2022,dom", "use.ts"],
      { cwd: project, encoding: "utf8", stdio: "pipe" },
    );
  } catch (error) {
    assert.fail(`the installed package does not type-check:\n${error.stdout}${error.stderr}`);
  }
  assert.equal(JSON.parse(readFileSync(join(project, "node_modules", "jobcast", "package.json"), "utf8")).name, "jobcast");
});
