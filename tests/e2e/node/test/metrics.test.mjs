// GET /metrics: Prometheus text that promtool accepts, whose counters, gauges and
// histograms follow what the server does.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { useServer, createJob, report, getJson, request, collect, waitFor } from '../lib/server.mjs';
import { rawHub } from '../lib/wire.mjs';

// Samples by full series name (labels included, as written).
function parse(text) {
  const values = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    values[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return values;
}

async function scrape(url) {
  const r = await getJson(url, '/metrics');
  assert.equal(r.status, 200);
  return parse(r.text);
}

const delta = (a, b, key) => (b[key] ?? 0) - (a[key] ?? 0);

describe('metrics', () => {
  const ctx = useServer();

  test('promtool check metrics accepts the exposition', async () => {
    // Some traffic first, so that labelled families and histograms have series.
    const job = await createJob(ctx.url, { jobType: 'promtool' });
    await report(ctx.url, job.jobId, { progress: 12.5 });
    await report(ctx.url, job.jobId, { status: 'Completed' });
    await request(ctx.url, 'POST', '/api/v1/jobs', { body: '{not json' });
    const r = await getJson(ctx.url, '/metrics');
    assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    // Throws (with promtool's complaints) on a non-zero exit.
    const out = execFileSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8' });
    assert.equal(out.trim(), '');
    assert.match(r.text, /# TYPE herald_delivery_latency_seconds histogram/);
    assert.match(r.text, /herald_job_duration_seconds_bucket\{job_type="promtool",outcome="Completed",le="\+Inf"\} 1/);
  });

  test('counters and gauges move with connections, publishes and stored updates', async () => {
    const m0 = await scrape(ctx.url);
    assert.equal(m0.herald_hub_connections, 0);

    const job = await createJob(ctx.url);
    const c = await ctx.connect(10);
    const updates = collect(c, 'JobProgressUpdate');
    await c.invoke('SubscribeToJob', job.jobId);
    for (const p of [10, 20, 30]) await report(ctx.url, job.jobId, { progress: p });
    await waitFor(() => updates.events.length >= 4, 5000, 'snapshot and three updates');

    const m1 = await scrape(ctx.url);
    assert.equal(m1.herald_hub_connections, 1);
    assert.equal(m1['herald_hub_connections_by_transport{transport="websockets",protocol="json"}'], 1);
    assert.equal(m1['herald_hub_connections_by_transport{transport="longpolling",protocol="json"}'], 0);
    assert.ok(m1.herald_hub_groups >= 1);
    assert.equal(delta(m0, m1, 'herald_job_updates_recorded_total'), 4);
    assert.equal(delta(m0, m1, 'herald_progress_reports_total'), 3);
    assert.ok(delta(m0, m1, 'herald_hub_frames_queued_total') >= 3);
    assert.ok(delta(m0, m1, 'herald_hub_frames_written_total') >= 3);
    assert.ok(m1.herald_hub_messages_published_total > (m0.herald_hub_messages_published_total ?? 0));
    assert.ok(delta(m0, m1, 'herald_backplane_envelopes_total{direction="published"}') >= 4);
    assert.ok(delta(m0, m1, 'herald_backplane_envelopes_total{direction="received"}') >= 4);
    assert.equal(m1.herald_hub_slow_consumer_closes_total, 0);

    await c.stop();
    await waitFor(async () => (await scrape(ctx.url)).herald_hub_connections === 0,
      5000, 'connection gauge back to 0');
  });

  test('delivery latency: one observation per written batch carrying a report', async () => {
    const job = await createJob(ctx.url);
    const hub = ctx.track(await rawHub(ctx.url));
    hub.invoke('SubscribeToJob', [job.jobId], '1');
    await hub.waitForCompletion('1');
    const m0 = await scrape(ctx.url);
    const before = m0['herald_delivery_latency_seconds_count'] ?? 0;
    for (const p of [1, 2, 3]) {
      await report(ctx.url, job.jobId, { progress: p });
      // Each report's frame written before the next: one batch each.
      await hub.waitForMessage((m) => m.type === 1 && m.arguments?.[0]?.progress === p, 5000, `update ${p}`);
    }
    const m1 = await waitFor(async () => {
      const m = await scrape(ctx.url);
      return m.herald_delivery_latency_seconds_count - before >= 3 ? m : null;
    }, 5000, 'three latency observations');
    assert.equal(m1.herald_delivery_latency_seconds_count - before, 3);
    assert.equal(m1['herald_delivery_latency_seconds_bucket{le="+Inf"}'], m1.herald_delivery_latency_seconds_count);
    // Local delivery is far below 10 s.
    assert.equal(m1['herald_delivery_latency_seconds_bucket{le="10"}'], m1.herald_delivery_latency_seconds_count);
    assert.ok(m1.herald_delivery_latency_seconds_sum > m0.herald_delivery_latency_seconds_sum);
  });

  test('job duration by type and outcome, queue wait, queue depth, rejected requests', async () => {
    const m0 = await scrape(ctx.url);
    const a = await createJob(ctx.url, { jobType: 'dur', priority: 2 });
    const b = await createJob(ctx.url, { jobType: 'dur', priority: 2 });
    const cjob = await createJob(ctx.url, { jobType: 'dur', priority: 1 });
    let m = await scrape(ctx.url);
    assert.equal(m['herald_jobs_queued{job_type="dur",priority="2"}'], 2);
    assert.equal(m['herald_jobs_queued{job_type="dur",priority="1"}'], 1);

    await report(ctx.url, a.jobId, { progress: 50 });  // taken off the queue
    m = await scrape(ctx.url);
    assert.equal(m['herald_jobs_queued{job_type="dur",priority="2"}'], 1);
    assert.equal(m['herald_job_queue_wait_seconds_count{job_type="dur"}'], 1);
    await report(ctx.url, a.jobId, { status: 'Completed' });
    await report(ctx.url, b.jobId, { progress: 5 });
    await report(ctx.url, b.jobId, { status: 'Failed', errorMessage: 'broken' });
    assert.equal((await request(ctx.url, 'POST', `/api/v1/jobs/${cjob.jobId}/cancel`)).status, 202);

    m = await scrape(ctx.url);
    assert.equal(m['herald_job_duration_seconds_count{job_type="dur",outcome="Completed"}'], 1);
    assert.equal(m['herald_job_duration_seconds_count{job_type="dur",outcome="Failed"}'], 1);
    assert.equal(m['herald_job_duration_seconds_count{job_type="dur",outcome="Cancelled"}'], 1);
    assert.equal(m['herald_job_duration_seconds_bucket{job_type="dur",outcome="Completed",le="+Inf"}'], 1);
    assert.equal(m['herald_job_queue_wait_seconds_count{job_type="dur"}'], 2);
    assert.equal(m['herald_jobs_queued{job_type="dur",priority="2"}'], undefined, 'no pending left');

    await request(ctx.url, 'POST', '/api/v1/jobs', { body: '{"jobType":' });
    await request(ctx.url, 'GET', '/api/v1/no-such-thing');
    await request(ctx.url, 'POST', '/api/v1/jobs', { body: 'x'.repeat(2 * 1024 * 1024) }).catch(() => {});
    m = await scrape(ctx.url);
    assert.equal(delta(m0, m, 'herald_http_requests_rejected_total{reason="bad_json"}'), 1);
    assert.equal(delta(m0, m, 'herald_http_requests_rejected_total{reason="not_found"}'), 1);
    assert.equal(delta(m0, m, 'herald_http_requests_rejected_total{reason="body_too_large"}'), 1);
  });
});
