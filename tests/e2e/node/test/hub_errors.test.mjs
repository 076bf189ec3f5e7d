// Hub error handling: unknown ids (Error NOT_FOUND, null result, no group), unknown methods,
// wrong arguments, case-insensitive method names. The connection must survive all of them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, createJob, report, collect, connect, safeStop, startServer } from '../lib/server.mjs';

const MISSING_JOB = '3f1e0d9a-0000-4000-8000-00000000dead';

/** Invokes and returns the rejection's message (fails if the invocation resolves). */
async function rejection(connection, method, ...args) {
  try {
    const r = await connection.invoke(method, ...args);
    assert.fail(`${method}(${JSON.stringify(args)}) resolved with ${JSON.stringify(r)} instead of rejecting`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return e.message;
  }
}

/** The connection still serves calls: GetJobProgress of a real job answers. */
const ignore = () => {};
async function assertUsable(connection, jobId) {
  connection.on('JobProgressUpdate', ignore); // GetJobProgress also sends the event
  const r = await connection.invoke('GetJobProgress', jobId);
  assert.equal(r?.jobId, jobId, 'connection still usable');
}

describe('hub errors', () => {
  const ctx = useServer();

  for (const version of [7, 10]) {
    test(`client ${version}: unknown job/video ids give Error NOT_FOUND and a null result, and join nothing`, async () => {
      const real = await createJob(ctx.url);
      const connection = await ctx.connect(version);
      const errors = collect(connection, 'Error');
      const updates = collect(connection, 'JobProgressUpdate');
      const videos = collect(connection, 'VideoProgressUpdate');
      let closed = false;
      connection.onclose(() => {
        closed = true;
      });

      const calls = [
        ['SubscribeToJob', MISSING_JOB],
        ['SubscribeToJob', MISSING_JOB, 0],
        ['GetJobProgress', MISSING_JOB],
        ['SubscribeToVideo', 'vid-not-yet'],
        ['GetVideoProgress', 'vid-not-yet'],
      ];
      for (const [i, [method, ...args]] of calls.entries()) {
        const result = await connection.invoke(method, ...args);
        assert.equal(result, null, `${method} result`);
        await errors.waitForCount(i + 1);
        assert.equal(errors.events.length, i + 1, `exactly one Error per ${method}`);
        const err = errors.events[i];
        assert.equal(err.code, 'NOT_FOUND', `${method} error code`);
        assert.equal(typeof err.message, 'string');
        assert.ok(err.message.length > 0);
      }
      assert.equal(updates.events.length, 0);
      assert.equal(videos.events.length, 0);
      await assertUsable(connection, real.jobId);

      // The video now comes to exist: a connection that joined video-vid-not-yet would get its
      // updates. A control connection that subscribes now proves the updates are published.
      const job = await createJob(ctx.url, { jobType: 'Transcription', videoId: 'vid-not-yet' });
      const control = await ctx.connect(10);
      const controlVideos = collect(control, 'VideoProgressUpdate');
      await control.invoke('SubscribeToVideo', 'vid-not-yet');
      await controlVideos.waitForCount(1);
      await report(ctx.url, job.jobId, { progress: 50 });
      await report(ctx.url, real.jobId, { progress: 50 });
      await controlVideos.waitFor((v) => v.stages[0]?.progress === 50);
      // Sync point on the first connection: its own subscription's snapshot comes after any
      // update already queued for it.
      await connection.invoke('SubscribeToJob', real.jobId);
      await updates.waitFor((u) => u.jobId === real.jobId);
      assert.equal(videos.events.length, 0, 'no VideoProgressUpdate for a video whose subscription failed');
      assert.equal(updates.events.filter((u) => u.jobId === MISSING_JOB).length, 0);
      assert.equal(closed, false, 'connection stayed open');
    });
  }

  test('an unknown method is rejected with "Method does not exist" and the connection survives', async () => {
    const real = await createJob(ctx.url);
    const connection = await ctx.connect(10);
    const msg = await rejection(connection, 'NoSuchMethod', 1, 'two');
    assert.equal(msg, "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist.");
    const msg2 = await rejection(connection, 'SubscribeToJobs', real.jobId);
    assert.match(msg2, /^Failed to invoke 'SubscribeToJobs' due to an error on the server\. HubException: Method does not exist\.$/);
    await assertUsable(connection, real.jobId);
  });

  for (const version of [7, 10]) {
    test(`client ${version}: wrong argument count or types are rejected as binding failures`, async () => {
      const real = await createJob(ctx.url);
      const connection = await ctx.connect(version);
      const errors = collect(connection, 'Error');
      const updates = collect(connection, 'JobProgressUpdate');
      const cases = [
        ['GetJobProgress'],
        ['GetJobProgress', real.jobId, 'extra'],
        ['GetJobProgress', 42],
        ['GetJobProgress', { jobId: real.jobId }],
        ['SubscribeToJob'],
        ['SubscribeToJob', real.jobId, 'not-a-number'],
        ['SubscribeToJob', real.jobId, 1.5],
        ['SubscribeToJob', real.jobId, 1, 2],
        ['SubscribeToJob', [real.jobId]],
        ['SubscribeToVideo', true],
        ['GetVideoProgress'],
      ];
      for (const [method, ...args] of cases) {
        const msg = await rejection(connection, method, ...args);
        const prefix = `Failed to invoke '${method}' due to an error on the server.`;
        assert.ok(msg.startsWith(prefix), `${method}(${JSON.stringify(args)}): ${JSON.stringify(msg)} should start with ${JSON.stringify(prefix)}`);
      }
      // Failed bindings run nothing: no Error event, no subscription.
      await assertUsable(connection, real.jobId);
      assert.equal(errors.events.length, 0);
      await report(ctx.url, real.jobId, { progress: 1 });
      await connection.invoke('GetJobProgress', real.jobId);
      await updates.waitForCount(2);
      assert.deepEqual(updates.events.map((u) => u.sequence), [1, 2], 'only the two GetJobProgress events, no subscription');
    });
  }

  test('with detailed errors off, binding failures carry exactly the generic text', async () => {
    const server = await startServer({ env: { SignalR__EnableDetailedErrors: 'false' } });
    let connection;
    try {
      const real = await createJob(server.url);
      connection = await connect(10, server.url);
      assert.equal(await rejection(connection, 'GetJobProgress'),
        "Failed to invoke 'GetJobProgress' due to an error on the server.");
      assert.equal(await rejection(connection, 'GetJobProgress', 42),
        "Failed to invoke 'GetJobProgress' due to an error on the server.");
      assert.equal(await rejection(connection, 'SubscribeToJob', real.jobId, 'x'),
        "Failed to invoke 'SubscribeToJob' due to an error on the server.");
      // HubException text is always sent, as ASP.NET Core does.
      assert.equal(await rejection(connection, 'Nope'),
        "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist.");
      await assertUsable(connection, real.jobId);
    } finally {
      await safeStop(connection);
      const died = server.exitInfo;
      await server.stop('SIGKILL');
      assert.equal(died, null, 'server process stayed up');
    }
  });

  test('method names are case-insensitive', async () => {
    const job = await createJob(ctx.url, { videoId: 'vid-case' });
    const connection = await ctx.connect(10);
    const updates = collect(connection, 'JobProgressUpdate');
    const videos = collect(connection, 'VideoProgressUpdate');
    assert.equal(await connection.invoke('subscribetojob', job.jobId), null);
    await updates.waitForCount(1);
    await report(ctx.url, job.jobId, { progress: 12 });
    await updates.waitFor((u) => u.sequence === 2);
    const r = await connection.invoke('GETJOBPROGRESS', job.jobId);
    assert.equal(r.sequence, 2);
    const v = await connection.invoke('getVideoProgress', 'vid-case');
    assert.equal(v.videoId, 'vid-case');
    await videos.waitForCount(1);
    assert.equal(await connection.invoke('unSubscribeFromJob', job.jobId), null);
    await report(ctx.url, job.jobId, { progress: 13 });
    await connection.invoke('SUBSCRIBETOVIDEO', 'vid-case');
    await videos.waitForCount(2);
    assert.equal(updates.events.filter((u) => u.sequence === 3).length, 0, 'unsubscribed through a lower-case name');
  });
});
