// Stateful reconnect keeps every message sent until the client acknowledges it. A client
// that reads everything but never sends Ack must not make the server keep it all: the
// unacknowledged bytes count toward MaxOutboundQueueBytes, and past it the connection is
// closed as a slow consumer (issue 12's attack run: 300 MB kept, never closed).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, createJob, report, getJson, waitFor } from '../lib/server.mjs';
import { negotiate, hubWsUrl, RawSocket, RS } from '../lib/wire.mjs';

function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : NaN;
}

describe('stateful reconnect without Acks', () => {
  const ctx = useServer({ env: { SignalR__MaxOutboundQueueBytes: '65536' } });

  test('a client that reads but never acknowledges is closed once its unacknowledged bytes pass the bound', async () => {
    const job = await createJob(ctx.url);
    const n = await negotiate(ctx.url, '?negotiateVersion=1&useStatefulReconnect=true');
    assert.equal(n.status, 200, n.text);
    assert.equal(n.body.useStatefulReconnect, true);
    const s = await RawSocket.open(hubWsUrl(ctx.url, n.body.connectionToken));
    await s.handshake(`{"protocol":"json","version":2}${RS}`);
    s.send(`{"type":1,"invocationId":"s","target":"SubscribeToJob","arguments":["${job.jobId}"]}${RS}`);
    await s.waitForCompletion('s');

    // ~1 MB of updates, every one read at once, none acknowledged: 16 times the bound.
    const pad = 'x'.repeat(2000);
    let sent = 0;
    for (; sent < 500 && s.isOpen; sent++) await report(ctx.url, job.jobId, { progress: sent / 5, metadata: { pad } });
    await s.waitClosed(10_000);
    const updates = s.invocations('JobProgressUpdate').length;
    console.log(`# closed after ${updates} unacknowledged updates (${sent} reported)`);
    assert.ok(updates < 100, `${updates} updates kept unacknowledged before the close`);
    const close = s.messages().find((m) => m.type === 7);
    assert.ok(close, 'a Close message');
    assert.match(close.error ?? '', /error/i);
    await waitFor(async () => metric((await getJson(ctx.url, '/metrics')).text, 'herald_hub_slow_consumer_closes_total') >= 1,
      5000, 'the slow consumer to be counted');
  });
});
