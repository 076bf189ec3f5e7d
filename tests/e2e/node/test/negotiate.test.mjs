// Negotiate: versions 0 and 1, which id the transport takes, unknown ids, wrong methods,
// and skipNegotiation.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, createJob, report, collect, request, waitFor, HUB_PATH } from '../lib/server.mjs';
import { RawSocket, negotiate, hubWsUrl } from '../lib/wire.mjs';

const ID = /^[A-Za-z0-9_-]{16,}$/; // URL-safe: the JS client appends ?id= without encoding

describe('negotiate', () => {
  const ctx = useServer();

  // WebSockets first (the JS client tries transports in the order given) with the Text format
  // (JSON); SSE and long polling may follow, SSE with Text only.
  const FORMATS = { WebSockets: ['Text', 'Binary'], ServerSentEvents: ['Text'], LongPolling: ['Text', 'Binary'] };
  function assertTransports(body) {
    const list = body.availableTransports;
    assert.ok(Array.isArray(list) && list.length > 0, JSON.stringify(body));
    assert.equal(list[0].transport, 'WebSockets', `WebSockets is the preferred transport: ${JSON.stringify(list)}`);
    assert.ok(list[0].transferFormats.includes('Text'), JSON.stringify(list[0]));
    const names = list.map((t) => t.transport);
    assert.equal(new Set(names).size, names.length, `a transport is listed twice: ${names}`);
    for (const t of list) {
      assert.ok(t.transport in FORMATS, `unknown transport ${t.transport}`);
      assert.ok(t.transferFormats.length > 0 && t.transferFormats.every((f) => FORMATS[t.transport].includes(f)),
        `${t.transport} transferFormats ${JSON.stringify(t.transferFormats)}`);
    }
  }

  async function assertHubWorks(socket, jobId) {
    await socket.handshake();
    socket.invoke('GetJobProgress', [jobId], 'n1');
    const c = await socket.waitForCompletion('n1');
    assert.equal(c.result?.jobId, jobId);
  }

  test('without negotiateVersion: version 0, no connectionToken, WebSockets first; ?id=connectionId works', async () => {
    const job = await createJob(ctx.url);
    const n = await negotiate(ctx.url, '');
    assert.equal(n.status, 200, n.text);
    assert.match(n.contentType, /^application\/json\b/);
    assert.equal(n.body.negotiateVersion, 0);
    assert.equal('connectionToken' in n.body, false, `v0 answer has a connectionToken: ${n.text}`);
    assert.match(n.body.connectionId, ID);
    assertTransports(n.body);
    assert.equal(n.body.useStatefulReconnect === true, false, 'stateful reconnect not offered unasked');
    // What signalrcore (Python) does: connect with the connectionId.
    const s = ctx.track(await RawSocket.open(hubWsUrl(ctx.url, n.body.connectionId)));
    await assertHubWorks(s, job.jobId);
  });

  test('negotiateVersion=1: a distinct connectionToken, which is what the transport accepts', async () => {
    const job = await createJob(ctx.url);
    const n = await negotiate(ctx.url, '?negotiateVersion=1');
    assert.equal(n.status, 200, n.text);
    assert.equal(n.body.negotiateVersion, 1);
    assert.match(n.body.connectionId, ID);
    assert.match(n.body.connectionToken, ID);
    assert.notEqual(n.body.connectionToken, n.body.connectionId);
    assertTransports(n.body);
    // The public connectionId is not a key to the connection.
    const byPublicId = ctx.track(new RawSocket(hubWsUrl(ctx.url, n.body.connectionId)));
    await assert.rejects(byPublicId.opened, (e) => e.statusCode === 404);
    const s = ctx.track(await RawSocket.open(hubWsUrl(ctx.url, n.body.connectionToken)));
    await assertHubWorks(s, job.jobId);
    // A second socket on a token whose socket is live is refused.
    const again = ctx.track(new RawSocket(hubWsUrl(ctx.url, n.body.connectionToken)));
    await assert.rejects(again.opened, (e) => e.statusCode === 409);
    assert.ok(s.isOpen);
  });

  test('"Binary" is advertised only if the MessagePack protocol is served', async () => {
    // A MessagePack client picks its transport by the Binary format and would then fail its
    // handshake: the server must not offer what it cannot serve.
    const n = await negotiate(ctx.url, '?negotiateVersion=1');
    const formats = n.body.availableTransports.flatMap((t) => t.transferFormats);
    const s = ctx.track(await RawSocket.open(hubWsUrl(ctx.url, n.body.connectionToken)));
    s.send('{"protocol":"messagepack","version":1}\x1e');
    await waitFor(() => s.frames.length > 0 || s.closeInfo, 5000, 'messagepack handshake answer');
    const supported = s.frames[0]?.text === '{}\x1e';
    assert.equal(formats.includes('Binary'), supported,
      `transferFormats ${JSON.stringify(formats)} but the messagepack handshake is answered ${JSON.stringify(s.frames[0]?.text)}`);
  });

  test('a version above the maximum is answered with 1; a non-integer version is an error body', async () => {
    const high = await negotiate(ctx.url, '?negotiateVersion=7');
    assert.equal(high.status, 200);
    assert.equal(high.body.negotiateVersion, 1);
    assert.ok(high.body.connectionToken);
    const bad = await negotiate(ctx.url, '?negotiateVersion=abc');
    assert.equal(bad.status, 200);
    assert.deepEqual(bad.body, { error: 'The client requested a non-integer protocol version.' });
  });

  test('an unknown id on the WebSocket URL is refused with 404', async () => {
    const s = ctx.track(new RawSocket(hubWsUrl(ctx.url, 'AAAAAAAAAAAAAAAAAAAAAA')));
    const err = await s.opened.then(() => null, (e) => e);
    assert.ok(err, 'upgrade must fail');
    assert.equal(err.statusCode, 404);
  });

  test('a token is single-use: after its socket closes it is gone', async () => {
    const n = await negotiate(ctx.url, '?negotiateVersion=1');
    const s = await RawSocket.open(hubWsUrl(ctx.url, n.body.connectionToken));
    await s.handshake();
    s.ws.close(1000);
    await s.waitClosed();
    const again = ctx.track(new RawSocket(hubWsUrl(ctx.url, n.body.connectionToken)));
    const err = await again.opened.then(() => null, (e) => e);
    assert.equal(err?.statusCode, 404);
  });

  test('GET (or another method) on negotiate is 405', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await request(ctx.url, method, `${HUB_PATH}/negotiate?negotiateVersion=1`);
      assert.equal(res.status, 405, `${method} negotiate`);
    }
  });

  test('skipNegotiation with WebSockets works with @microsoft/signalr 10', async () => {
    const job = await createJob(ctx.url);
    const connection = await ctx.connect(10, { skipNegotiation: true });
    assert.equal(connection.state, 'Connected');
    const updates = collect(connection, 'JobProgressUpdate');
    await connection.invoke('SubscribeToJob', job.jobId);
    await report(ctx.url, job.jobId, { progress: 64 });
    const u = await updates.waitFor((x) => x.sequence === 2);
    assert.equal(u.progress, 64);
  });

  test('skipNegotiation at wire level: a socket without id gets a fresh connection', async () => {
    const job = await createJob(ctx.url);
    const s = ctx.track(await RawSocket.open(hubWsUrl(ctx.url)));
    await assertHubWorks(s, job.jobId);
  });
});
