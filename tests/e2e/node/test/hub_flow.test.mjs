// The hub with the official clients: subscribe, live updates from a REST worker, completion,
// failure, video events, GetJobProgress / GetVideoProgress, send vs invoke, unsubscribe.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, createJob, report, getJob, getJson, collect, waitFor, isIsoUtc, signalrPackageVersion,
} from '../lib/server.mjs';

const UPDATE_KEYS = ['jobId', 'videoId', 'jobType', 'status', 'progress', 'currentStage', 'statusMessage',
  'errorMessage', 'updatedAt', 'metadata', 'sequence'];
const VIDEO_KEYS = ['videoId', 'processingStatus', 'transcriptionStatus', 'embeddingStatus', 'overallProgress',
  'stages', 'updatedAt'];

/** Asserts that a JobProgressUpdate carries the same values as the job resource. */
function assertUpdateMatches(update, job, what) {
  for (const k of UPDATE_KEYS) {
    assert.ok(k in update, `${what}: JobProgressUpdate lacks ${k}`);
    assert.deepEqual(update[k], job[k], `${what}: ${k}`);
  }
}

describe('hub flow', () => {
  const ctx = useServer();

  for (const [version, expected] of [[7, '7.0.14'], [10, '10.0.11']]) {
    test(`@microsoft/signalr ${expected}: a subscriber sees every update in order, then JobCompleted`, async () => {
      assert.equal(signalrPackageVersion(version), expected);
      const job = await createJob(ctx.url, {
        jobType: 'Transcription', videoId: `vid-flow-${version}`, userId: 'flow-user', metadata: { source: 'e2e' },
      });
      const connection = await ctx.connect(version);
      const log = [];
      const updates = collect(connection, 'JobProgressUpdate', log);
      const completed = collect(connection, 'JobCompleted', log);
      const failed = collect(connection, 'JobFailed', log);
      const errors = collect(connection, 'Error', log);

      const result = await connection.invoke('SubscribeToJob', job.jobId);
      assert.equal(result, null);
      await updates.waitForCount(1);
      const snapshot = updates.events[0];
      assertUpdateMatches(snapshot, job, 'snapshot');
      assert.equal(snapshot.sequence, 1);
      assert.equal(snapshot.status, 'Pending');
      assert.ok(isIsoUtc(snapshot.updatedAt));

      const answers = [];
      for (let p = 0; p <= 100; p += 10) {
        const body = p < 100
          ? { progress: p, currentStage: `Stage ${p}`, statusMessage: `at ${p}%`, metadata: { step: p } }
          : { progress: 100, status: 'Completed', statusMessage: 'done', metadata: { step: p } };
        answers.push(await report(ctx.url, job.jobId, body));
      }
      assert.deepEqual(answers.map((a) => a.sequence), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

      await completed.waitForCount(1, 10_000);
      const seqs = updates.events.map((u) => u.sequence);
      assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'every update, in order, no gaps or duplicates');
      for (let i = 0; i < answers.length; i++) {
        const u = updates.events[i + 1];
        assertUpdateMatches(u, answers[i], `update ${u.sequence}`);
        assert.equal(u.progress, i * 10);
        assert.equal(u.status, i < 10 ? 'Running' : 'Completed');
        assert.equal(u.errorMessage, null);
        assert.equal(u.jobId, job.jobId);
        assert.equal(u.videoId, `vid-flow-${version}`);
        assert.equal(u.jobType, 'Transcription');
        assert.deepEqual(u.metadata, { source: 'e2e', step: i * 10 });
        assert.ok(isIsoUtc(u.updatedAt), `updatedAt ${u.updatedAt}`);
      }
      assert.equal(updates.events[5].currentStage, 'Stage 40');
      assert.equal(updates.events[5].statusMessage, 'at 40%');

      assert.equal(completed.events.length, 1);
      const done = completed.events[0];
      assert.equal(done.jobId, job.jobId);
      assert.equal(done.videoId, `vid-flow-${version}`);
      assert.equal(done.status, 'Completed');
      assert.equal(typeof done.message, 'string');
      assert.ok(isIsoUtc(done.completedAt), `completedAt ${done.completedAt}`);
      const lastUpdateAt = log.findIndex((e) => e.name === 'JobProgressUpdate' && e.payload.sequence === 12);
      const completedAt = log.findIndex((e) => e.name === 'JobCompleted');
      assert.ok(lastUpdateAt >= 0 && completedAt > lastUpdateAt, 'JobCompleted comes after the last update');
      assert.equal(failed.events.length, 0);
      assert.equal(errors.events.length, 0);
    });
  }

  test('two clients of different generations on one job receive identical streams', async () => {
    const job = await createJob(ctx.url);
    const c7 = await ctx.connect(7);
    const c10 = await ctx.connect(10);
    const u7 = collect(c7, 'JobProgressUpdate');
    const u10 = collect(c10, 'JobProgressUpdate');
    await c7.invoke('SubscribeToJob', job.jobId);
    await c10.invoke('SubscribeToJob', job.jobId);
    await u7.waitForCount(1);
    await u10.waitForCount(1);
    for (let p = 1; p <= 5; p++) await report(ctx.url, job.jobId, { progress: p * 15 });
    await u7.waitFor((u) => u.sequence === 6);
    await u10.waitFor((u) => u.sequence === 6);
    assert.deepEqual(u7.events.map((u) => u.sequence), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(u10.events, u7.events);
  });

  test('send (no invocation id) of SubscribeToJob subscribes', async () => {
    const job = await createJob(ctx.url);
    const connection = await ctx.connect(10);
    const updates = collect(connection, 'JobProgressUpdate');
    await connection.send('SubscribeToJob', job.jobId);
    await updates.waitForCount(1);
    assert.equal(updates.events[0].sequence, 1);
    await report(ctx.url, job.jobId, { progress: 33 });
    const u = await updates.waitFor((x) => x.sequence === 2);
    assert.equal(u.progress, 33);
    assert.equal(updates.events.length, 2);
  });

  test('GetJobProgress returns the current state and also sends it as JobProgressUpdate', async () => {
    const job = await createJob(ctx.url, { videoId: 'vid-gjp', metadata: { k: 'v' } });
    const latest = await report(ctx.url, job.jobId, { progress: 45, currentStage: 'Transcribing audio' });
    const connection = await ctx.connect(10);
    const updates = collect(connection, 'JobProgressUpdate');
    const result = await connection.invoke('GetJobProgress', job.jobId);
    assertUpdateMatches(result, latest, 'GetJobProgress result');
    assert.equal(result.sequence, 2);
    await updates.waitForCount(1);
    assert.deepEqual(updates.events[0], result);
    assertUpdateMatches(result, await getJob(ctx.url, job.jobId), 'GET job');

    // It is a one-off read: later reports are not pushed to this connection.
    const other = await createJob(ctx.url);
    await connection.invoke('SubscribeToJob', other.jobId);
    await report(ctx.url, job.jobId, { progress: 50 });
    await report(ctx.url, other.jobId, { progress: 1 });
    await updates.waitFor((u) => u.jobId === other.jobId && u.sequence === 2);
    assert.equal(updates.events.filter((u) => u.jobId === job.jobId).length, 1);
  });

  test('GetVideoProgress returns the video state and also sends it as VideoProgressUpdate', async () => {
    const videoId = 'vid-gvp';
    const job = await createJob(ctx.url, { jobType: 'Transcription', videoId });
    await report(ctx.url, job.jobId, { progress: 60 });
    const connection = await ctx.connect(7);
    const videos = collect(connection, 'VideoProgressUpdate');
    const result = await connection.invoke('GetVideoProgress', videoId);
    for (const k of VIDEO_KEYS) assert.ok(k in result, `VideoProgressUpdate lacks ${k}`);
    assert.equal(result.videoId, videoId);
    assert.equal(result.processingStatus, 'Processing');
    assert.equal(result.transcriptionStatus, 'InProgress');
    assert.equal(result.embeddingStatus, 'NotStarted');
    assert.ok(isIsoUtc(result.updatedAt));
    assert.equal(result.stages.length, 1);
    const stage = result.stages[0];
    for (const k of ['name', 'status', 'progress', 'startedAt', 'completedAt', 'errorMessage']) {
      assert.ok(k in stage, `stage lacks ${k}`);
    }
    assert.equal(stage.name, 'Transcription');
    assert.equal(stage.status, 'InProgress');
    assert.equal(stage.progress, 60);
    await videos.waitForCount(1);
    assert.deepEqual(videos.events[0], result);

    const rest = (await getJson(ctx.url, `/api/v1/videos/${videoId}`)).body;
    for (const k of VIDEO_KEYS) assert.deepEqual(result[k], rest[k], `GET video ${k}`);
  });

  test('SubscribeToVideo delivers the snapshot and each change; UnsubscribeFromVideo stops them', async () => {
    const videoId = 'vid-sub';
    const job = await createJob(ctx.url, { jobType: 'Transcription', videoId });
    const connection = await ctx.connect(10);
    const videos = collect(connection, 'VideoProgressUpdate');
    const updates = collect(connection, 'JobProgressUpdate');
    assert.equal(await connection.invoke('SubscribeToVideo', videoId), null);
    await videos.waitForCount(1);
    assert.equal(videos.events[0].videoId, videoId);
    assert.equal(videos.events[0].processingStatus, 'Pending');

    await report(ctx.url, job.jobId, { progress: 20 });
    await videos.waitFor((v) => v.stages[0]?.progress === 20);
    await report(ctx.url, job.jobId, { status: 'Completed' });
    const done = await videos.waitFor((v) => v.processingStatus === 'Completed');
    assert.equal(done.transcriptionStatus, 'Completed');
    assert.equal(done.overallProgress, 100);
    assert.equal(done.stages[0].status, 'Completed');
    assert.equal(updates.events.length, 0, 'a video subscription does not deliver job updates');

    assert.equal(await connection.invoke('UnsubscribeFromVideo', videoId), null);
    const count = videos.events.length;
    const job2 = await createJob(ctx.url, { jobType: 'EmbeddingGeneration', videoId });
    await connection.invoke('SubscribeToJob', job2.jobId);
    await report(ctx.url, job2.jobId, { progress: 5 });
    await updates.waitFor((u) => u.jobId === job2.jobId && u.sequence === 2);
    assert.equal(videos.events.length, count, 'no VideoProgressUpdate after UnsubscribeFromVideo');
  });

  test('a failing job sends JobProgressUpdate (Failed) then JobFailed', async () => {
    const job = await createJob(ctx.url, { videoId: 'vid-fail' });
    const connection = await ctx.connect(10);
    const log = [];
    const updates = collect(connection, 'JobProgressUpdate', log);
    const failed = collect(connection, 'JobFailed', log);
    const completed = collect(connection, 'JobCompleted', log);
    await connection.invoke('SubscribeToJob', job.jobId);
    await report(ctx.url, job.jobId, { progress: 30 });
    await report(ctx.url, job.jobId, { status: 'Failed', errorMessage: 'ffmpeg exited with code 1' });
    await failed.waitForCount(1);
    const last = updates.events.at(-1);
    assert.deepEqual(updates.events.map((u) => u.sequence), [1, 2, 3]);
    assert.equal(last.status, 'Failed');
    assert.equal(last.errorMessage, 'ffmpeg exited with code 1');
    const f = failed.events[0];
    assert.equal(f.jobId, job.jobId);
    assert.equal(f.videoId, 'vid-fail');
    assert.equal(f.error, 'ffmpeg exited with code 1');
    assert.equal(typeof f.message, 'string');
    assert.ok(isIsoUtc(f.failedAt), `failedAt ${f.failedAt}`);
    assert.ok(log.findIndex((e) => e.name === 'JobFailed') > log.findIndex((e) => e.payload.sequence === 3));
    assert.equal(completed.events.length, 0);
  });

  test('UnsubscribeFromJob stops the updates of that job only', async () => {
    const a = await createJob(ctx.url);
    const b = await createJob(ctx.url);
    const connection = await ctx.connect(7);
    const updates = collect(connection, 'JobProgressUpdate');
    await connection.invoke('SubscribeToJob', a.jobId);
    await connection.invoke('SubscribeToJob', b.jobId);
    await waitFor(() => updates.events.length === 2, 5000, 'two snapshots');
    await report(ctx.url, a.jobId, { progress: 10 });
    await updates.waitFor((u) => u.jobId === a.jobId && u.sequence === 2);
    assert.equal(await connection.invoke('UnsubscribeFromJob', a.jobId), null);
    await report(ctx.url, a.jobId, { progress: 20 });
    await report(ctx.url, b.jobId, { progress: 20 });
    await updates.waitFor((u) => u.jobId === b.jobId && u.sequence === 2);
    assert.deepEqual(updates.events.filter((u) => u.jobId === a.jobId).map((u) => u.sequence), [1, 2]);
  });
});
