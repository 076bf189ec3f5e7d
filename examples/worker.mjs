#!/usr/bin/env node
// An external Herald worker in plain Node (20+, no packages): it claims jobs of its types
// with POST /api/v1/jobs/claim (long poll), does the work in steps, reports each step with
// the lease token (which renews the lease) and completes or fails the job. The same loop
// fits any language: see docs/workers.md.
//
//   HERALD_URL=http://127.0.0.1:5000 node examples/worker.mjs Transcription
//
// Imported, runWorker() is what tests/e2e/node/test/workers.test.mjs runs.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function post(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Claims one job; null when none is queued within waitSeconds. */
export async function claim(url, { jobTypes, leaseSeconds = 30, workerId, waitSeconds = 10 }) {
  const res = await post(`${url}/api/v1/jobs/claim`, { jobTypes, leaseSeconds, workerId, waitSeconds });
  if (res.status === 204) return null;
  if (res.status !== 200) throw new Error(`claim: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Reports progress with the job's lease token; false once the lease is lost (409). */
export async function report(url, job, fields) {
  const res = await post(`${url}/api/v1/jobs/${job.jobId}/progress`, { ...fields, leaseToken: job.leaseToken });
  if (res.status === 409) return false; // taken over, cancelled or ended: stop working on it
  if (res.status !== 200) throw new Error(`report: ${res.status} ${JSON.stringify(res.body)}`);
  return true;
}

/**
 * Runs until `signal` aborts or `maxJobs` jobs are done. `work(job, step)` is the job's
 * work, step by step (here: a pause); `stallAfter` stops reporting after that many steps
 * and hangs on to the job (a stuck worker, for tests). Returns the jobs it finished.
 */
export async function runWorker({
  url, jobTypes, leaseSeconds = 30, workerId = `node-worker-${process.pid}`, steps = 5,
  stepMs = 200, maxJobs = Infinity, stallAfter = Infinity, signal, onClaim = () => {},
}) {
  const done = [];
  while (!signal?.aborted && done.length < maxJobs) {
    const job = await claim(url, { jobTypes, leaseSeconds, workerId, waitSeconds: 2 });
    if (!job) continue;
    onClaim(job);
    let held = true;
    for (let step = 1; held && step <= steps; step++) {
      if (step > stallAfter) {
        while (!signal?.aborted) await sleep(50); // stuck: no reports, the lease runs out
        return done;
      }
      await sleep(stepMs); // the real work goes here (e.g. a Whisper segment)
      // A report every step renews the lease; report at least every leaseSeconds / 3.
      held = await report(url, job, {
        progress: (100 * step) / (steps + 1), currentStage: 'Transcribing audio',
        statusMessage: `Step ${step} of ${steps}`,
      });
    }
    if (held && (await report(url, job, { status: 'Completed', statusMessage: `Done by ${workerId}` }))) {
      done.push(job.jobId);
    }
  }
  return done;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const url = process.env.HERALD_URL ?? 'http://127.0.0.1:5000';
  const jobTypes = process.argv.slice(2).length ? process.argv.slice(2) : ['Transcription'];
  const stop = new AbortController();
  process.on('SIGINT', () => stop.abort());
  process.on('SIGTERM', () => stop.abort());
  const done = await runWorker({ url, jobTypes, signal: stop.signal, onClaim: (j) => console.log(`claimed ${j.jobId} (attempt ${j.attempts})`) });
  console.log(`finished ${done.length} job(s)`);
}
