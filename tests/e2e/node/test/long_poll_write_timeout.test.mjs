// A long poll whose answer the client never reads (src/transport/http_transports.cpp,
// kWriteTimeout): the server gives the write 30 s, then closes the socket rather than
// hold it, and the buffered answer with it, for ever. The answer is made far larger than
// the loopback socket buffers (~16 MB of queued updates), so the write really stalls; the
// client then finds its answer cut short, which tells this close from the idle timeout of
// a keep-alive connection whose answer went out whole.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { useServer, createJob, report, getJson, waitFor, HUB_PATH, TIME_SCALE } from '../lib/server.mjs';
import { negotiate, HANDSHAKE_JSON, RS } from '../lib/wire.mjs';
import { serverHoldsSocket } from '../lib/proc.mjs';

const WRITE_TIMEOUT_MS = 30_000;

describe('long polling: a client that never reads its poll', () => {
  const ctx = useServer({
    env: {
      // Room for the whole backlog (no slow-consumer close), and no disposal of the
      // connection meanwhile: only the write timeout may end this poll.
      SignalR__MaxOutboundQueueBytes: String(64 * 1024 * 1024),
      SignalR__DisconnectTimeout: '600',
    },
  });

  test('is cut off after the write timeout and its socket closed', { timeout: (WRITE_TIMEOUT_MS + 120_000) * TIME_SCALE }, async () => {
    const job = await createJob(ctx.url);
    const n = await negotiate(ctx.url);
    assert.equal(n.status, 200, n.text);
    const hubUrl = `${ctx.url}${HUB_PATH}?id=${encodeURIComponent(n.body.connectionToken)}`;
    // The first poll answers at once ("connected"); then the handshake and a subscription.
    const first = await fetch(hubUrl);
    assert.equal(first.status, 200);
    await first.arrayBuffer();
    const send = async (text) => {
      const r = await fetch(hubUrl, { method: 'POST', headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: text });
      assert.equal(r.status, 200, await r.text());
    };
    await send(HANDSHAKE_JSON);
    await send(`{"type":1,"target":"SubscribeToJob","arguments":["${job.jobId}"]}${RS}`);
    // ~16 MB of updates wait for the next poll: no poll is open while they are made.
    const pad = 'x'.repeat(14_000);
    for (let i = 1; i <= 1200; i++) await report(ctx.url, job.jobId, { progress: i / 12, metadata: { pad } });

    // The next poll, on a socket that reads nothing.
    const socket = net.connect(ctx.server.port, '127.0.0.1');
    socket.pause();
    socket.on('error', () => {});
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const clientPort = socket.localPort;
    const started = Date.now();
    socket.write(`GET ${HUB_PATH}?id=${encodeURIComponent(n.body.connectionToken)} HTTP/1.1\r\n` +
      `Host: 127.0.0.1:${ctx.server.port}\r\n\r\n`);
    // Still held well before the timeout: the write is waiting for the client.
    await new Promise((r) => setTimeout(r, 5000));
    assert.ok(serverHoldsSocket(ctx.server.port, clientPort), 'the server dropped the poll before its write timeout');

    await waitFor(() => !serverHoldsSocket(ctx.server.port, clientPort), WRITE_TIMEOUT_MS + 30_000 * TIME_SCALE,
      'the server to close the socket of a poll nobody reads');
    const closedAfter = Date.now() - started;
    console.log(`poll socket closed by the server after ${closedAfter} ms`);
    assert.ok(closedAfter >= WRITE_TIMEOUT_MS - 1000, `closed after ${closedAfter} ms, before the write timeout`);

    // What reached the client: the head and part of the body, never all of it.
    const chunks = [];
    socket.on('data', (d) => chunks.push(d));
    const ended = new Promise((resolve) => socket.once('close', resolve));
    socket.resume();
    await ended;
    const received = Buffer.concat(chunks);
    const headEnd = received.indexOf('\r\n\r\n');
    assert.ok(headEnd > 0, 'no answer head arrived');
    const head = received.subarray(0, headEnd).toString('latin1');
    assert.match(head, /^HTTP\/1\.1 200 /);
    const length = Number(/content-length: (\d+)/i.exec(head)[1]);
    const bodyBytes = received.length - headEnd - 4;
    console.log(`answer of ${length} bytes, ${bodyBytes} received before the close`);
    assert.ok(length > 12 * 1024 * 1024, `the answer (${length} bytes) is not larger than the socket buffers`);
    assert.ok(bodyBytes < length, 'the whole answer arrived: the write never stalled');

    // The server is fine.
    assert.equal((await getJson(ctx.url, '/health/ready')).status, 200);
  });
});
