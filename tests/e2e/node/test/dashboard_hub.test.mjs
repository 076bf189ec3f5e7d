// The dashboard's stream and REST pieces, with a real Node SignalR client: after
// SubscribeToDashboard a connection hears every job's changes (DashboardJobUpdate, in
// sequence order per job, with statusChanged) and the counts (DashboardStats), and stops
// hearing them after UnsubscribeFromDashboard; a connection that did not subscribe hears
// none. REST: the summary, the jobs list's jobType filter and offset paging, and the
// dashboard page at /hangfire and /dashboard.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, createJob, report, getJson, collect, waitFor, delay, TIME_SCALE } from '../lib/server.mjs';

describe('dashboard stream', () => {
  const ctx = useServer();

  test('SubscribeToDashboard returns a snapshot, then every job change and the counts are pushed', async () => {
    const before = await createJob(ctx.url, { jobType: 'DashA', priority: 2 });
    await report(ctx.url, before.jobId, { progress: 5, currentStage: 'Working', status: 'Running' });

    const watcher = await ctx.connect(10);
    const bystander = await ctx.connect(10);
    const updates = collect(watcher, 'DashboardJobUpdate');
    const stats = collect(watcher, 'DashboardStats');
    const unseen = collect(bystander, 'DashboardJobUpdate');

    const snapshot = await watcher.invoke('SubscribeToDashboard');
    assert.equal(snapshot.byStatus.Running, 1);
    assert.equal(snapshot.total, 1);
    assert.deepEqual(snapshot.queues, [{ jobType: 'DashA', priority: 2, pending: 0, running: 1 }]);
    assert.equal(snapshot.running.length, 1);
    assert.equal(snapshot.running[0].jobId, before.jobId);
    assert.equal(snapshot.running[0].progress, 5);
    assert.equal(snapshot.recent[0].jobId, before.jobId);

    // Two jobs, interleaved: every update of each arrives, in sequence order.
    const a = await createJob(ctx.url, { jobType: 'DashB' });
    const b = await createJob(ctx.url, { jobType: 'DashC', priority: 1 });
    for (let p = 10; p <= 50; p += 10) {
      await report(ctx.url, a.jobId, { progress: p, currentStage: 'A', status: 'Running' });
      await report(ctx.url, b.jobId, { progress: p, currentStage: 'B', status: 'Running' });
    }
    await report(ctx.url, a.jobId, { progress: 100, status: 'Completed' });
    await report(ctx.url, b.jobId, { status: 'Failed', errorMessage: 'encoder crashed' });
    await updates.waitFor((u) => u.jobId === b.jobId && u.status === 'Failed', 5000);
    await updates.waitFor((u) => u.jobId === a.jobId && u.status === 'Completed', 5000);
    for (const job of [a, b]) {
      const seen = updates.events.filter((u) => u.jobId === job.jobId);
      assert.deepEqual(seen.map((u) => u.sequence), [1, 2, 3, 4, 5, 6, 7], `every change of ${job.jobType}, in order`);
      assert.deepEqual(seen.map((u) => u.statusChanged), [false, true, false, false, false, false, true]);
      assert.equal(seen[0].jobType, job.jobType);
      assert.equal(typeof seen[0].attempts, 'number');
      assert.ok('createdAt' in seen[0] && 'priority' in seen[0]);
    }
    const failed = updates.events.find((u) => u.jobId === b.jobId && u.status === 'Failed');
    assert.equal(failed.errorMessage, 'encoder crashed');
    assert.equal(failed.priority, 1);

    // The counts follow, pushed about once a second.
    const counted = await stats.waitFor((s) => s.byStatus.Completed === 1 && s.byStatus.Failed === 1, 5000);
    assert.equal(counted.byStatus.Running, 1);
    assert.equal(counted.total, 3);

    // Not subscribed: nothing.
    assert.equal(unseen.events.length, 0);

    // Unsubscribed: no more updates, no more counts.
    await watcher.invoke('UnsubscribeFromDashboard');
    const heard = updates.events.length;
    await report(ctx.url, before.jobId, { progress: 60 });
    const statsHeard = stats.events.length;
    await delay(2500 * TIME_SCALE);
    assert.equal(updates.events.length, heard, 'no updates after UnsubscribeFromDashboard');
    assert.ok(stats.events.length <= statsHeard + 1, 'the counts stop (one may have been on its way)');
  });

  test('the method names are case-insensitive and a second subscribe sends one stream', async () => {
    const watcher = await ctx.connect(10);
    const updates = collect(watcher, 'DashboardJobUpdate');
    await watcher.invoke('subscribetodashboard');
    await watcher.invoke('SubscribeToDashboard');
    const job = await createJob(ctx.url, { jobType: 'Once' });
    await report(ctx.url, job.jobId, { progress: 50, status: 'Running' });
    await updates.waitFor((u) => u.jobId === job.jobId && u.sequence === 2, 5000);
    await delay(200);
    assert.equal(updates.events.filter((u) => u.jobId === job.jobId).length, 2);
  });
});

describe('dashboard REST', () => {
  const ctx = useServer();

  test('summary, list filters and paging, the page at /hangfire and /dashboard', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await createJob(ctx.url, { jobType: i % 2 ? 'Odd' : 'Even', priority: i % 2 ? 3 : 0 })).jobId);
    await report(ctx.url, ids[0], { status: 'Running', progress: 10 });

    const summary = await getJson(ctx.url, '/api/v1/dashboard/summary');
    assert.equal(summary.status, 200);
    assert.deepEqual(summary.body.byStatus, { Pending: 4, Running: 1, Completed: 0, Failed: 0, Cancelled: 0 });
    assert.deepEqual(summary.body.queues, [
      { jobType: 'Odd', priority: 3, pending: 2, running: 0 },
      { jobType: 'Even', priority: 0, pending: 2, running: 1 },
    ]);
    assert.equal(summary.body.total, 5);

    const even = await getJson(ctx.url, '/api/v1/jobs?jobType=Even');
    assert.deepEqual(even.body.map((j) => j.jobId), [ids[4], ids[2], ids[0]]);
    const page1 = await getJson(ctx.url, '/api/v1/jobs?limit=2');
    const page2 = await getJson(ctx.url, '/api/v1/jobs?limit=2&offset=2');
    const page3 = await getJson(ctx.url, '/api/v1/jobs?limit=2&offset=4');
    assert.deepEqual([...page1.body, ...page2.body, ...page3.body].map((j) => j.jobId), [...ids].reverse());
    const pending = await getJson(ctx.url, '/api/v1/jobs?status=Pending&jobType=Odd&offset=1');
    assert.deepEqual(pending.body.map((j) => j.jobId), [ids[1]]);
    for (const bad of ['-1', 'x', '1.5', '99999999999']) {
      const r = await getJson(ctx.url, `/api/v1/jobs?offset=${bad}`);
      assert.equal(r.status, 400, `offset=${bad}`);
      assert.match(r.contentType, /problem\+json/);
    }

    for (const path of ['/hangfire', '/hangfire/', '/dashboard', '/dashboard/', '/HangFire']) {
      const page = await getJson(ctx.url, path);
      assert.equal(page.status, 200, path);
      assert.match(page.contentType, /text\/html/);
      assert.match(page.text, /dashboard\.js/);
    }
    for (const asset of ['/dashboard/dashboard.js', '/dashboard/dashboard.css', '/lib/signalr.min.js']) {
      assert.equal((await getJson(ctx.url, asset)).status, 200, asset);
    }

    const info = await getJson(ctx.url, '/api/v1/signalr/connection-info');
    assert.ok(info.body.events.some((e) => e.startsWith('DashboardJobUpdate - ')));
    assert.ok(info.body.events.some((e) => e.startsWith('DashboardStats - ')));
  });
});
