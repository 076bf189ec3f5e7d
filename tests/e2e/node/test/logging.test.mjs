// Logging:Format=json: one JSON object per log line, for log shippers; an unknown format
// stops the server at start with a clear message. Client-chosen values with newlines and
// terminal escapes cannot forge a log line or reach the terminal raw, in either format.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { startServer, heraldBin, createJob, report, waitFor } from '../lib/server.mjs';

describe('JSON log format', () => {
  test('every line the server logs is a JSON object with timestamp, level and message', async (t) => {
    const server = await startServer({ env: { Logging__Format: 'json' }, logLevel: 'debug' });
    t.after(() => server.stop('SIGKILL'));
    const job = await createJob(server.url);
    await report(server.url, job.jobId, { status: 'Failed', errorMessage: 'a "quoted"\nmessage' });
    await waitFor(() => server.logs().includes('Failed'), 5000, 'the job end logged');
    await server.stop('SIGTERM');
    const lines = server.logs().split('\n').filter((l) => l.trim() !== '');
    assert.ok(lines.length >= 3, server.logs());
    for (const line of lines) {
      let o;
      assert.doesNotThrow(() => (o = JSON.parse(line)), `not JSON: ${line}`);
      assert.match(o.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(['trace', 'debug', 'info', 'warning', 'error', 'critical'].includes(o.level), line);
      assert.equal(o.logger, 'herald');
      assert.equal(typeof o.message, 'string');
    }
    assert.ok(lines.some((l) => JSON.parse(l).message.includes('a "quoted"\nmessage')), 'escaped message kept');
  });

  test('a JSON log line carries DEL and C1 controls as \\u escapes, the same text once parsed', async (t) => {
    const server = await startServer({ env: { Logging__Format: 'json' }, logLevel: 'info' });
    t.after(() => server.stop('SIGKILL'));
    const job = await createJob(server.url, { videoId: 'v\u009b31mred\u007f', userId: 'u\x1b[2Jx' });
    await waitFor(() => server.logs().includes(job.jobId), 5000, 'the job creation logged');
    const line = server.logs().split('\n').find((l) => l.includes(job.jobId));
    assert.ok(!/[\x00-\x1f\x7f\u0080-\u009f]/.test(line), `raw control character in: ${JSON.stringify(line)}`);
    assert.ok(JSON.parse(line).message.includes('video v\u009b31mred\u007f, user u\x1b[2Jx'), line);
  });

  test('an unknown Logging:Format stops the server at start', async () => {
    const r = await new Promise((resolve) => {
      execFile(heraldBin(), ['serve', '--urls', 'http://127.0.0.1:0'], {
        env: { ...process.env, Logging__Format: 'xml' }, timeout: 20000,
      }, (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stderr }));
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Logging:Format must be text or json, got 'xml'/);
  });
});

describe('text log format', () => {
  test('newlines and terminal escapes in client values are escaped: no forged line', async (t) => {
    const server = await startServer({ logLevel: 'info' });
    t.after(() => server.stop('SIGKILL'));
    const forged = '2026-01-01T00:00:00.000 critical [1] job admin: FORGED';
    const job = await createJob(server.url, {
      videoId: `v\n${forged}`,
      userId: 'u\r\x1b[2J\x1b[31m\u009bX\\n\x00',
    });
    await waitFor(() => server.logs().includes(job.jobId), 5000, 'the job creation logged');
    const lines = server.logs().split('\n');
    assert.ok(!lines.some((l) => l.startsWith(forged)), 'a forged line in the log');
    const line = lines.find((l) => l.includes(`job ${job.jobId}: created`));
    assert.ok(line, server.logs());
    assert.ok(!/[\x00-\x1f\x7f\u0080-\u009f]/.test(line), `raw control character in: ${JSON.stringify(line)}`);
    assert.ok(line.includes(`video v\\n${forged}`), line);
    assert.ok(line.includes('user u\\r\\x1b[2J\\x1b[31m\\u009bX\\\\n\\x00'), line);
  });
});
