// Failures of the video pipeline: bad ingest requests are refused with 400 and create
// nothing; an unreachable host is retried with backoff then fails; an HTTP 404, a corrupt
// media file and a missing local file fail at once. Each failure ends the pipeline job
// Failed with a clear errorMessage and one JobFailed event, and the server keeps serving.
import { describe, test } from 'node:test';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { useServer, getJob, getJson, getHistory, request, connect, safeStop, barrier } from '../lib/server.mjs';
import { scratchDir, useMedia } from '../lib/media.mjs';
import {
  ingest, getVideo, listJobs, PipelineWatcher, assertContiguous, occupyWorker,
} from '../lib/media_pipeline.mjs';

const RETRY_BASE_MS = 200;

const dump = (entries) => entries.map((u) => `#${u.sequence} ${u.status} ${u.progress} ${u.currentStage} | ${u.statusMessage} | ${u.errorMessage}`).join('\n  ');

/**
 * Ingests `url` while the only worker is held, subscribes to the pipeline job and its
 * video, then lets the worker go and waits for JobFailed. Returns what was seen.
 */
async function ingestAndFail(ctx, mediaServer, url, timeoutMs = 20_000, whileHeld = async () => {}) {
  const connection = await ctx.connect(10);
  const watch = new PipelineWatcher(connection);
  const blocker = await occupyWorker(ctx.url, mediaServer);
  await whileHeld();
  const job = await ingest(ctx.url, { url });
  assert.equal(job.status, 'Pending');
  await connection.invoke('SubscribeToJob', job.jobId, 0);
  await connection.invoke('SubscribeToVideo', job.videoId);
  const t0 = Date.now();
  blocker.release();
  const failedEvent = await watch.waitFor('JobFailed', (e) => e.jobId === job.jobId, timeoutMs, `for ${url}`);
  const elapsed = failedEvent.at - t0;
  await barrier(ctx.url, connection);
  return { job, watch, elapsed };
}

/** The checks every failure shares; returns the failed job resource. */
async function assertFailedCleanly(ctx, { job, watch }, errorPattern) {
  const state = await getJob(ctx.url, job.jobId);
  assert.equal(state.status, 'Failed', JSON.stringify(state));
  assert.equal(typeof state.errorMessage, 'string');
  assert.match(state.errorMessage, errorPattern, 'errorMessage says what went wrong');

  const failed = watch.failed(job.jobId);
  assert.equal(failed.length, 1, `exactly one JobFailed: ${JSON.stringify(failed)}`);
  assert.equal(failed[0].videoId, job.videoId);
  assert.equal(typeof failed[0].error, 'string');
  assert.match(failed[0].error, errorPattern, 'JobFailed.error');
  assert.equal(typeof failed[0].message, 'string');
  assert.equal(typeof failed[0].failedAt, 'string');
  assert.deepEqual(watch.completed(job.jobId), []);

  const updates = watch.updates(job.jobId);
  assertContiguous(updates, 1, 'pipeline job');
  const last = updates.at(-1);
  assert.equal(last.status, 'Failed', `last update:\n  ${dump(updates)}`);
  assert.equal(last.errorMessage, state.errorMessage);
  assert.ok(updates.slice(0, -1).every((u) => u.status !== 'Failed' && u.status !== 'Completed'),
    `Failed only at the end:\n  ${dump(updates)}`);
  assert.deepEqual(updates.map((u) => u.sequence), (await getHistory(ctx.url, job.jobId)).map((h) => h.sequence));

  const video = await getVideo(ctx.url, job.videoId);
  assert.equal(video.processingStatus, 'Failed', JSON.stringify(video));
  const ingestion = video.stages.find((s) => s.name === 'Ingestion');
  assert.equal(ingestion.status, 'Failed', JSON.stringify(video.stages));
  assert.equal(typeof ingestion.errorMessage, 'string', 'the Ingestion stage carries the error');
  assert.deepEqual(video.jobs.map((j) => j.jobType), ['VideoProcessing'], 'no transcription was queued');
  const lastVideo = watch.videoUpdates(job.videoId).at(-1);
  assert.equal(lastVideo?.processingStatus, 'Failed', `VideoProgressUpdate: ${JSON.stringify(lastVideo)}`);

  // The server still serves: REST, and a brand-new hub connection.
  const health = await getJson(ctx.url, '/health');
  assert.equal(health.status, 200, health.text);
  const fresh = await connect(10, ctx.url);
  fresh.on('JobProgressUpdate', () => {});
  try {
    const current = await fresh.invoke('GetJobProgress', job.jobId);
    assert.equal(current.status, 'Failed');
    assert.equal(current.errorMessage, state.errorMessage);
  } finally {
    await safeStop(fresh);
  }
  return state;
}

describe('pipeline: refused ingest requests', () => {
  const ctx = useServer();

  test('a missing or unsupported URL or a bad priority answers 400 problem+json and creates nothing', async () => {
    const cases = [
      [{}, 'url'],
      [{ url: '' }, 'url'],
      [{ url: 42 }, 'url'],
      [{ url: 'ftp://example.com/a.mp4' }, 'url'],
      [{ url: 'not a url' }, 'url'],
      [{ url: 'videos/relative.mp4' }, 'url'],
      [{ url: 'file://otherhost/tmp/a.mp4' }, 'url'],
      [{ url: 'http:///no-host.mp4' }, 'url'],
      [{ url: '/tmp/a.mp4', priority: 4 }, 'priority'],
      [{ url: '/tmp/a.mp4', priority: -1 }, 'priority'],
      [{ url: '/tmp/a.mp4', priority: 1.5 }, 'priority'],
      [{ url: '/tmp/a.mp4', priority: 'high' }, 'priority'],
    ];
    for (const [body, field] of cases) {
      const res = await request(ctx.url, 'POST', '/api/v1/videos/ingest', { json: body });
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.status} ${res.text}`);
      assert.match(res.contentType, /application\/problem\+json/, JSON.stringify(body));
      assert.equal(res.body.status, 400);
      assert.ok(res.body.errors && typeof res.body.errors[field] === 'string',
        `${JSON.stringify(body)}: errors.${field} explains the refusal: ${res.text}`);
    }
    for (const raw of ['{"url":', 'null', '[]']) {
      const res = await request(ctx.url, 'POST', '/api/v1/videos/ingest', { body: raw });
      assert.equal(res.status, 400, `${raw}: ${res.status} ${res.text}`);
    }
    assert.deepEqual(await listJobs(ctx.url, '?limit=1000'), [], 'no job was created');
  });
});

describe('pipeline: local files refused by configuration', () => {
  const ctx = useServer({ env: { AppSettings__AllowLocalFiles: 'false', AppSettings__EnableBackgroundJobs: 'false' } });
  const fx = useMedia({ server: false });

  test('AllowLocalFiles=false: file:// URLs and absolute paths answer 400, http is accepted', async () => {
    for (const url of [fx.media.short.url, fx.media.short.path]) {
      const res = await request(ctx.url, 'POST', '/api/v1/videos/ingest', { json: { url } });
      assert.equal(res.status, 400, `${url}: ${res.text}`);
      assert.match(res.contentType, /application\/problem\+json/);
      assert.match(res.body.errors?.url ?? '', /local files/i, res.text);
    }
    assert.deepEqual(await listJobs(ctx.url, '?limit=1000'), []);
    const ok = await ingest(ctx.url, { url: 'http://127.0.0.1:9/remote.mp4' });
    assert.equal(ok.status, 'Pending');
  });
});

describe('pipeline: failing sources', () => {
  const ctx = useServer({ env: { Jobs__WorkerCount: '1', Jobs__RetryBaseDelayMs: String(RETRY_BASE_MS) } });
  const fx = useMedia();

  test('an unreachable host is retried with backoff, then the pipeline fails with a download error', async (t) => {
    const seen = await ingestAndFail(ctx, fx.server, 'http://127.0.0.1:1/unreachable.mp4');
    const state = await assertFailedCleanly(ctx, seen, /download failed/i);
    t.diagnostic(`errorMessage: ${state.errorMessage}; failed ${seen.elapsed} ms after the worker was free`);
    assert.equal(state.attempts, 3, 'all Jobs__MaxAttempts (default 3) attempts were made');
    const history = await getHistory(ctx.url, seen.job.jobId);
    const starts = history.filter((h) => h.currentStage === 'Starting').map((h) => h.statusMessage);
    assert.deepEqual(starts, ['Attempt 1 of 3', 'Attempt 2 of 3', 'Attempt 3 of 3'], `attempts:\n  ${dump(history)}`);
    // Backoff 200 ms then 400 ms between the three attempts.
    assert.ok(seen.elapsed >= RETRY_BASE_MS * 3 - 50, `failed after ${seen.elapsed} ms: the backoff (${RETRY_BASE_MS} + ${2 * RETRY_BASE_MS} ms) was not waited`);
    const startTimes = history.filter((h) => h.currentStage === 'Starting').map((h) => Date.parse(h.updatedAt));
    assert.ok(startTimes[1] - startTimes[0] >= RETRY_BASE_MS - 20, `1st retry after ${startTimes[1] - startTimes[0]} ms`);
    assert.ok(startTimes[2] - startTimes[1] >= 2 * RETRY_BASE_MS - 20, `2nd retry after ${startTimes[2] - startTimes[1]} ms (doubled)`);
  });

  test('an HTTP 404 fails the pipeline at once, without retries', async (t) => {
    const url = `${fx.server.url}/missing-${Date.now()}.mp4`;
    const seen = await ingestAndFail(ctx, fx.server, url);
    const state = await assertFailedCleanly(ctx, seen, /download failed.*404|404.*download failed/i);
    t.diagnostic(`errorMessage: ${state.errorMessage}`);
    assert.equal(state.attempts, 1, 'a 404 is permanent: no retry');
    const asked = fx.server.requests.filter((r) => url.endsWith(r.pathname));
    assert.equal(asked.length, 1, `the URL was fetched once: ${asked.length}`);
  });

  test('a corrupt media file fails the pipeline with a clear error', async (t) => {
    // Downloaded (http), so the failed ingest has a folder of its own to delete.
    const url = fx.server.serve('/media/corrupt.mp4', fx.media.corrupt.path);
    const seen = await ingestAndFail(ctx, fx.server, url);
    const state = await assertFailedCleanly(ctx, seen, /corrupt|invalid|not a (valid )?media|could not (read|probe)|unreadable|no (audio|media|stream)|unsupported/i);
    t.diagnostic(`errorMessage: ${state.errorMessage}`);
    assert.equal(state.attempts, 1, 'a corrupt file is a permanent failure');
    // The failed ingest's download is deleted (it used to stay on disk for good).
    const folder = path.join(ctx.server.dataDir, 'media', seen.job.videoId);
    assert.equal(existsSync(folder), false, `${folder} left behind: ${existsSync(folder) ? readdirSync(folder) : ''}`);
  });

  test('a missing local file fails the pipeline with "not found"', async (t) => {
    const missing = `${scratchDir()}/never-written.mp4`;
    const seen = await ingestAndFail(ctx, fx.server, `file://${missing}`);
    const state = await assertFailedCleanly(ctx, seen, /not found/i);
    t.diagnostic(`errorMessage: ${state.errorMessage}`);
    assert.ok(state.errorMessage.includes(missing), `errorMessage names the file: ${state.errorMessage}`);
    assert.equal(state.attempts, 1);
  });
});

describe('pipeline: the media quota (Pipeline:MaxMediaBytes)', () => {
  const ctx = useServer({
    env: { Jobs__WorkerCount: '1', Jobs__RetryBaseDelayMs: String(RETRY_BASE_MS), Pipeline__MaxMediaBytes: String(1 << 20) },
  });
  const fx = useMedia();

  test('a full quota with nothing to evict: the ingest waits (retried), then fails saying so', async (t) => {
    // Media of a video the store does not know: never evicted. Written once the worker
    // is held by a download of its own (which needed room to start).
    const foreign = path.join(ctx.server.dataDir, 'media', 'someone-elses');
    const fill = async () => {
      mkdirSync(foreign, { recursive: true });
      writeFileSync(path.join(foreign, 'big.media'), Buffer.alloc(1 << 20));
    };
    const url = fx.server.serve('/quota/short.mp4', fx.media.short.path);
    const seen = await ingestAndFail(ctx, fx.server, url, 20_000, fill);
    const state = await assertFailedCleanly(ctx, seen, /media storage is full.*Pipeline:MaxMediaBytes/);
    t.diagnostic(`errorMessage: ${state.errorMessage}`);
    assert.equal(state.attempts, 3, 'a full quota is transient: every attempt was made');
    assert.ok(existsSync(path.join(foreign, 'big.media')), 'media Herald does not know of is left alone');
    assert.equal(fx.server.requests.filter((r) => r.pathname === '/quota/short.mp4').length, 0, 'nothing was downloaded');
  });
});
