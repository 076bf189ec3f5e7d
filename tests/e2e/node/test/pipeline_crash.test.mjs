// Durability of the video pipeline: the server is killed with SIGKILL in the middle of a
// transcription and restarted on the same data directory. The pipeline must finish with no
// job lost or duplicated, and a subscriber that comes back with the last sequence it saw
// must get a consistent stream (spec sections 3 and 5).
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { startServer, removeDir, connect, safeStop, getHistory, getJob, barrier } from '../lib/server.mjs';
import { prepareMedia, wordErrorRate } from '../lib/media.mjs';
import {
  ingest, getVideo, getTranscript, listJobs, waitForChildJob, waitForJob, PipelineWatcher, assertContiguous,
  assertTranscriptionFlow, assertSegmentsOrdered, isTerminal,
} from '../lib/media_pipeline.mjs';

const WER_BOUND_SPEECH = 0.45; // measured 0.31 on this media, see pipeline_flow.test.mjs

function assertSameAsHistory(updates, history, what) {
  assert.deepEqual(updates.map((u) => u.sequence), history.map((h) => h.sequence), `${what}: sequences vs GET /progress`);
  for (const [i, h] of history.entries()) {
    for (const k of ['status', 'progress', 'currentStage', 'statusMessage', 'updatedAt']) {
      assert.deepEqual(updates[i][k], h[k], `${what}: #${h.sequence} ${k} vs GET /progress`);
    }
  }
}

const dump = (entries) => entries.map((u) => `#${u.sequence} ${u.status} ${u.progress} ${u.currentStage} | ${u.statusMessage}`).join('\n  ');

describe('pipeline: kill -9 and restart', () => {
  let media;
  before(async () => {
    media = await prepareMedia();
  });

  test('SIGKILL during transcription: after a restart the pipeline completes, nothing lost or duplicated, replay consistent', async (t) => {
    const { speech } = media;
    const first = await startServer();
    const dataDir = first.dataDir;
    let second;
    let c1;
    let c2;
    try {
      c1 = await connect(10, first.url, { logLevel: 'None' });
      const w1 = new PipelineWatcher(c1);
      const job = await ingest(first.url, { url: speech.url });
      const pipelineId = job.jobId;
      const videoId = job.videoId;
      await c1.invoke('SubscribeToJob', pipelineId, 0);
      const transcriptionId = await waitForChildJob(first.url, videoId, 'Transcription');
      await c1.invoke('SubscribeToJob', transcriptionId, 0);
      await w1.waitForUpdate(transcriptionId, (u) => u.currentStage === 'Transcribing audio' && u.progress >= 50, 30_000,
        'mid-transcription');

      const exit = await first.kill9();
      assert.equal(exit.signal, 'SIGKILL');
      await safeStop(c1);
      const before1 = w1.updates(transcriptionId);
      const beforePipeline = w1.updates(pipelineId);
      assertContiguous(before1, 1, 'transcription updates before the crash');
      assertContiguous(beforePipeline, 1, 'pipeline updates before the crash');
      const lastSeen = before1.at(-1).sequence;
      const lastSeenPipeline = beforePipeline.at(-1).sequence;
      assert.ok(before1.every((u) => !isTerminal(u.status)), `not finished before the crash:\n  ${dump(before1)}`);

      const t1 = Date.now();
      second = await startServer({ dataDir });
      c2 = await connect(10, second.url);
      const w2 = new PipelineWatcher(c2);
      // Back with the last sequences seen: only what was missed is replayed, then live updates.
      await c2.invoke('SubscribeToJob', transcriptionId, lastSeen);
      await c2.invoke('SubscribeToJob', pipelineId, lastSeenPipeline);
      await w2.waitFor('JobCompleted', (e) => e.jobId === pipelineId, 60_000, 'for the pipeline job after the restart');
      const recovery = Date.now() - t1;
      await barrier(second.url, c2);

      // The transcription job: same id, run again (attempt 2), completed.
      const transcriptionJob = await getJob(second.url, transcriptionId);
      assert.equal(transcriptionJob.status, 'Completed');
      assert.equal(transcriptionJob.attempts, 2, 'the interrupted attempt counts: the re-run is attempt 2');
      assert.equal(transcriptionJob.progress, 100);

      // The subscriber's stream: before the crash + after the restart = the whole history.
      const after1 = w2.updates(transcriptionId);
      assertContiguous(after1, lastSeen + 1, 'transcription updates after the restart (replay then live)');
      const history = await getHistory(second.url, transcriptionId);
      assertSameAsHistory([...before1, ...after1], history, 'transcription stream across the crash');
      const afterPipeline = w2.updates(pipelineId);
      assertContiguous(afterPipeline, lastSeenPipeline + 1, 'pipeline updates after the restart');
      assertSameAsHistory([...beforePipeline, ...afterPipeline], await getHistory(second.url, pipelineId), 'pipeline stream across the crash');
      assert.equal(w2.completed(transcriptionId).length, 1, 'one JobCompleted for the transcription after the restart');
      assert.equal(w2.completed(pipelineId).length, 1, 'one JobCompleted for the pipeline');
      assert.deepEqual(w2.failed(transcriptionId), []);

      // The second attempt runs the whole transcription flow again, from "Starting".
      const restart = history.findLastIndex((h) => h.currentStage === 'Starting');
      assert.ok(restart > 0 && /Attempt 2\b/.test(history[restart].statusMessage),
        `a "Starting" entry for attempt 2:\n  ${dump(history)}`);
      assert.ok(history[restart].sequence > lastSeen, 'the re-run starts after what was seen before the crash');
      const transcript = await getTranscript(second.url, videoId);
      assertTranscriptionFlow(history.slice(restart), {
        segments: transcript.segments.length, duration: speech.duration, fromStarting: true, what: 'attempt 2',
      });
      assert.ok(history.slice(0, restart).every((h) => !isTerminal(h.status)), `no terminal entry before the re-run:\n  ${dump(history)}`);

      // Exactly one job of each kind for the video, all completed.
      const video = await getVideo(second.url, videoId);
      const kinds = video.jobs.map((j) => j.jobType).sort();
      assert.deepEqual(kinds, ['EmbeddingGeneration', 'Transcription', 'VideoProcessing'], `jobs of the video: ${JSON.stringify(video.jobs)}`);
      assert.ok(video.jobs.every((j) => j.status === 'Completed'), JSON.stringify(video.jobs));
      assert.equal(video.jobs.find((j) => j.jobType === 'Transcription').jobId, transcriptionId);
      assert.equal(video.jobs.find((j) => j.jobType === 'VideoProcessing').jobId, pipelineId);
      const listed = (await listJobs(second.url, `?videoId=${encodeURIComponent(videoId)}&limit=1000`));
      assert.deepEqual(listed.map((j) => j.jobId).sort(), video.jobs.map((j) => j.jobId).sort(), 'GET /jobs?videoId lists the same three jobs');
      assert.equal(video.processingStatus, 'Completed');
      assert.equal(video.overallProgress, 100);
      assert.ok(video.stages.every((s) => s.status === 'Completed'), JSON.stringify(video.stages));

      // The transcript is stored once (not twice after two attempts) and is good.
      assertSegmentsOrdered(transcript, speech.duration);
      const wer = wordErrorRate(speech.reference, transcript.text);
      assert.ok(wer.wer <= WER_BOUND_SPEECH, `WER ${wer.wer.toFixed(3)} (a duplicated transcript would double the words): "${transcript.text}"`);
      const embeddingId = video.jobs.find((j) => j.jobType === 'EmbeddingGeneration').jobId;
      const embeddingHistory = await getHistory(second.url, embeddingId);
      assert.ok(embeddingHistory.some((h) => h.statusMessage === `Loaded ${transcript.segments.length} segments`),
        `the embedding job loads the ${transcript.segments.length} segments:\n  ${dump(embeddingHistory)}`);

      // The interrupted attempt's temporary audio is gone once the job is done.
      const mediaDir = path.join(dataDir, 'media', videoId);
      const leftovers = existsSync(mediaDir) ? readdirSync(mediaDir).filter((f) => f.endsWith('.wav')) : [];
      assert.deepEqual(leftovers, [], `temporary audio left in ${mediaDir}`);
      t.diagnostic(`killed at transcription #${lastSeen} (${before1.at(-1).progress}%), completed ${recovery} ms after the restart`);
    } finally {
      await safeStop(c1);
      await safeStop(c2);
      await first.stop('SIGKILL', { keepDataDir: true });
      if (second) await second.stop('SIGKILL');
      removeDir(dataDir);
    }
  });

  test('a pipeline accepted while no worker runs survives SIGKILL and runs after the restart', async () => {
    const { short } = media;
    const first = await startServer({ env: { AppSettings__EnableBackgroundJobs: 'false' } });
    const dataDir = first.dataDir;
    let second;
    try {
      const job = await ingest(first.url, { url: short.url });
      await first.kill9();
      second = await startServer({ dataDir });
      const done = await waitForJob(second.url, job.jobId, (j) => isTerminal(j.status), 30_000, 'to end after the restart');
      assert.equal(done.status, 'Completed', JSON.stringify(done));
      assert.equal(done.attempts, 1, 'it never started before the crash');
      const video = await getVideo(second.url, job.videoId);
      assert.deepEqual(video.jobs.map((j) => j.jobType).sort(), ['EmbeddingGeneration', 'Transcription', 'VideoProcessing']);
      assert.equal(video.processingStatus, 'Completed');
    } finally {
      await first.stop('SIGKILL', { keepDataDir: true });
      if (second) await second.stop('SIGKILL');
      removeDir(dataDir);
    }
  });
});
