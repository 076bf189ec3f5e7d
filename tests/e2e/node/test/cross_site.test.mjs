// Cross-site requests (docs/security.md): a page on another site must not be able to make
// a visitor's browser open or use a hub connection, or change anything through the REST
// API, and a DNS name rebound to this server must not reach it at all. Issue 12's attack
// run: `text/plain` POSTs from any Origin were processed, WebSocket upgrades were never
// checked against AllowedOrigins, and any Host header was answered.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { useServer, createJob, getJson, HUB_PATH } from '../lib/server.mjs';
import { negotiate } from '../lib/wire.mjs';
import { WireClient } from '../lib/ws_wire.mjs';

const EVIL = 'http://evil.example';
const ALLOWED = 'http://app.example';

/** A request with exactly these headers (node:http; Host given explicitly when in `headers`). */
function raw(port, method, path, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false, setHost: !('Host' in headers) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function metric(text, name, label) {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('cross-site requests (development defaults)', () => {
  const ctx = useServer({ env: { AppSettings__AllowedOrigins__0: ALLOWED } });

  test('a foreign Origin cannot negotiate, open a WebSocket, send, or write through the REST API', async () => {
    const port = ctx.server.port;
    const self = `http://127.0.0.1:${port}`;
    // negotiate
    assert.equal((await raw(port, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`, { headers: { Origin: EVIL } })).status, 403);
    assert.equal((await raw(port, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`, { headers: { Origin: ALLOWED } })).status, 200);
    assert.equal((await raw(port, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`, { headers: { Origin: self } })).status, 200, 'same origin');
    assert.equal((await raw(port, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`)).status, 200, 'no Origin: not a browser');
    // WebSocket upgrades: browsers send Origin, and no CORS applies to them
    for (const [origin, status] of [[EVIL, 403], ['null', 403], [ALLOWED, 101], [self, 101], [undefined, 101]]) {
      const n = await negotiate(ctx.url);
      const c = ctx.track(await WireClient.open(port, `${HUB_PATH}?id=${n.body.connectionToken}`, { Origin: origin }));
      assert.equal(c.status, status, `WebSocket upgrade with Origin ${origin}: ${c.head}`);
    }
    // A text/plain POST (no preflight in a browser) to the REST API from a foreign page
    const job = await createJob(ctx.url);
    const cancel = await raw(port, 'POST', `/api/v1/jobs/${job.jobId}/cancel`, {
      headers: { Origin: EVIL, 'Content-Type': 'text/plain' }, body: '',
    });
    assert.equal(cancel.status, 403);
    assert.match(cancel.headers['content-type'], /problem\+json/);
    const created = await raw(port, 'POST', '/api/v1/jobs', {
      headers: { Origin: EVIL, 'Content-Type': 'text/plain' }, body: JSON.stringify({ jobType: 'Transcription' }),
    });
    assert.equal(created.status, 403);
    assert.equal((await getJson(ctx.url, `/api/v1/jobs/${job.jobId}`)).body.status, 'Pending', 'nothing was cancelled');
    // Reads stay open: without CORS headers the foreign page cannot read them anyway.
    assert.equal((await raw(port, 'GET', `/api/v1/jobs/${job.jobId}`, { headers: { Origin: EVIL } })).status, 200);
    // An allowed origin writes with JSON.
    const ok = await raw(port, 'POST', '/api/v1/jobs', {
      headers: { Origin: ALLOWED, 'Content-Type': 'application/json' }, body: JSON.stringify({ jobType: 'Transcription' }),
    });
    assert.equal(ok.status, 201, ok.body);
    const m = (await getJson(ctx.url, '/metrics')).text;
    assert.ok(metric(m, 'herald_http_requests_rejected_total', 'reason="origin_not_allowed"') >= 5, 'refusals are counted');
  });

  test('a REST write whose body is not JSON is refused with 415, whatever its Origin', async () => {
    const port = ctx.server.port;
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await raw(port, 'POST', '/api/v1/jobs', { headers: { 'Content-Type': type }, body: JSON.stringify({ jobType: 'Transcription' }) });
      assert.equal(res.status, 415, type);
    }
    const json = await raw(port, 'POST', '/api/v1/jobs', {
      headers: { 'Content-Type': 'application/json; charset=utf-8' }, body: JSON.stringify({ jobType: 'Transcription' }),
    });
    assert.equal(json.status, 201);
    // A write without a body needs no type (cancel from the dashboard).
    const job = await createJob(ctx.url);
    assert.equal((await raw(port, 'POST', `/api/v1/jobs/${job.jobId}/cancel`)).status, 202);
  });

  test('development answers any Host name', async () => {
    const res = await raw(ctx.server.port, 'GET', '/health', { headers: { Host: 'anything.example' } });
    assert.equal(res.status, 200);
  });
});

describe('cross-site requests: Host names in production', () => {
  const ctx = useServer({ env: { AppSettings__IsProduction: 'true', AppSettings__AllowLocalFiles: 'false' } });

  test('only loopback names are answered by default; a rebound name gets 400', async () => {
    const port = ctx.server.port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      assert.equal((await raw(port, 'GET', '/health', { headers: { Host: host } })).status, 200, host);
    }
    for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`]) {
      const res = await raw(port, 'GET', '/health', { headers: { Host: host } });
      assert.equal(res.status, 400, host);
    }
    // Before anything else: the hub refuses it too.
    const neg = await raw(port, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`, { headers: { Host: `evil.example:${port}` } });
    assert.equal(neg.status, 400);
  });
});

describe('cross-site requests: configured AllowedHosts', () => {
  const ctx = useServer({ env: { AppSettings__AllowedHosts: 'herald.example;*.apps.example' } });

  test('listed names and subdomains of a wildcard are answered, nothing else', async () => {
    const port = ctx.server.port;
    const status = async (host) => (await raw(port, 'GET', '/health', { headers: { Host: host } })).status;
    assert.equal(await status('herald.example'), 200);
    assert.equal(await status(`Herald.Example:${port}`), 200);
    assert.equal(await status('a.apps.example'), 200);
    assert.equal(await status('apps.example'), 400);
    assert.equal(await status(`127.0.0.1:${port}`), 400);
  });
});
