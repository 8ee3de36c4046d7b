// The shared harness (clients/harness/jobcast_server.py) from node: a real jobcast on a free
// loopback port with a fresh database, that a test can kill and start again.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const script = join(repo, "clients", "harness", "jobcast_server.py");

export class Server {
  static async start({ tokens = false, env = {}, tokenTtl } = {}) {
    const args = [script];
    if (tokens) args.push("--tokens");
    for (const [key, value] of Object.entries(env)) args.push("--env", `${key}=${value}`);
    if (tokenTtl) args.push("--token-ttl", tokenTtl);
    const child = spawn(process.env.PYTHON ?? "python3", args, { stdio: ["pipe", "pipe", "inherit"] });
    const server = new Server(child);
    server.info = await server.next();
    return server;
  }

  constructor(child) {
    this.child = child;
    this.waiting = [];
    this.lines = [];
    createInterface({ input: child.stdout }).on("line", (line) => {
      const waiter = this.waiting.shift();
      if (waiter) waiter(JSON.parse(line));
      else this.lines.push(JSON.parse(line));
    });
    child.on("exit", (code) => {
      for (const waiter of this.waiting.splice(0)) waiter({ error: `the harness exited (${code})` });
    });
  }

  next() {
    return new Promise((resolve, reject) => {
      const done = (message) => (message.error ? reject(new Error(message.error)) : resolve(message));
      const ready = this.lines.shift();
      if (ready) done(ready);
      else this.waiting.push(done);
    });
  }

  async command(line) {
    this.child.stdin.write(`${line}\n`);
    const answer = await this.next();
    if (answer.base) this.info = answer;
    return answer;
  }

  get base() {
    return this.info.base;
  }

  get tokens() {
    return this.info.tokens;
  }

  kill() {
    return this.command("kill");
  }

  start(changes = {}) {
    return this.command(["start", ...Object.entries(changes).map(([k, v]) => `${k}=${v}`)].join(" "));
  }

  restart(changes = {}) {
    return this.command(["restart", ...Object.entries(changes).map(([k, v]) => `${k}=${v}`)].join(" "));
  }

  async log() {
    return (await this.command("log")).log;
  }

  /** One series of /metrics (0 when absent). */
  async metric(series) {
    const headers = this.tokens.admin ? { Authorization: `Bearer ${this.tokens.admin}` } : {};
    const text = await (await fetch(`${this.base}/metrics`, { headers })).text();
    for (const line of text.split("\n")) {
      if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
    }
    return 0;
  }

  async close() {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.stdin.end();
    await exited;
  }
}

/** Polls `probe` until `done` accepts its value; fails with the last value after `ms`. */
export async function until(what, probe, done = Boolean, ms = 15000) {
  const deadline = Date.now() + ms;
  let value;
  for (;;) {
    value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${ms} ms; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Waits for the next value of an async iterator, with a deadline. */
export async function nextWithin(iterator, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([iterator.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
