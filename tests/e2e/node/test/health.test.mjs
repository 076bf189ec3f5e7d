// /health/live, /health/ready (503 with the reason when the store does not answer) and
// the older /health.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { useServer, getJson, waitFor } from '../lib/server.mjs';

describe('health', () => {
  const ctx = useServer();

  test('live and ready answer Healthy; /health is kept', async () => {
    const live = await getJson(ctx.url, '/health/live');
    assert.equal(live.status, 200);
    assert.deepEqual(live.body, { status: 'Healthy' });
    const ready = await getJson(ctx.url, '/health/ready');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'Healthy');
    assert.equal(ready.body.checks.store, 'Healthy');
    const old = await getJson(ctx.url, '/health');
    assert.equal(old.status, 200);
    assert.equal(old.body.status, 'Healthy');
  });

  test('ready is 503 with the reason while another process holds the database locked; live stays 200', async (t) => {
    // A second process takes the store's write lock (the sqlite3 shell, BEGIN IMMEDIATE):
    // the server can read but not write, so it is not ready.
    const db = path.join(ctx.server.dataDir, 'herald.db');
    const shell = spawn('sqlite3', [db], { stdio: ['pipe', 'pipe', 'pipe'] });
    t.after(() => shell.kill('SIGKILL'));
    let out = '';
    shell.stdout.on('data', (d) => (out += d));
    shell.stdin.write("BEGIN IMMEDIATE;\nSELECT 'locked';\n");
    await waitFor(() => out.includes('locked'), 10000, 'the sqlite3 shell to hold the lock');

    const ready = await getJson(ctx.url, '/health/ready');
    assert.equal(ready.status, 503);
    assert.match(ready.contentType, /application\/problem\+json/);
    assert.equal(ready.body.status, 503);
    assert.match(ready.body.detail, /^Not ready: the store (did not answer within \d+ s|failed: .*locked.*)/);
    const live = await getJson(ctx.url, '/health/live');
    assert.equal(live.status, 200);

    // Released: ready again (the store's busy wait ends first).
    shell.stdin.end('ROLLBACK;\n.quit\n');
    await waitFor(async () => (await getJson(ctx.url, '/health/ready')).status === 200,
      15000, 'ready again after the lock is released');
  });
});
