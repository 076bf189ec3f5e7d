// Keep-alive pings, client timeout, handshake timeout and the maximum message size, with the
// intervals shortened through SignalR__* environment variables.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, createJob, report, collect, waitFor } from '../lib/server.mjs';
import { RawSocket, rawHub, negotiate, hubWsUrl, RS } from '../lib/wire.mjs';

const PING = `{"type":6}${RS}`;
const CLOSED_WITH_ERROR = 'Connection closed with an error.';

function closeMessages(socket) {
  return socket.messages().filter((m) => m.type === 7);
}

describe('keep-alive and timeouts', () => {
  const ctx = useServer({
    env: {
      SignalR__KeepAliveInterval: '1',
      SignalR__ClientTimeoutInterval: '2',
      SignalR__HandshakeTimeout: '2',
    },
  });

  test('a silent client receives {"type":6} pings every KeepAliveInterval (and is not timed out before it pings)', async () => {
    const s = ctx.track(await rawHub(ctx.url));
    const t0 = Date.now();
    const pings = () => s.frames.filter((f) => f.text.includes('"type":6'));
    await waitFor(() => pings().length >= 3, 8000, () => `3 pings (frames ${JSON.stringify(s.frames.map((f) => f.text))})`);
    const p = pings();
    for (const f of p) assert.equal(f.text, PING, 'each ping is exactly {"type":6}\\x1e');
    assert.ok(p[2].at - t0 >= 1500, `3 pings after ${p[2].at - t0} ms: sent in a burst, not every second`);
    for (let i = 1; i < p.length; i++) {
      const gap = p[i].at - p[i - 1].at;
      assert.ok(gap >= 500 && gap <= 2500, `gap between pings ${gap} ms`);
    }
    // The client never pinged, so its timeout (2 s) is not armed: still open after 3 s.
    assert.ok(s.isOpen, 'connection stays open');
    assert.equal(closeMessages(s).length, 0);
  });

  test('a client that pings once and then stays silent is closed with an error after ClientTimeoutInterval', async () => {
    const silent = ctx.track(await rawHub(ctx.url));
    const chatty = ctx.track(await rawHub(ctx.url));
    const timer = setInterval(() => chatty.isOpen && chatty.ping(), 400);
    try {
      const t0 = Date.now();
      silent.ping();
      await silent.waitClosed(6000);
      const elapsed = silent.closeInfo.at - t0;
      assert.ok(elapsed >= 1500, `closed after ${elapsed} ms, before the 2 s timeout`);
      assert.ok(elapsed <= 5000, `closed after ${elapsed} ms`);
      const closes = closeMessages(silent);
      assert.equal(closes.length, 1, `one Close message (frames ${JSON.stringify(silent.frames.map((f) => f.text))})`);
      assert.equal(typeof closes[0].error, 'string');
      assert.ok(closes[0].error.startsWith(CLOSED_WITH_ERROR), `error ${JSON.stringify(closes[0].error)}`);
      assert.equal(closes[0].allowReconnect, true);
      // A client that keeps pinging is not affected.
      assert.ok(chatty.isOpen, 'the pinging client is still connected');
      assert.equal(closeMessages(chatty).length, 0);
    } finally {
      clearInterval(timer);
    }
  });

  test('a socket that never sends the handshake is refused after HandshakeTimeout', async () => {
    const n = await negotiate(ctx.url);
    const t0 = Date.now();
    const s = ctx.track(await RawSocket.open(hubWsUrl(ctx.url, n.body.connectionToken)));
    await s.waitClosed(6000);
    const elapsed = s.closeInfo.at - t0;
    assert.ok(elapsed >= 1500 && elapsed <= 5000, `closed after ${elapsed} ms`);
    assert.deepEqual(s.frames.map((f) => f.text), [`{"error":"Handshake was canceled."}${RS}`]);
  });
});

describe('maximum receive message size', () => {
  const ctx = useServer({ env: { SignalR__MaximumReceiveMessageSize: '4096' } });

  test('an oversized invocation closes that client (Close with error, allowReconnect) and no other', async () => {
    const job = await createJob(ctx.url);
    const big = await ctx.connect(10, { logLevel: 'None' });
    const other = await ctx.connect(7);
    const bigUpdates = collect(big, 'JobProgressUpdate');
    const otherUpdates = collect(other, 'JobProgressUpdate');
    let closeError;
    const closed = new Promise((resolve) => big.onclose((e) => {
      closeError = e;
      resolve();
    }));
    await big.invoke('SubscribeToJob', job.jobId);
    await other.invoke('SubscribeToJob', job.jobId);
    await bigUpdates.waitForCount(1);
    await otherUpdates.waitForCount(1);

    // Within the limit: answered normally (an unknown, long id).
    assert.equal(await big.invoke('GetJobProgress', 'y'.repeat(3000)), null);

    const invocation = big.invoke('SubscribeToJob', 'x'.repeat(10 * 1024));
    await assert.rejects(invocation);
    await closed;
    assert.equal(big.state, 'Disconnected');
    assert.ok(closeError, 'onclose receives an error');
    assert.match(String(closeError), /Connection closed with an error/);

    await report(ctx.url, job.jobId, { progress: 42 });
    const u = await otherUpdates.waitFor((x) => x.sequence === 2);
    assert.equal(u.progress, 42);
    assert.equal(other.state, 'Connected');
  });

  test('at wire level the oversized message gets {"type":7,"error":"Connection closed with an error…","allowReconnect":true}', async () => {
    const s = ctx.track(await rawHub(ctx.url));
    s.send(JSON.stringify({ type: 1, invocationId: '1', target: 'SubscribeToJob', arguments: ['x'.repeat(10 * 1024)] }) + RS);
    await s.waitClosed(5000);
    const closes = closeMessages(s);
    assert.equal(closes.length, 1, `frames ${JSON.stringify(s.frames.map((f) => f.text))}`);
    assert.ok(closes[0].error?.startsWith(CLOSED_WITH_ERROR), `error ${JSON.stringify(closes[0].error)}`);
    assert.equal(closes[0].allowReconnect, true);
    assert.equal(s.completions().length, 0, 'the oversized invocation is not answered');
  });

  test('the limit is per message: several messages in one frame may exceed it together', async () => {
    const job = await createJob(ctx.url);
    const s = ctx.track(await rawHub(ctx.url));
    const pad = 'p'.repeat(2000);
    let frame = '';
    for (const id of ['a', 'b', 'c']) {
      frame += JSON.stringify({ type: 1, invocationId: id, target: 'GetJobProgress', arguments: [job.jobId], headers: { pad } }) + RS;
    }
    assert.ok(frame.length > 6000);
    s.send(frame);
    for (const id of ['a', 'b', 'c']) {
      const c = await s.waitForCompletion(id);
      assert.equal(c.result?.jobId, job.jobId);
    }
    assert.ok(s.isOpen);
  });

  test('a handshake larger than the limit is refused', async () => {
    const n = await negotiate(ctx.url);
    const s = ctx.track(await RawSocket.open(hubWsUrl(ctx.url, n.body.connectionToken)));
    s.send(`{"protocol":"json","version":1,"pad":"${'h'.repeat(5000)}"`);
    await s.waitClosed(5000);
    assert.deepEqual(s.frames.map((f) => f.text), [`{"error":"Handshake was canceled."}${RS}`]);
  });
});
