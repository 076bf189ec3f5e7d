// A Server-Sent Events client that stops reading is a slow consumer like a WebSocket one:
// its queue overflows MaxOutboundQueueBytes, the connection is ended and its socket closed
// within the close timeout, though nothing more can be written to it. Issue 12's attack
// run found such a client still ESTABLISHED after 120 s.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { useServer, createJob, report, getJson, waitFor, HUB_PATH } from '../lib/server.mjs';
import { negotiate, HANDSHAKE_JSON, RS } from '../lib/wire.mjs';
import { serverHoldsSocket } from '../lib/proc.mjs';

function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : NaN;
}

/** GET …?id= with Accept: text/event-stream on a bare socket; resolves once the stream is open. */
async function openSse(port, token) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let received = '';
  socket.on('data', (d) => (received += d.toString('latin1')));
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(`GET ${HUB_PATH}?id=${encodeURIComponent(token)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
    'Accept: text/event-stream\r\n\r\n');
  await waitFor(() => received.includes('\r\n\r\n:\r\n'), 5000, 'the event stream to open');
  assert.match(received, /^HTTP\/1\.1 200 /);
  return socket;
}

describe('SSE slow consumer', () => {
  const ctx = useServer({ env: { SignalR__MaxOutboundQueueBytes: '65536' } });

  test('an SSE client that stops reading is dropped and its socket closed', async () => {
    const job = await createJob(ctx.url);
    const n = await negotiate(ctx.url);
    assert.equal(n.status, 200, n.text);
    const token = n.body.connectionToken;
    const sse = await openSse(ctx.server.port, token);
    let closed = false;
    sse.on('close', () => (closed = true));
    const send = (text) =>
      fetch(`${ctx.url}${HUB_PATH}?id=${encodeURIComponent(token)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
        body: text,
      });
    assert.equal((await send(HANDSHAKE_JSON)).status, 200);
    assert.equal((await send(`{"type":1,"target":"SubscribeToJob","arguments":["${job.jobId}"]}${RS}`)).status, 200);
    await new Promise((r) => setTimeout(r, 200));
    sse.pause();  // from now on nothing is read
    assert.ok(serverHoldsSocket(ctx.server.port, sse.localPort), 'the server holds the stream socket');

    // ~12 MB of updates: far past the socket buffers and the 64 KiB queue bound.
    const pad = 'x'.repeat(8000);
    for (let i = 1; i <= 1500; i++) await report(ctx.url, job.jobId, { progress: i / 15, metadata: { pad } });

    await waitFor(async () => metric((await getJson(ctx.url, '/metrics')).text, 'herald_hub_slow_consumer_closes_total') >= 1,
      10000, 'the slow consumer to be counted');
    // Within the close timeout (5 s) the server lets go of the socket, though the client
    // still reads nothing.
    await waitFor(() => !serverHoldsSocket(ctx.server.port, sse.localPort), 15000, 'the server to close the stream socket');
    assert.equal((await getJson(ctx.url, '/health')).body.connections, 0);
    sse.resume();
    await waitFor(() => closed, 10000, 'the client to see its stream end');
  });

  // Long polling holds nothing between polls but the connection's queue: a client that
  // stops polling overflows it like any slow consumer, and the connection is gone.
  test('a long-polling client that stops polling is dropped at the same bound', async () => {
    const job = await createJob(ctx.url);
    const n = await negotiate(ctx.url);
    const base = `${ctx.url}${HUB_PATH}?id=${encodeURIComponent(n.body.connectionToken)}`;
    assert.equal((await fetch(base)).status, 200);  // the first poll answers at once
    const send = (text) => fetch(base, { method: 'POST', headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: text });
    assert.equal((await send(HANDSHAKE_JSON)).status, 200);
    assert.equal((await send(`{"type":1,"invocationId":"s","target":"SubscribeToJob","arguments":["${job.jobId}"]}${RS}`)).status, 200);
    const before = metric((await getJson(ctx.url, '/metrics')).text, 'herald_hub_slow_consumer_closes_total') || 0;
    const pad = 'x'.repeat(8000);
    for (let i = 1; i <= 20; i++) await report(ctx.url, job.jobId, { progress: i, metadata: { pad } });
    await waitFor(async () => metric((await getJson(ctx.url, '/metrics')).text, 'herald_hub_slow_consumer_closes_total') > before,
      10000, 'the slow consumer to be counted');
    await waitFor(async () => (await getJson(ctx.url, '/health')).body.connections === 0, 30000, 'the connection to be disposed');
    const poll = await fetch(base);
    assert.ok([204, 404].includes(poll.status), `a later poll: ${poll.status}`);
  });
});
