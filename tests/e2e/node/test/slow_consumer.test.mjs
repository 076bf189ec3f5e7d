// A client that stops reading must not hold the server: its bounded queue overflows, the
// connection is ended (within the close timeout, even though nothing can be written to
// it), and every other client keeps receiving every update.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { useServer, createJob, report, getJson, collect, waitFor } from '../lib/server.mjs';
import { hubWsUrl, HANDSHAKE_JSON, RS } from '../lib/wire.mjs';

function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : NaN;
}

describe('slow consumers', () => {
  const ctx = useServer({ env: { SignalR__MaxOutboundQueueBytes: '65536' } });

  test('a client that stops reading is dropped; the others get everything', async () => {
    const job = await createJob(ctx.url);
    // The stalled client: subscribes, then stops reading its socket entirely.
    const stalled = new WebSocket(hubWsUrl(ctx.url));
    let closed = false;
    stalled.on('close', () => { closed = true; });
    stalled.on('error', () => {});
    await new Promise((resolve) => stalled.on('open', resolve));
    stalled.send(HANDSHAKE_JSON + `{"type":1,"target":"SubscribeToJob","arguments":["${job.jobId}"]}${RS}`);
    await new Promise((r) => setTimeout(r, 200));
    stalled._socket.pause();

    const healthy = await ctx.connect(10);
    const updates = collect(healthy, 'JobProgressUpdate');
    await healthy.invoke('SubscribeToJob', job.jobId);

    // ~12 MB of updates: far past the socket buffers and the 64 KiB queue bound.
    const pad = 'x'.repeat(8000);
    const n = 1500;
    for (let i = 1; i <= n; i++) {
      await report(ctx.url, job.jobId, { progress: (i * 100) / n, metadata: { pad } });
    }
    await updates.waitForCount(n + 1, 30000);
    const seqs = updates.events.map((u) => u.sequence);
    assert.deepEqual(seqs, Array.from({ length: n + 1 }, (_, i) => i + 1), 'healthy client: every update, in order');

    await waitFor(async () => metric((await getJson(ctx.url, '/metrics')).text, 'herald_hub_slow_consumer_closes_total') >= 1,
      10000, 'the slow consumer to be counted');
    // Its socket is aborted within the close timeout (5 s) even though it never reads.
    await waitFor(async () => metric((await getJson(ctx.url, '/metrics')).text, 'herald_hub_connections') === 1,
      10000, 'the stalled connection to be gone');
    stalled._socket.resume();
    await waitFor(() => closed, 10000, 'the stalled client to see its socket closed');
    const health = await getJson(ctx.url, '/health');
    assert.equal(health.status, 200);
  });
});
