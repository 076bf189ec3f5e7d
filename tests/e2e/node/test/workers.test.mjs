// Leased jobs (issue 13, parts 2 and 3): external workers claim jobs with a lease and
// report with its token; a worker that stops renewing loses its job to another; a node
// killed with SIGKILL mid-transcription loses its job to another node after the lease
// expires, and the dead attempt's late report (replayed with its old token) is refused.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startServer, connect, safeStop, createJob, getJob, getHistory, postJson, request, waitFor, TIME_SCALE,
  removeDir,
} from '../lib/server.mjs';
import { prepareMedia } from '../lib/media.mjs';
import { ingest, waitForChildJob, waitForJob, PipelineWatcher } from '../lib/media_pipeline.mjs';
import { killNodeMidTranscription } from '../lib/lease_takeover.mjs';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../examples');
const { runWorker, claim } = await import(path.join(examples, 'worker.mjs'));

const claimRaw = (url, body) => postJson(url, '/api/v1/jobs/claim', body);
const reportRaw = (url, id, body) => postJson(url, `/api/v1/jobs/${id}/progress`, body);

describe('external workers claim jobs (EnableBackgroundJobs=false)', () => {
  let server;
  before(async () => {
    server = await startServer({ env: { AppSettings__EnableBackgroundJobs: 'false' } });
  });
  // node:test ignores a function returned by before(): the server is stopped here, or its
  // process would keep this file's runner alive until the per-file timeout.
  after(() => server.stop());

  test('a worker claims Transcription jobs, reports progress that subscribers receive, completes them', async () => {
    const { url } = server;
    const other = await createJob(url, { jobType: 'Thumbnail' });
    const a = await createJob(url, { jobType: 'Transcription', priority: 1 });
    const b = await createJob(url, { jobType: 'Transcription' });
    const c = await connect(10, url, { logLevel: 'None' });
    try {
      const watcher = new PipelineWatcher(c);
      await c.invoke('SubscribeToJob', a.jobId, 0);
      await c.invoke('SubscribeToJob', b.jobId, 0);
      const claims = [];
      const done = await runWorker({ url, jobTypes: ['Transcription'], workerId: 'w1', steps: 3, stepMs: 50, maxJobs: 2, onClaim: (j) => claims.push(j) });
      assert.deepEqual(done, [a.jobId, b.jobId], 'priority first, then oldest');
      for (const j of claims) {
        assert.match(j.leaseToken, /^[0-9a-f]{32}$/);
        assert.equal(j.leaseOwner, 'w1');
        assert.equal(j.status, 'Running');
        assert.equal(j.attempts, 1);
      }
      for (const id of [a.jobId, b.jobId]) {
        await watcher.waitFor('JobCompleted', (u) => u?.jobId === id, 5000);
        const steps = watcher.updates(id).filter((u) => u.statusMessage?.startsWith('Step '));
        assert.equal(steps.length, 3, watcher.describe());
        assert.equal((await getJob(url, id)).status, 'Completed');
      }
      // The Thumbnail job is nobody's here: still queued. Nothing of these types: 204.
      assert.equal((await getJob(url, other.jobId)).status, 'Pending');
      const none = await claimRaw(url, { jobTypes: ['Transcription'] });
      assert.equal(none.status, 204);
      assert.equal(none.text, '');
    } finally {
      await safeStop(c);
    }
  });

  test('a long poll gets a job created while it waits; bad claims are 400', async () => {
    const { url } = server;
    const started = Date.now();
    const waiting = claim(url, { jobTypes: ['LongPoll'], waitSeconds: 10, workerId: 'poller' });
    await new Promise((r) => setTimeout(r, 300));
    const job = await createJob(url, { jobType: 'LongPoll' });
    const got = await waiting;
    assert.equal(got?.jobId, job.jobId);
    assert.ok(Date.now() - started < 5000 * TIME_SCALE);
    // An empty long poll ends with 204 after about waitSeconds.
    const t0 = Date.now();
    const empty = await claimRaw(url, { jobTypes: ['Nothing'], waitSeconds: 1 });
    assert.equal(empty.status, 204);
    assert.ok(Date.now() - t0 >= 700, `answered after ${Date.now() - t0} ms`);
    for (const bad of [{}, { jobTypes: [] }, { jobTypes: ['a b'] }, { jobTypes: ['X'], leaseSeconds: 0 },
      { jobTypes: ['X'], waitSeconds: 31 }, { jobTypes: 'X' }]) {
      const res = await claimRaw(url, bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.match(res.contentType, /problem\+json/);
    }
  });

  // The store is polled once a second only for other nodes' jobs: a job queued on this
  // node (created, or re-queued by a retry) wakes the waiting claim as soon as it is
  // committed. Five waits: were the wake-up missing, each would take a uniform 0-1 s
  // poll, and all five under 400 ms would be a 1 % chance.
  test('a long poll is woken at once by a job queued on its node (creation and retry), not at the next poll', async () => {
    const { url } = server;
    const latencies = [];
    for (let i = 0; i < 5; i++) {
      const waiting = claim(url, { jobTypes: ['Wake'], waitSeconds: 20, workerId: 'waker' });
      await new Promise((r) => setTimeout(r, 150));
      let job;
      let t0;
      if (i % 2 === 0) {
        t0 = Date.now();
        job = await createJob(url, { jobType: 'Wake' });
      } else {
        // A failed job re-queued by POST /retry.
        job = await createJob(url, { jobType: 'WakeRetry' });
        const held = await claim(url, { jobTypes: ['WakeRetry'] });
        assert.equal((await reportRaw(url, job.jobId, { status: 'Failed', leaseToken: held.leaseToken })).status, 200);
        // Its type changes nothing for the waiting claim: look for it as well.
        const retried = claim(url, { jobTypes: ['WakeRetry'], waitSeconds: 20, workerId: 'waker' });
        await new Promise((r) => setTimeout(r, 150));
        t0 = Date.now();
        assert.equal((await request(url, 'POST', `/api/v1/jobs/${job.jobId}/retry`)).status, 202);
        const got = await retried;
        latencies.push(Date.now() - t0);
        assert.equal(got?.jobId, job.jobId);
        job = await createJob(url, { jobType: 'Wake' });  // ends the first wait too
        await waiting;
        continue;
      }
      const got = await waiting;
      latencies.push(Date.now() - t0);
      assert.equal(got?.jobId, job.jobId);
    }
    assert.ok(latencies.every((ms) => ms < 400 * TIME_SCALE), `claimed after ${latencies.join(', ')} ms`);
  });

  test('a worker that stops renewing loses its job to another; its late reports are refused (409), stored nowhere', async () => {
    const { url } = server;
    const job = await createJob(url, { jobType: 'Stall' });
    const c = await connect(10, url, { logLevel: 'None' });
    const stop = new AbortController();
    try {
      const watcher = new PipelineWatcher(c);
      await c.invoke('SubscribeToJob', job.jobId, 0);
      let stuck;
      const stalled = runWorker({ url, jobTypes: ['Stall'], workerId: 'stuck', leaseSeconds: 1, steps: 5, stepMs: 20,
        stallAfter: 1, signal: stop.signal, onClaim: (j) => { stuck = j; } });
      await waitFor(() => stuck, 5000, 'the first claim');
      // A report without the token is refused while the job is leased.
      const anonymous = await reportRaw(url, job.jobId, { progress: 99 });
      assert.equal(anonymous.status, 409);
      // The second worker gets the job once the 1 s lease has run out: attempt 2.
      let taken;
      const done = await runWorker({ url, jobTypes: ['Stall'], workerId: 'healthy', steps: 2, stepMs: 20, maxJobs: 1,
        onClaim: (j) => { taken = j; } });
      assert.deepEqual(done, [job.jobId]);
      assert.equal(taken.attempts, 2);
      assert.notEqual(taken.leaseToken, stuck.leaseToken);
      assert.match(taken.statusMessage, /lease of stuck expired/);
      // The stuck worker wakes up and reports: refused, not stored, not pushed.
      const historyBefore = await getHistory(url, job.jobId);
      const updatesBefore = watcher.updates(job.jobId).length;
      const late = await reportRaw(url, job.jobId, { progress: 10, leaseToken: stuck.leaseToken });
      assert.equal(late.status, 409);
      assert.match(late.contentType, /problem\+json/);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await getHistory(url, job.jobId), historyBefore);
      assert.equal(watcher.updates(job.jobId).length, updatesBefore);
      const final = await getJob(url, job.jobId);
      assert.equal(final.status, 'Completed');
      assert.equal(final.attempts, 2);
    } finally {
      stop.abort();
      await safeStop(c);
    }
  });

  test('cancel reaches a claimed job: the worker\'s next report is refused', async () => {
    const { url } = server;
    const job = await createJob(url, { jobType: 'CancelMe' });
    const claimed = await claim(url, { jobTypes: ['CancelMe'], workerId: 'w' });
    assert.equal(claimed.jobId, job.jobId);
    assert.equal((await reportRaw(url, job.jobId, { progress: 5, leaseToken: claimed.leaseToken })).status, 200);
    const cancelled = await request(url, 'POST', `/api/v1/jobs/${job.jobId}/cancel`);
    assert.equal(cancelled.status, 202);
    assert.equal((await reportRaw(url, job.jobId, { progress: 6, leaseToken: claimed.leaseToken })).status, 409);
  });
});

describe('nodes sharing one store: kill -9 mid-transcription', () => {
  let media;
  before(async () => {
    media = await prepareMedia();
  });

  test('another node finishes the job after the lease expires, the attempt counted; the dead attempt\'s late report is refused', async () => {
    await killNodeMidTranscription({
      media,
      leaseOf: (jobId, dataDir) => execFileSync('sqlite3', [path.join(dataDir, 'herald.db'),
        `SELECT lease_owner || ' ' || lease_token FROM jobs WHERE id = '${jobId}'`]).toString().trim().split(' '),
      midwayMs: 30_000,
      doneMs: 90_000,
    });
  });

  test('SIGTERM gives a running job back at once: the other node takes it without waiting for the lease', async () => {
    const env = { Jobs__LeaseSeconds: '600' };
    const first = await startServer({ env: { ...env, Herald__NodeId: 'node-a' } });
    const dataDir = first.dataDir;
    let second;
    try {
      const job = await ingest(first.url, { url: media.speech.url });
      const transcriptionId = await waitForChildJob(first.url, job.videoId, 'Transcription');
      await waitForJob(first.url, transcriptionId, (j) => j.status === 'Running' && j.progress >= 20, 30_000, 'transcribing');
      second = await startServer({ dataDir, env: { ...env, Herald__NodeId: 'node-b' } });
      await first.stop('SIGTERM', { keepDataDir: true });
      const done = await waitForJob(second.url, transcriptionId, (j) => j.status === 'Completed', 60_000, 'completed on node-b');
      assert.equal(done.attempts, 1, 'a job given back does not use up an attempt');
      const history = await getHistory(second.url, transcriptionId);
      assert.ok(history.some((h) => /Given back: node node-a stopped/.test(h.statusMessage)), JSON.stringify(history.map((h) => h.statusMessage)));
    } finally {
      if (second) await second.stop('SIGTERM', { keepDataDir: true });
      await first.stop('SIGTERM', { keepDataDir: true });
      removeDir(dataDir);
    }
  });
});
