// Cancellation in the video pipeline (POST /api/v1/jobs/{id}/cancel): a running processor
// stops promptly (the job is Cancelled within about a second), its ffmpeg child is killed,
// nothing more is reported for it, no later stage runs; cancelling the pipeline job cancels
// its unfinished children. Latencies are measured from the POST to the Cancelled event.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { useServer, getHistory, getJob, getJson, barrier, delay, TIME_SCALE } from '../lib/server.mjs';
import { prepareMedia, descendants, slowFfmpeg, scratchDir } from '../lib/media.mjs';
import {
  ingest, getVideo, getTranscript, cancelJob, waitForChildJob, waitForJob, PipelineWatcher, assertContiguous, isTerminal,
} from '../lib/media_pipeline.mjs';

// The spec's bound (about a second) for the release server; scaled for a sanitizer build.
const CANCEL_BOUND_MS = 1000 * TIME_SCALE;
// How long to keep listening after Cancelled for updates that must not come.
const QUIET_MS = 700;

const mediaChildren = (pid) => descendants(pid).filter((p) => /ffmpeg|pocketsphinx|ffprobe/.test(`${p.comm} ${p.cmdline}`));

const dump = (entries) => entries.map((u) => `#${u.sequence} ${u.status} ${u.progress} ${u.currentStage} | ${u.statusMessage}`).join('\n  ');

/** POSTs cancel and waits for the Cancelled JobProgressUpdate of `jobId`; returns {res, latency, restLatency}. */
async function cancelAndTime(ctx, watch, jobId, awaitIds = [jobId]) {
  const t0 = Date.now();
  const res = await cancelJob(ctx.url, jobId);
  const answered = Date.now() - t0;
  assert.equal(res.status, 202, `cancel ${jobId}: ${res.text}`);
  const latencies = {};
  for (const id of awaitIds) {
    const ev = await watch.waitForUpdate(id, (u) => u.status === 'Cancelled', 5000, `Cancelled for ${id}`);
    latencies[id] = ev.at - t0;
  }
  const restState = await waitForJob(ctx.url, jobId, (j) => j.status === 'Cancelled', 5000, 'Cancelled');
  const restLatency = Date.now() - t0;
  return { res, answered, latencies, restLatency, restState };
}

describe('pipeline: cancellation', () => {
  const ctx = useServer();
  let media;
  before(async () => {
    media = await prepareMedia();
  });

  test('cancel a transcription mid-recognition: Cancelled within 1 s, no child process, nothing after, no embedding', async (t) => {
    const { speech } = media;
    const connection = await ctx.connect(10);
    const watch = new PipelineWatcher(connection);
    const job = await ingest(ctx.url, { url: speech.url });
    await connection.invoke('SubscribeToJob', job.jobId, 0);
    const transcriptionId = await waitForChildJob(ctx.url, job.videoId, 'Transcription');
    await connection.invoke('SubscribeToJob', transcriptionId, 0);
    await watch.waitForUpdate(transcriptionId, (u) => u.currentStage === 'Transcribing audio' && u.progress >= 45, 20_000, 'mid-recognition');

    const { res, answered, latencies, restLatency } = await cancelAndTime(ctx, watch, transcriptionId);
    assert.equal(res.body.jobId, transcriptionId);
    assert.equal(res.body.cancellation, 'Cancelling', 'a running job is being cancelled when the POST answers');
    const latency = latencies[transcriptionId];
    t.diagnostic(`cancel answered in ${answered} ms; Cancelled event after ${latency} ms, REST state after ${restLatency} ms`);
    assert.ok(latency <= CANCEL_BOUND_MS, `Cancelled ${latency} ms after the POST (bound ${CANCEL_BOUND_MS} ms)`);
    assert.deepEqual(mediaChildren(ctx.server.proc.pid), [], 'no ffmpeg or recogniser process is left');

    await delay(QUIET_MS);
    await barrier(ctx.url, connection);
    const updates = watch.updates(transcriptionId);
    assertContiguous(updates, 1, 'transcription');
    assert.equal(updates.at(-1).status, 'Cancelled', `nothing is reported after Cancelled:\n  ${dump(updates)}`);
    assert.equal(updates.filter((u) => u.status === 'Cancelled').length, 1);
    const history = await getHistory(ctx.url, transcriptionId);
    assert.equal(history.at(-1).status, 'Cancelled');
    assert.equal(history.at(-1).sequence, updates.at(-1).sequence);
    assert.deepEqual(watch.completed(transcriptionId), [], 'a cancelled job sends no JobCompleted');
    const state = await getJob(ctx.url, transcriptionId);
    assert.equal(state.status, 'Cancelled');

    // No later stage: no embedding job, no transcript; the pipeline does not wait forever.
    const pipeline = await waitForJob(ctx.url, job.jobId, (j) => isTerminal(j.status), 3000, 'to end after its transcription was cancelled');
    assert.notEqual(pipeline.status, 'Completed', `pipeline job: ${JSON.stringify(pipeline)}`);
    const video = await getVideo(ctx.url, job.videoId);
    assert.deepEqual(video.jobs.filter((j) => j.jobType === 'EmbeddingGeneration'), [], `no embedding job: ${JSON.stringify(video.jobs)}`);
    assert.notEqual(video.processingStatus, 'Completed');
    assert.deepEqual((await getTranscript(ctx.url, job.videoId)).segments, []);
    // The temporary audio of the cancelled run is removed.
    const mediaDir = path.join(ctx.server.dataDir, 'media', job.videoId);
    const wavs = existsSync(mediaDir) ? readdirSync(mediaDir).filter((f) => f.endsWith('.wav')) : [];
    assert.deepEqual(wavs, [], `temporary audio left in ${mediaDir}`);

    // Cancelling again: 409; an unknown job: 404.
    const again = await cancelJob(ctx.url, transcriptionId);
    assert.equal(again.status, 409, again.text);
    assert.match(again.contentType, /application\/problem\+json/);
    const unknown = await cancelJob(ctx.url, '00000000-0000-0000-0000-000000000000');
    assert.equal(unknown.status, 404, unknown.text);
  });

  test('cancel a pipeline job during transcription: its transcription child is cancelled too', async (t) => {
    const { speech } = media;
    const connection = await ctx.connect(10);
    const watch = new PipelineWatcher(connection);
    const job = await ingest(ctx.url, { url: speech.url });
    await connection.invoke('SubscribeToJob', job.jobId, 0);
    await connection.invoke('SubscribeToVideo', job.videoId);
    const transcriptionId = await waitForChildJob(ctx.url, job.videoId, 'Transcription');
    await connection.invoke('SubscribeToJob', transcriptionId, 0);
    await watch.waitForUpdate(transcriptionId, (u) => u.currentStage === 'Transcribing audio' && u.progress >= 45, 20_000, 'mid-recognition');

    const { res, latencies } = await cancelAndTime(ctx, watch, job.jobId, [job.jobId, transcriptionId]);
    assert.equal(res.body.jobId, job.jobId);
    assert.ok(['Cancelled', 'Cancelling'].includes(res.body.cancellation), JSON.stringify(res.body));
    t.diagnostic(`pipeline Cancelled after ${latencies[job.jobId]} ms, transcription child after ${latencies[transcriptionId]} ms`);
    for (const [id, ms] of Object.entries(latencies)) {
      assert.ok(ms <= CANCEL_BOUND_MS, `${id === job.jobId ? 'pipeline' : 'transcription'} Cancelled ${ms} ms after the POST`);
    }
    assert.deepEqual(mediaChildren(ctx.server.proc.pid), [], 'no ffmpeg or recogniser process is left');

    await delay(QUIET_MS);
    await barrier(ctx.url, connection);
    for (const id of [job.jobId, transcriptionId]) {
      const updates = watch.updates(id);
      assertContiguous(updates, 1, id);
      assert.equal(updates.at(-1).status, 'Cancelled', `nothing after Cancelled for ${id}:\n  ${dump(updates)}`);
      assert.equal((await getJob(ctx.url, id)).status, 'Cancelled');
      assert.deepEqual(watch.completed(id), []);
    }
    const video = await getVideo(ctx.url, job.videoId);
    assert.deepEqual(video.jobs.filter((j) => j.jobType === 'EmbeddingGeneration'), [], `no embedding job: ${JSON.stringify(video.jobs)}`);
    assert.notEqual(video.processingStatus, 'Completed');
    assert.ok(video.jobs.every((j) => isTerminal(j.status)), `every job of the video has ended: ${JSON.stringify(video.jobs)}`);
    const lastVideo = watch.videoUpdates(job.videoId).at(-1);
    assert.ok(lastVideo && lastVideo.processingStatus !== 'Processing' && lastVideo.processingStatus !== 'Completed',
      `the last VideoProgressUpdate shows the video stopped: ${JSON.stringify(lastVideo)}`);
  });

  test('cancel a pending pipeline job: Cancelled at once, nothing runs', async () => {
    const connection = await ctx.connect(10);
    const watch = new PipelineWatcher(connection);
    // Both workers busy transcribing: the third pipeline waits in the queue.
    const busy = [];
    for (let i = 0; i < 2; i++) busy.push(await ingest(ctx.url, { url: media.speech.url }));
    for (const b of busy) {
      const tid = await waitForChildJob(ctx.url, b.videoId, 'Transcription');
      await waitForJob(ctx.url, tid, (j) => j.status === 'Running', 10_000, 'Running');
    }
    const job = await ingest(ctx.url, { url: media.short.url });
    await connection.invoke('SubscribeToJob', job.jobId, 0);
    assert.equal((await getJob(ctx.url, job.jobId)).status, 'Pending', 'queued behind two running transcriptions');
    const res = await cancelJob(ctx.url, job.jobId);
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.cancellation, 'Cancelled', 'a pending job is cancelled at once');
    assert.equal(res.body.status, 'Cancelled');
    await watch.waitForUpdate(job.jobId, (u) => u.status === 'Cancelled', 2000);
    for (const b of busy) await cancelJob(ctx.url, b.jobId);
    await delay(QUIET_MS);
    const state = await getJob(ctx.url, job.jobId);
    assert.equal(state.status, 'Cancelled');
    assert.equal(state.attempts, 0, 'it never ran');
    const video = await getVideo(ctx.url, job.videoId);
    assert.deepEqual(video.jobs.map((j) => j.jobType), ['VideoProcessing'], 'no child job');
  });
});

describe('pipeline: cancellation during audio extraction', () => {
  // ffmpeg reading its input at real-time speed: extraction of the ~7 s clip takes ~7 s.
  const ctx = useServer(() => ({ env: { Pipeline__Ffmpeg: slowFfmpeg(scratchDir('herald-ffmpeg-'), 1) } }));
  let media;
  before(async () => {
    media = await prepareMedia();
  });

  test('extraction progress moves with ffmpeg; cancel kills the ffmpeg child within 1 s', async (t) => {
    const { short } = media;
    const connection = await ctx.connect(10);
    const watch = new PipelineWatcher(connection);
    const job = await ingest(ctx.url, { url: short.url });
    const transcriptionId = await waitForChildJob(ctx.url, job.videoId, 'Transcription');
    await connection.invoke('SubscribeToJob', transcriptionId, 0);
    const isExtracting = (u) => u.currentStage === 'Extracting audio';
    await watch.waitForUpdate(transcriptionId, (u) => isExtracting(u) && u.progress > 12, 10_000, 'extraction under way');
    const ffmpegs = descendants(ctx.server.proc.pid).filter((p) => p.comm === 'ffmpeg');
    assert.equal(ffmpegs.length, 1, `one ffmpeg child while extracting: ${JSON.stringify(descendants(ctx.server.proc.pid))}`);
    assert.match(ffmpegs[0].cmdline, /-readrate/, 'the slow wrapper runs');

    const { latencies } = await cancelAndTime(ctx, watch, transcriptionId);
    const latency = latencies[transcriptionId];
    const left = descendants(ctx.server.proc.pid);
    t.diagnostic(`Cancelled ${latency} ms after the POST; ffmpeg pid ${ffmpegs[0].pid}; children left: ${JSON.stringify(left)}`);
    assert.ok(latency <= CANCEL_BOUND_MS, `Cancelled ${latency} ms after the POST`);
    assert.deepEqual(left, [], 'the ffmpeg child is gone (killed and reaped) once the job is Cancelled');
    assert.ok(!existsSync(`/proc/${ffmpegs[0].pid}`), `ffmpeg ${ffmpegs[0].pid} still exists`);

    await delay(QUIET_MS);
    await barrier(ctx.url, connection);
    const updates = watch.updates(transcriptionId);
    assertContiguous(updates, 1, 'transcription');
    assert.equal(updates.at(-1).status, 'Cancelled', `nothing after Cancelled:\n  ${dump(updates)}`);
    // Progress moved with ffmpeg between 10 and 30, and never reached the later stages.
    const extracting = updates.filter(isExtracting);
    const moving = [...new Set(extracting.map((u) => u.progress).filter((p) => p > 10 && p < 30))];
    assert.ok(moving.length >= 2, `several extraction progress values between 10 and 30: ${dump(updates)}`);
    assert.ok(!updates.some((u) => ['Audio extraction completed', 'Transcribing audio'].includes(u.currentStage)),
      `extraction was cut short:\n  ${dump(updates)}`);
    const mediaDir = path.join(ctx.server.dataDir, 'media', job.videoId);
    const wavs = existsSync(mediaDir) ? readdirSync(mediaDir).filter((f) => f.endsWith('.wav')) : [];
    assert.deepEqual(wavs, [], `partial audio left in ${mediaDir}`);
    const health = await getJson(ctx.url, '/health');
    assert.equal(health.status, 200);
  });
});
