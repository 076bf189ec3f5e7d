// AppSettings:EnableWebSockets=false: negotiate offers only Server-Sent Events and long
// polling, an upgrade is refused, and a default client falls back and works.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { useServer, createJob, report, collect, signalrModule, HUB_PATH } from '../lib/server.mjs';
import { negotiate, hubWsUrl } from '../lib/wire.mjs';

describe('WebSockets disabled', () => {
  const ctx = useServer({ env: { AppSettings__EnableWebSockets: 'false' } });

  test('negotiate lists SSE and long polling only; an upgrade gets 404', async () => {
    const n = await negotiate(ctx.url);
    assert.deepEqual(n.body.availableTransports.map((t) => t.transport), ['ServerSentEvents', 'LongPolling']);
    const status = await new Promise((resolve) => {
      const ws = new WebSocket(hubWsUrl(ctx.url, n.body.connectionToken));
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
      ws.on('open', () => resolve('opened'));
      ws.on('error', () => {});
    });
    assert.equal(status, 404);
  });

  test('a client with default options falls back to Server-Sent Events and gets a job flow', async () => {
    const job = await createJob(ctx.url);
    const signalr = signalrModule(10);
    const c = ctx.track(new signalr.HubConnectionBuilder()
      .withUrl(ctx.url + HUB_PATH)  // no transport option: the client picks from negotiate
      .configureLogging(signalr.LogLevel.Warning)
      .build());
    await c.start();
    assert.equal(c.connection.transport.constructor.name, 'ServerSentEventsTransport');
    const updates = collect(c, 'JobProgressUpdate');
    await c.invoke('SubscribeToJob', job.jobId);
    await report(ctx.url, job.jobId, { progress: 50 });
    await report(ctx.url, job.jobId, { status: 'Completed' });
    await updates.waitForCount(3, 5000);
    assert.deepEqual(updates.events.map((u) => u.sequence), [1, 2, 3]);
  });
});
