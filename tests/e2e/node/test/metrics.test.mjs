// GET /metrics: Prometheus text whose counters follow what the server does.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, createJob, report, getJson, collect, waitFor } from '../lib/server.mjs';

function parse(text) {
  const values = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const [name, value] = line.split(' ');
    values[name] = Number(value);
  }
  return values;
}

describe('metrics', () => {
  const ctx = useServer();

  test('counters and gauges move with connections, publishes and stored updates', async () => {
    const before = await getJson(ctx.url, '/metrics');
    assert.equal(before.status, 200);
    assert.match(before.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    assert.match(before.text, /# TYPE herald_hub_connections gauge/);
    const m0 = parse(before.text);
    assert.equal(m0.herald_hub_connections, 0);

    const job = await createJob(ctx.url);
    const c = await ctx.connect(10);
    const updates = collect(c, 'JobProgressUpdate');
    await c.invoke('SubscribeToJob', job.jobId);
    for (const p of [10, 20, 30]) await report(ctx.url, job.jobId, { progress: p });
    await waitFor(() => updates.events.length >= 4, 5000, 'snapshot and three updates');

    const m1 = parse((await getJson(ctx.url, '/metrics')).text);
    assert.equal(m1.herald_hub_connections, 1);
    assert.equal(m1.herald_job_updates_recorded_total - m0.herald_job_updates_recorded_total, 4);
    assert.ok(m1.herald_hub_frames_queued_total - m0.herald_hub_frames_queued_total >= 3);
    assert.ok(m1.herald_hub_messages_published_total > m0.herald_hub_messages_published_total);
    assert.equal(m1.herald_hub_slow_consumer_closes_total, 0);

    await c.stop();
    await waitFor(async () => parse((await getJson(ctx.url, '/metrics')).text).herald_hub_connections === 0,
      5000, 'connection gauge back to 0');
  });
});
