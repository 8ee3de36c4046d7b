// The peer in jobcast's throughput benchmark (benches/jobcast.rs, `throughput`): the same
// workload on BullMQ, so the ratio is measured in the same run rather than remembered.
//
//   node bullmq.mjs SCENARIO JOBS WORKERS [REDIS_URL]
//
// SCENARIO: `create` (JOBS jobs added by 16 concurrent producers, no worker running), `drain`
// (JOBS jobs queued first, then one Worker with concurrency WORKERS empties the queue), `e2e`
// (the worker runs while 16 producers add the jobs), `bulk` (JOBS jobs added with addBulk, 1 000
// per call, by 4 concurrent producers, no worker running; WORKERS is not used, as in `create`).
// The processor is an empty async function,
// as jobcast's `demo` job with one 0 ms step is. Prints one JSON object: the wall time, jobs per
// second, and the CPU seconds of this process and of Redis (from INFO), so that CPU per job
// counts the whole peer (producer, worker and Redis) as jobcast's counts its server.
import { randomUUID } from "node:crypto";
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";

const [scenario, jobsText, workersText, url = "redis://127.0.0.1:6379"] = process.argv.slice(2);
const jobs = Number(jobsText);
const workers = Number(workersText);
const PRODUCERS = 16;
const BULK_PRODUCERS = 4;
const BULK_SIZE = 1000;
if (!["create", "drain", "e2e", "bulk"].includes(scenario) || !(jobs > 0) || !(workers > 0)) {
  console.error("usage: node bullmq.mjs create|drain|e2e|bulk JOBS WORKERS [REDIS_URL]");
  process.exit(2);
}
const { hostname, port } = new URL(url);
const connection = { host: hostname, port: Number(port || 6379), maxRetriesPerRequest: null };
const name = `jobcast-bench-${randomUUID()}`;
const queue = new Queue(name, { connection });

// A connection of its own for INFO, beside BullMQ's.
const admin = new IORedis(connection);

async function redisCpuSeconds() {
  const info = await admin.info("cpu");
  const field = (key) => Number((info.match(new RegExp(`${key}:([0-9.]+)`)) || [])[1] || 0);
  return field("used_cpu_sys") + field("used_cpu_user");
}

function processCpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Adds `count` jobs from PRODUCERS concurrent loops, each awaiting its add before the next. */
async function produce(count) {
  let next = 0;
  const loop = async () => {
    while (next < count) {
      next += 1;
      await queue.add("noop", { n: next });
    }
  };
  await Promise.all(Array.from({ length: PRODUCERS }, loop));
}

/** Adds `count` jobs with addBulk, BULK_SIZE a call, from BULK_PRODUCERS concurrent loops. */
async function produceBulk(count) {
  let next = 0;
  const loop = async () => {
    while (next < count) {
      const from = next;
      const size = Math.min(BULK_SIZE, count - from);
      next += size;
      await queue.addBulk(Array.from({ length: size }, (_, k) => ({ name: "noop", data: { n: from + k } })));
    }
  };
  await Promise.all(Array.from({ length: BULK_PRODUCERS }, loop));
}

/** A worker with `concurrency` slots; resolves once `count` jobs have completed. */
function work(count, concurrency) {
  let done = 0;
  let resolve;
  const finished = new Promise((r) => (resolve = r));
  const worker = new Worker(name, async () => {}, { connection, concurrency, autorun: true });
  worker.on("completed", () => {
    done += 1;
    if (done === count) resolve();
  });
  worker.on("failed", (_, error) => {
    console.error("a job failed:", error);
    process.exit(1);
  });
  return { worker, finished };
}

await queue.waitUntilReady();
if (scenario === "drain") {
  // Queued before the clock starts, in bulk (not measured).
  for (let i = 0; i < jobs; i += 1000) {
    const size = Math.min(1000, jobs - i);
    await queue.addBulk(Array.from({ length: size }, (_, k) => ({ name: "noop", data: { n: i + k } })));
  }
}
const cpuBefore = [processCpuSeconds(), await redisCpuSeconds()];
const started = performance.now();
let worker;
if (scenario === "create") {
  await produce(jobs);
} else if (scenario === "bulk") {
  await produceBulk(jobs);
} else if (scenario === "drain") {
  const running = work(jobs, workers);
  worker = running.worker;
  await running.finished;
} else {
  const running = work(jobs, workers);
  worker = running.worker;
  await Promise.all([produce(jobs), running.finished]);
}
const seconds = (performance.now() - started) / 1000;
const cpuAfter = [processCpuSeconds(), await redisCpuSeconds()];
if (worker) await worker.close();
await queue.obliterate({ force: true });
await queue.close();
admin.disconnect();
const processCpu = cpuAfter[0] - cpuBefore[0];
const redisCpu = cpuAfter[1] - cpuBefore[1];
console.log(
  JSON.stringify({
    peer: "bullmq",
    scenario,
    jobs,
    workers,
    seconds: Number(seconds.toFixed(3)),
    jobs_per_second: Number((jobs / seconds).toFixed(1)),
    node_cpu_seconds: Number(processCpu.toFixed(3)),
    redis_cpu_seconds: Number(redisCpu.toFixed(3)),
    cpu_ms_per_job: Number((((processCpu + redisCpu) * 1000) / jobs).toFixed(3)),
  }),
);
