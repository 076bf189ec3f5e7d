// REST and hub helpers for the video-pipeline end-to-end tests, and checks of the progress
// flows of spec section 4 (transcription, embedding) shared by several test files.
import assert from 'node:assert/strict';
import { request, getJson, postJson, waitFor } from './server.mjs';

export const TRANSCRIPTION_STAGES = [
  ['Starting transcription process', 0],
  ['Extracting audio', 10],
  ['Audio extraction completed', 30],
  ['Transcribing audio', 40],
  ['Transcription completed', 70],
  ['Saving transcript segments', 85],
];
export const EMBEDDING_STAGES = [
  ['Starting embedding generation', 0],
  ['Loading segments', 10],
  ['Generating embeddings', 10],
];

const enc = encodeURIComponent;

function expectStatus(res, status, what) {
  if (res.status !== status) throw new Error(`${what}: expected HTTP ${status}, got ${res.status}: ${res.text}`);
  return res.body;
}

/** POST /api/v1/videos/ingest; returns the 202 body (throws otherwise). */
export async function ingest(baseUrl, body) {
  const res = await postJson(baseUrl, '/api/v1/videos/ingest', body);
  return expectStatus(res, 202, `ingest ${JSON.stringify(body)}`);
}

export async function getVideo(baseUrl, videoId) {
  return expectStatus(await getJson(baseUrl, `/api/v1/videos/${enc(videoId)}`), 200, 'get video');
}

export async function getTranscript(baseUrl, videoId) {
  return expectStatus(await getJson(baseUrl, `/api/v1/videos/${enc(videoId)}/transcript`), 200, 'get transcript');
}

/** GET /api/v1/jobs?query; the job list whatever the envelope (array or {jobs|items}). */
export async function listJobs(baseUrl, query = '') {
  const body = expectStatus(await getJson(baseUrl, `/api/v1/jobs${query}`), 200, 'list jobs');
  if (Array.isArray(body)) return body;
  for (const k of ['jobs', 'items', 'data']) if (Array.isArray(body?.[k])) return body[k];
  throw new Error(`unexpected job list shape: ${JSON.stringify(body).slice(0, 300)}`);
}

export const cancelJob = (baseUrl, jobId) => request(baseUrl, 'POST', `/api/v1/jobs/${enc(jobId)}/cancel`);
export const retryJob = (baseUrl, jobId) => request(baseUrl, 'POST', `/api/v1/jobs/${enc(jobId)}/retry`);

/** The video's child jobs of one type, from GET /api/v1/videos/{id}. */
export async function jobsOfType(baseUrl, videoId, jobType) {
  const video = await getVideo(baseUrl, videoId);
  return (video.jobs ?? []).filter((j) => j.jobType === jobType);
}

/** Polls GET /api/v1/videos/{id} until a job of `jobType` is listed; returns its id. */
export async function waitForChildJob(baseUrl, videoId, jobType, timeoutMs = 15_000) {
  let last;
  const job = await waitFor(async () => {
    last = await getVideo(baseUrl, videoId);
    return (last.jobs ?? []).find((j) => j.jobType === jobType);
  }, timeoutMs, () => `a ${jobType} job for video ${videoId} (video: ${JSON.stringify(last)})`);
  return job.jobId;
}

/** Polls GET /api/v1/jobs/{id} until `pred(job)`; returns the job. */
export async function waitForJob(baseUrl, jobId, pred, timeoutMs = 15_000, what = 'state') {
  let last;
  return waitFor(async () => {
    const res = await getJson(baseUrl, `/api/v1/jobs/${enc(jobId)}`);
    last = res.body ?? res.text;
    return res.status === 200 && pred(res.body) ? res.body : null;
  }, timeoutMs, () => `job ${jobId} ${what} (last: ${JSON.stringify(last)})`);
}

export const isTerminal = (status) => ['Completed', 'Failed', 'Cancelled'].includes(status);

/**
 * Records, on one hub connection, every JobProgressUpdate, JobCompleted, JobFailed,
 * VideoProgressUpdate and Error in arrival order, with helpers to look at one job.
 */
export class PipelineWatcher {
  constructor(connection) {
    this.connection = connection;
    this.log = [];
    this.handlers = [];
    for (const name of ['JobProgressUpdate', 'JobCompleted', 'JobFailed', 'VideoProgressUpdate', 'Error']) {
      const h = (payload) => {
        this.log.push({ name, payload, at: Date.now() });
      };
      connection.on(name, h);
      this.handlers.push([name, h]);
    }
  }

  events(name, pred = () => true) {
    return this.log.filter((e) => e.name === name && pred(e.payload)).map((e) => e.payload);
  }

  updates(jobId) {
    return this.events('JobProgressUpdate', (u) => u?.jobId === jobId);
  }

  completed(jobId) {
    return this.events('JobCompleted', (u) => u?.jobId === jobId);
  }

  failed(jobId) {
    return this.events('JobFailed', (u) => u?.jobId === jobId);
  }

  videoUpdates(videoId) {
    return this.events('VideoProgressUpdate', (u) => u?.videoId === videoId);
  }

  /** Waits for an event `name` whose payload matches `pred`; returns {payload, at}. */
  waitFor(name, pred, timeoutMs = 15_000, what) {
    return waitFor(() => this.log.find((e) => e.name === name && pred(e.payload)), timeoutMs,
      () => `${name} ${what ?? pred} (got ${this.describe()})`);
  }

  waitForUpdate(jobId, pred, timeoutMs = 15_000, what) {
    return this.waitFor('JobProgressUpdate', (u) => u?.jobId === jobId && pred(u), timeoutMs, what ?? `of ${jobId} matching ${pred}`);
  }

  /** A short, readable dump of what was received (for failure messages). */
  describe(limit = 60) {
    const lines = this.log.slice(-limit).map(({ name, payload: p }) => {
      if (name === 'JobProgressUpdate') return `JPU ${p.jobType} ${p.jobId?.slice(0, 8)} #${p.sequence} ${p.status} ${p.progress} ${p.currentStage} | ${p.statusMessage}`;
      if (name === 'VideoProgressUpdate') return `VPU ${p.processingStatus} ${p.overallProgress} [${(p.stages ?? []).map((s) => `${s.name}:${s.status}:${s.progress}`).join(' ')}]`;
      return `${name} ${JSON.stringify(p)}`;
    });
    return `${this.log.length} events, last ${lines.length}:\n  ${lines.join('\n  ')}`;
  }

  stop() {
    for (const [name, h] of this.handlers) this.connection.off(name, h);
  }
}

const range = (from, to) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** Asserts that `updates` carry the sequences first, first+1, ... (no gap, no duplicate). */
export function assertContiguous(updates, first, what) {
  const seqs = updates.map((u) => u.sequence);
  assert.deepEqual(seqs, range(first, first + seqs.length - 1),
    `${what}: sequences must be strictly increasing with no gaps or duplicates, got ${JSON.stringify(seqs)}`);
}

/** Collapses consecutive updates of the same currentStage: [{stage, updates}]. */
export function stageRuns(updates) {
  const runs = [];
  for (const u of updates) {
    const last = runs.at(-1);
    if (last && last.stage === u.currentStage) last.updates.push(u);
    else runs.push({ stage: u.currentStage, updates: [u] });
  }
  return runs;
}

function flowDump(updates) {
  return updates.map((u) => `#${u.sequence} ${u.status} ${u.progress} ${u.currentStage} | ${u.statusMessage}`).join('\n  ');
}

function assertNonDecreasing(updates, what) {
  for (let i = 1; i < updates.length; i++) {
    assert.ok(updates[i].progress >= updates[i - 1].progress,
      `${what}: progress went back from ${updates[i - 1].progress} (#${updates[i - 1].sequence}) to ${updates[i].progress} (#${updates[i].sequence}):\n  ${flowDump(updates)}`);
  }
}

/**
 * The common head of a herald-run job's history: #1 Pending "Queued", #2 Running
 * "Starting"; returns the updates after it.
 */
function assertQueuedThenStarting(updates, what) {
  assert.ok(updates.length >= 3, `${what}: too few updates:\n  ${flowDump(updates)}`);
  const [queued, starting] = updates;
  assert.equal(queued.sequence, 1, `${what}: first update`);
  assert.equal(queued.status, 'Pending', `${what}: #1 status`);
  assert.equal(queued.currentStage, 'Queued', `${what}: #1 stage`);
  assert.equal(queued.progress, 0, `${what}: #1 progress`);
  assert.equal(starting.status, 'Running', `${what}: #2 status`);
  assert.equal(starting.currentStage, 'Starting', `${what}: #2 stage`);
  assert.equal(starting.progress, 0, `${what}: #2 progress`);
  return updates.slice(2);
}

/** The single terminal update at the end: Completed, 100, "Completed", no error. */
function assertCompletedLast(updates, what) {
  const last = updates.at(-1);
  assert.equal(last.status, 'Completed', `${what}: last update status:\n  ${flowDump(updates)}`);
  assert.equal(last.progress, 100, `${what}: last update progress`);
  assert.equal(last.currentStage, 'Completed', `${what}: last update stage`);
  assert.equal(last.errorMessage, null, `${what}: errorMessage of a completed job`);
  for (const u of updates.slice(0, -1)) {
    assert.ok(!isTerminal(u.status), `${what}: #${u.sequence} is ${u.status} before the end:\n  ${flowDump(updates)}`);
  }
}

/**
 * Checks one run (attempt) of the transcription flow of spec section 4, from #1 Queued (or
 * from a "Starting" update when `fromStarting`) to Completed. `segments` is the transcript's
 * segment count; `duration` the video duration in seconds.
 */
export function assertTranscriptionFlow(updates, { segments, duration, what = 'transcription', fromStarting = false }) {
  const body = fromStarting ? updates.slice(1) : assertQueuedThenStarting(updates, what);
  if (fromStarting) {
    assert.equal(updates[0].currentStage, 'Starting', `${what}: first update of the attempt`);
    assert.equal(updates[0].status, 'Running', `${what}: first update of the attempt`);
  }
  assertCompletedLast(updates, what);
  for (const u of body.slice(0, -1)) assert.equal(u.status, 'Running', `${what}: #${u.sequence} status`);
  assertNonDecreasing(body, what);
  const runs = stageRuns(body.slice(0, -1));
  assert.deepEqual(runs.map((r) => r.stage), TRANSCRIPTION_STAGES.map(([s]) => s),
    `${what}: stages in order, each once:\n  ${flowDump(updates)}`);
  TRANSCRIPTION_STAGES.forEach(([stage, progress], i) => {
    const run = runs[i];
    assert.equal(run.updates[0].progress, progress, `${what}: "${stage}" starts at ${progress}`);
    const next = i + 1 < TRANSCRIPTION_STAGES.length ? TRANSCRIPTION_STAGES[i + 1][1] : 100;
    for (const u of run.updates.slice(1)) {
      assert.ok(u.progress >= progress && u.progress < next,
        `${what}: #${u.sequence} "${stage}" progress ${u.progress} outside [${progress}, ${next})`);
    }
    if (stage !== 'Extracting audio' && stage !== 'Transcribing audio') {
      assert.equal(run.updates.length, 1, `${what}: "${stage}" is one update`);
    }
  });
  const extracted = runs[2].updates[0];
  const m = /^Duration: (\d+):(\d\d)$/.exec(extracted.statusMessage ?? '');
  assert.ok(m, `${what}: "Audio extraction completed" message ${JSON.stringify(extracted.statusMessage)} is not "Duration: m:ss"`);
  const seconds = Number(m[1]) * 60 + Number(m[2]);
  assert.ok(Math.abs(seconds - duration) <= 1, `${what}: ${extracted.statusMessage} vs the file's ${duration.toFixed(2)} s`);
  assert.equal(runs[4].updates[0].statusMessage, `Transcribed ${segments} segments`, `${what}: "Transcription completed" message`);
  return runs;
}

/**
 * Checks the embedding flow: 0 starting, 10 "Loaded N segments", then "Processed k/N
 * segments" batches with k a multiple of `batch` (or N), increasing, the last one N at 90,
 * each at 10 + 80 k/N; then Completed. Returns the batch updates.
 */
export function assertEmbeddingFlow(updates, { segments, batch, what = 'embedding' }) {
  const body = assertQueuedThenStarting(updates, what);
  assertCompletedLast(updates, what);
  assertNonDecreasing(body, what);
  const runs = stageRuns(body.slice(0, -1));
  assert.deepEqual(runs.map((r) => r.stage), EMBEDDING_STAGES.map(([s]) => s),
    `${what}: stages in order:\n  ${flowDump(updates)}`);
  assert.equal(runs[0].updates.length, 1);
  assert.equal(runs[0].updates[0].progress, 0);
  assert.equal(runs[1].updates.length, 1);
  assert.equal(runs[1].updates[0].progress, 10);
  assert.equal(runs[1].updates[0].statusMessage, `Loaded ${segments} segments`, `${what}: "Loading segments" message`);
  const batches = runs[2].updates;
  let previousK = 0;
  for (const u of batches) {
    const m = /^Processed (\d+)\/(\d+) segments$/.exec(u.statusMessage ?? '');
    assert.ok(m, `${what}: #${u.sequence} message ${JSON.stringify(u.statusMessage)} is not "Processed k/N segments"`);
    const k = Number(m[1]);
    assert.equal(Number(m[2]), segments, `${what}: #${u.sequence} N`);
    assert.ok(k > previousK, `${what}: #${u.sequence} k=${k} does not grow (previous ${previousK})`);
    assert.ok(k === segments || k % batch === 0, `${what}: #${u.sequence} k=${k} is not a whole number of batches of ${batch}`);
    const expected = 10 + (80 * k) / segments;
    assert.ok(Math.abs(u.progress - expected) < 0.11, `${what}: #${u.sequence} progress ${u.progress}, expected ${expected.toFixed(2)} for ${k}/${segments}`);
    assert.ok(u.progress > 10 && u.progress <= 90, `${what}: #${u.sequence} progress ${u.progress} outside (10, 90]`);
    previousK = k;
  }
  assert.equal(previousK, segments, `${what}: the last batch reports all ${segments} segments`);
  // The first batch is a stage change: the coalescer never drops it.
  const firstK = Number(/^Processed (\d+)/.exec(batches[0].statusMessage)[1]);
  assert.equal(firstK, Math.min(batch, segments), `${what}: the first batch update`);
  return batches;
}

/** Checks transcript segments: numbers, start < end, ordered, non-overlapping, inside [0, duration]. */
export function assertSegmentsOrdered(transcript, duration, what = 'transcript') {
  const segs = transcript.segments;
  assert.ok(Array.isArray(segs) && segs.length > 0, `${what}: no segments: ${JSON.stringify(transcript)}`);
  let previousEnd = 0;
  for (const [i, s] of segs.entries()) {
    assert.equal(typeof s.start, 'number', `${what}[${i}].start`);
    assert.equal(typeof s.end, 'number', `${what}[${i}].end`);
    assert.equal(typeof s.text, 'string', `${what}[${i}].text`);
    assert.ok(s.text.trim().length > 0, `${what}[${i}] has no text`);
    assert.ok(s.start < s.end, `${what}[${i}]: start ${s.start} < end ${s.end}`);
    assert.ok(s.start >= previousEnd, `${what}[${i}]: start ${s.start} before the previous end ${previousEnd}`);
    assert.ok(s.start >= 0 && s.end <= duration + 0.05, `${what}[${i}]: [${s.start}, ${s.end}] outside the ${duration} s audio`);
    previousEnd = s.end;
  }
  assert.equal(transcript.text, segs.map((s) => s.text).join(' '), `${what}: text is the segments joined`);
}

/**
 * Ingests a URL of `media` (startMediaServer) whose requests are held, at `priority`.
 * Returns at once with {jobId, videoId, arrived (resolves when a worker's download request
 * reaches the media server), release()}: release answers 404, so the job fails at once
 * (a permanent failure) and its worker is free again.
 */
export async function ingestHeld(baseUrl, media, { name = 'blocker', priority = 0 } = {}) {
  const held = media.hold(`/${name}-${Date.now()}-${Math.random().toString(36).slice(2)}.mp4`);
  const job = await ingest(baseUrl, { url: held.url, priority });
  return { jobId: job.jobId, videoId: job.videoId, url: held.url, arrived: held.arrived, release: () => held.release(404) };
}

/** Resolves with `promise`, or rejects after timeoutMs. */
export async function within(promise, timeoutMs, what) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Occupies a worker with a held ingest (see ingestHeld) and waits until the worker is in
 * it. With Jobs__WorkerCount=1, jobs ingested afterwards stay Pending until release(), so
 * a client can subscribe to them before anything happens.
 */
export async function occupyWorker(baseUrl, media, opts = {}) {
  const blocker = await ingestHeld(baseUrl, media, opts);
  await within(blocker.arrived, opts.timeoutMs ?? 10_000, `the worker to take the blocking job ${blocker.jobId}`);
  return blocker;
}
