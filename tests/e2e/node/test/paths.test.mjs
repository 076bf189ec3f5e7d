// Paths match as ASP.NET Core matches them: case-insensitively and with or without a
// trailing slash, for the hub (negotiate, WebSockets, Server-Sent Events, long polling) and
// the REST API. Static files are files: they stay case-sensitive.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, createJob, report, collect, request, getJson, signalrModule, safeStop,
} from '../lib/server.mjs';
import { RawSocket } from '../lib/wire.mjs';

// Hub URLs as users write them: a trailing slash (Microsoft's C++ client keeps it on the
// transport request: GET /hubs/job-progress/?id=...), other cases.
const HUB_URLS = ['/hubs/job-progress/', '/Hubs/Job-Progress', '/HUBS/JOB-PROGRESS/'];

describe('hub paths', () => {
  const ctx = useServer();

  for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
    test(`the JS client over ${transport} works with ${HUB_URLS.join(', ')}`, async () => {
      const signalr = signalrModule(10);
      for (const hubUrl of HUB_URLS) {
        const connection = new signalr.HubConnectionBuilder()
          .withUrl(ctx.url + hubUrl, { transport: signalr.HttpTransportType[transport] })
          .configureLogging(signalr.LogLevel.Warning)
          .build();
        try {
          await connection.start();
          const job = await createJob(ctx.url);
          const updates = collect(connection, 'JobProgressUpdate');
          await connection.invoke('SubscribeToJob', job.jobId);
          await updates.waitFor((u) => u.jobId === job.jobId && u.sequence === 1);
          await report(ctx.url, job.jobId, { progress: 40, currentStage: 'paths' });
          const pushed = await updates.waitFor((u) => u.jobId === job.jobId && u.sequence === 2);
          assert.equal(pushed.progress, 40, `${transport} ${hubUrl}`);
          const state = await connection.invoke('GetJobProgress', job.jobId);
          assert.equal(state.jobId, job.jobId, `${transport} ${hubUrl}`);
        } finally {
          await safeStop(connection);
        }
      }
    });
  }

  test('negotiate answers on any case and with a trailing slash', async () => {
    for (const path of ['/HUBS/job-progress/negotiate', '/hubs/job-progress/negotiate/',
      '/Hubs/Job-Progress/Negotiate?negotiateVersion=1']) {
      const res = await request(ctx.url, 'POST', path);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
      assert.equal(typeof res.body.connectionId, 'string', path);
      assert.ok(Array.isArray(res.body.availableTransports), path);
    }
    const get = await request(ctx.url, 'GET', '/hubs/job-progress/negotiate/');
    assert.equal(get.status, 405, 'GET negotiate is still 405');
    const doubled = await request(ctx.url, 'POST', '/hubs/job-progress//negotiate');
    assert.equal(doubled.status, 404, 'an empty segment is not the negotiate path');
  });

  test('a raw WebSocket on /hubs/job-progress/?id= (the C++ client) and on /Hubs/Job-Progress is accepted', async () => {
    const job = await createJob(ctx.url);
    for (const hubPath of ['/hubs/job-progress/', '/Hubs/Job-Progress']) {
      const negotiatePath = `${hubPath.replace(/\/$/, '')}/negotiate?negotiateVersion=1`;
      const n = await request(ctx.url, 'POST', negotiatePath);
      assert.equal(n.status, 200, n.text);
      const wsUrl = `${ctx.url.replace(/^http/, 'ws')}${hubPath}?id=${n.body.connectionToken}`;
      const socket = ctx.track(await RawSocket.open(wsUrl));
      await socket.handshake();
      socket.invoke('GetJobProgress', [job.jobId], 'p1');
      const c = await socket.waitForCompletion('p1');
      assert.equal(c.result?.jobId, job.jobId, hubPath);
      socket.close();
    }
  });
});

describe('REST and static paths', () => {
  const ctx = useServer();

  test('/API/v1/Jobs/ lists, ids keep their case, HEAD is GET without a body', async () => {
    const job = await createJob(ctx.url);
    for (const path of ['/API/v1/Jobs/', '/api/V1/JOBS', '/api/v1/jobs/']) {
      const res = await getJson(ctx.url, path);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
      assert.deepEqual(res.body.map((j) => j.jobId), [job.jobId], path);
    }
    const one = await getJson(ctx.url, `/Api/V1/Jobs/${job.jobId}/`);
    assert.equal(one.status, 200, one.text);
    assert.equal(one.body.jobId, job.jobId);
    const history = await getJson(ctx.url, `/api/v1/jobs/${job.jobId}/PROGRESS/`);
    assert.equal(history.status, 200, history.text);
    assert.deepEqual(history.body.map((e) => e.sequence), [1]);
    const upper = await getJson(ctx.url, `/api/v1/jobs/${job.jobId.toUpperCase()}`);
    assert.equal(upper.status, 404, 'an id is data: it matches exactly');
    const head = await request(ctx.url, 'HEAD', `/api/v1/jobs/${job.jobId}`);
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
    const info = await getJson(ctx.url, '/API/V1/SignalR/Connection-Info/');
    assert.equal(info.status, 200);
    assert.equal(info.body.hubUrl, '/hubs/job-progress');
    const health = await getJson(ctx.url, '/HEALTH/');
    assert.equal(health.status, 200);
  });

  test('a wrong method is 405 with Allow; an unknown path or an overlong id is a 404 problem', async () => {
    const del = await request(ctx.url, 'DELETE', '/api/v1/jobs/');
    assert.equal(del.status, 405, del.text);
    assert.equal(del.headers.get('allow'), 'GET, HEAD, POST');
    assert.match(del.contentType, /^application\/problem\+json\b/);
    const put = await request(ctx.url, 'PUT', '/API/v1/jobs/some-id/cancel');
    assert.equal(put.status, 405, put.text);
    assert.equal(put.headers.get('allow'), 'POST');
    for (const path of ['/api/v1/nothing', `/api/v1/jobs/${'x'.repeat(129)}`, `/api/v1/videos/${'v'.repeat(129)}`]) {
      const res = await getJson(ctx.url, path);
      assert.equal(res.status, 404, path);
      assert.match(res.contentType, /^application\/problem\+json\b/, path);
    }
    const ok = await getJson(ctx.url, `/api/v1/jobs/${'x'.repeat(128)}`);
    assert.equal(ok.status, 404, 'a 128-character id is looked up (and not found)');
    assert.match(ok.body.detail, /not found/i);
  });

  test('static files stay case-sensitive', async () => {
    const page = await request(ctx.url, 'GET', '/index.html');
    assert.equal(page.status, 200);
    const upper = await request(ctx.url, 'GET', '/INDEX.HTML');
    assert.equal(upper.status, 404);
  });
});
