// The OpenAPI description against the real server: the document served at
// /swagger/v1/swagger.json is valid OpenAPI (a maintained validator); every documented
// example matches its schema; every documented operation is called for real, with real
// ids, until every answer it documents (success and problem+json errors) has been seen,
// and each real answer's status, content type and body match the documentation; and
// Swagger UI at /swagger loads in Chromium and its "Try it out" calls succeed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { chromium } from 'playwright-core';
import { startServer, request, getJson, createJob, report, waitFor, TIME_SCALE } from '../lib/server.mjs';

const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const clip = '/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav';

// Documented answers this test cannot provoke, as "operationId status" with the reason
// (e.g. a readiness 503 that needs the store gone). Keep it short: each entry is an answer
// whose body nothing checks.
const NOT_PROVOKED = new Map([
  // Needs the store held by another process for seconds; health.test.mjs provokes it and
  // checks the problem body.
  ['getReadiness 503', 'the store must be locked by another process (health.test.mjs does it)'],
]);

let herald, work, doc, ajv;
// Every real call: {operationId, status, contentType, body, text, what}.
const seen = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'herald-openapi-'));
  herald = await startServer();
  const res = await getJson(herald.url, '/swagger/v1/swagger.json');
  assert.equal(res.status, 200, res.text);
  doc = res.body;
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, 'openapi');
});

after(async () => {
  await herald?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

// JSON pointer escaping for a path key ("/api/v1/jobs" -> "~1api~1v1~1jobs").
const escape = (s) => s.replaceAll('~', '~0').replaceAll('/', '~1');

function operations() {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      out.push({ path, method: method.toUpperCase(), op, pointer: `#/paths/${escape(path)}/${method}` });
    }
  }
  return out;
}

function findOperation(operationId) {
  const found = operations().find((o) => o.op.operationId === operationId);
  assert.ok(found, `no operation ${operationId} in the document`);
  return found;
}

function validatorFor(pointer) {
  return ajv.getSchema(`openapi${pointer}`) ?? ajv.compile({ $ref: `openapi${pointer}` });
}

// Calls an operation by its id: fills the path parameters, then checks the answer
// against what the document says for its status.
async function call(operationId, params = {}, { query = '', json, body } = {}) {
  const { path, method, op, pointer } = findOperation(operationId);
  const url = path.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(params[name])) + query;
  const res = await request(herald.url, method, url, { json, body });
  const what = `${method} ${url} -> ${res.status}`;
  seen.push({ operationId, status: res.status, what });
  const answer = op.responses[String(res.status)];
  assert.ok(answer, `${what}: status not documented (${Object.keys(op.responses)}): ${res.text}`);
  if (res.status === 204) {
    assert.equal(answer.content, undefined, `${what}: a 204 documents no content`);
    assert.equal(res.text, '', `${what}: a 204 has no body`);
    return res;
  }
  const types = Object.keys(answer.content ?? {});
  const type = types.find((t) => res.contentType.split(';')[0].trim() === t);
  assert.ok(type, `${what}: content type ${res.contentType} is not documented (${types})`);
  const validate = validatorFor(`${pointer}/responses/${res.status}/content/${escape(type)}/schema`);
  const value = /json/.test(type) ? res.body : res.text;
  assert.ok(validate(value), `${what}: the answer does not match its schema: ${ajv.errorsText(validate.errors)}\n${res.text}`);
  for (const name of Object.keys(answer.headers ?? {})) {
    assert.ok(res.headers.get(name), `${what}: documented header ${name} is missing`);
  }
  return res;
}

test('the served document is valid OpenAPI 3.1 and every example matches its schema', async () => {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(doc));
  assert.ok(result.valid, `not valid OpenAPI: ${JSON.stringify(result.errors, null, 2)}`);
  assert.equal(validator.version, '3.1');
  assert.deepEqual(doc.servers, [{ url: '/' }]);
  let examples = 0;
  for (const { path, method, op, pointer } of operations()) {
    const media = [];
    for (const [status, answer] of Object.entries(op.responses)) {
      for (const type of Object.keys(answer.content ?? {})) media.push(`responses/${status}/content/${escape(type)}`);
    }
    for (const type of Object.keys(op.requestBody?.content ?? {})) media.push(`requestBody/content/${escape(type)}`);
    for (const m of media) {
      const at = `${pointer}/${m}`;
      const example = at.split('/').slice(1).reduce((o, k) => o[k.replaceAll('~1', '/').replaceAll('~0', '~')], doc).example;
      assert.notEqual(example, undefined, `${method} ${path} ${m}: no example`);
      const validate = validatorFor(`${at}/schema`);
      assert.ok(validate(example), `${method} ${path} ${m}: example does not match: ${ajv.errorsText(validate.errors)}`);
      examples++;
    }
  }
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    const validate = validatorFor(`#/components/schemas/${name}`);
    for (const example of schema.examples ?? []) {
      assert.ok(validate(example), `component ${name}: example does not match: ${ajv.errorsText(validate.errors)}`);
    }
  }
  assert.ok(examples > 20, `only ${examples} examples`);
});

test('every documented operation and answer, called for real, matches the document', async () => {
  const missing = 'no-such-id-0000';
  // Operations, health and the hub's connection info.
  await call('getHealth');
  await call('getLiveness');
  await call('getDashboardSummary');
  await call('getDashboardPage');
  await call('getDashboardPageAlias');
  await call('getReadiness');
  await call('getMetrics');
  await call('getConnectionInfo');
  await call('getOpenApiDocument');

  // The external-worker API: create, report, fail, retry, cancel.
  const created = await call('createJob', {}, { json: { jobType: 'Thumbnail', userId: 'openapi-user', metadata: { size: 'small' }, priority: 1 } });
  assert.equal(created.status, 201);
  const id = created.body.jobId;
  await call('createJob', {}, { json: { videoId: 'v' } }); // 400: jobType is required
  await call('createJob', {}, { body: '{not json' }); // 400: not JSON
  assert.equal((await call('reportJobProgress', { id }, { json: { progress: 30, currentStage: 'Rendering', statusMessage: 'Half-way', metadata: { frames: 12 } } })).status, 200);
  await call('reportJobProgress', { id }, { json: { progress: 300 } }); // 400
  await call('reportJobProgress', { id: missing }, { json: { progress: 10 } }); // 404
  await call('getJob', { id });
  await call('getJob', { id: missing });
  await call('getJobProgressHistory', { id });
  await call('getJobProgressHistory', { id }, { query: '?afterSequence=1&limit=5' });
  await call('getJobProgressHistory', { id }, { query: '?afterSequence=-1' }); // 400
  await call('getJobProgressHistory', { id: missing }); // 404
  await call('retryJob', { id }); // 409: Running, not Failed
  await call('reportJobProgress', { id }, { json: { status: 'Failed', errorMessage: 'renderer crashed' } });
  await call('reportJobProgress', { id }, { json: { progress: 40 } }); // 409: it has ended
  await call('getJob', { id }); // a Failed job: errorMessage and completedAt set
  assert.equal((await call('retryJob', { id })).status, 202);
  await call('retryJob', { id: missing }); // 404
  assert.equal((await call('cancelJob', { id })).status, 202);
  await call('cancelJob', { id }); // 409: already Cancelled
  await call('cancelJob', { id: missing }); // 404
  await call('listJobs');
  await call('listJobs', {}, { query: '?status=Cancelled&userId=openapi-user&limit=10' });
  await call('listJobs', {}, { query: '?status=Sideways' }); // 400
  await call('listJobs', {}, { query: '?jobType=Thumbnail&limit=1&offset=1' });
  await call('listJobs', {}, { query: '?offset=-3' }); // 400

  // The pull model: claim with a lease, report with its token.
  const toClaim = await call('createJob', {}, { json: { jobType: 'OpenApiClaim' } });
  const claimed = await call('claimJob', {}, { json: { jobTypes: ['OpenApiClaim'], leaseSeconds: 60, workerId: 'openapi-worker' } });
  assert.equal(claimed.status, 200);
  assert.equal(claimed.body.jobId, toClaim.body.jobId);
  assert.equal((await call('claimJob', {}, { json: { jobTypes: ['OpenApiClaim'], waitSeconds: 0 } })).status, 204);
  await call('claimJob', {}, { json: { jobTypes: [] } }); // 400
  assert.equal((await call('reportJobProgress', { id: claimed.body.jobId }, { json: { progress: 50, leaseToken: claimed.body.leaseToken } })).status, 200);
  assert.equal((await call('reportJobProgress', { id: claimed.body.jobId }, { json: { progress: 60 } })).status, 409); // leased: no token

  // A real video through the whole pipeline, so its stages, jobs and transcript are real.
  const video = join(work, 'openapi clip.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=duration=4:size=160x120:rate=10',
    '-i', clip, '-shortest', '-c:v', 'mpeg4', '-c:a', 'aac', video]);
  const ingested = await call('ingestVideo', {}, { json: { url: video, userId: 'openapi-user', priority: 2 } });
  assert.equal(ingested.status, 202);
  await call('ingestVideo', {}, { json: { userId: 'u' } }); // 400: url is required
  await call('ingestVideo', {}, { json: { url: 'ftp://example.invalid/x.mp4' } }); // 400
  const { jobId, videoId } = ingested.body;
  await call('getVideo', { id: videoId });
  await call('getVideoTranscript', { id: videoId }); // none yet, or some
  await waitFor(async () => {
    const job = (await getJson(herald.url, `/api/v1/jobs/${jobId}`)).body;
    assert.notEqual(job.status, 'Failed', `the pipeline failed: ${job.errorMessage}`);
    return job.status === 'Completed';
  }, 90_000, 'the pipeline job completes');
  await call('getVideo', { id: videoId });
  const transcript = await call('getVideoTranscript', { id: videoId });
  assert.ok(transcript.body.segments.length > 0, 'the transcript has segments');
  await call('getVideo', { id: missing });
  await call('getVideoTranscript', { id: missing });
  await call('getJobProgressHistory', { id: jobId });
  await call('listJobs', {}, { query: `?videoId=${videoId}` });

  // Every operation was called, and every answer it documents was seen.
  const notSeen = [];
  for (const { method, path, op } of operations()) {
    for (const status of Object.keys(op.responses)) {
      if (NOT_PROVOKED.has(`${op.operationId} ${status}`)) continue;
      if (!seen.some((s) => s.operationId === op.operationId && String(s.status) === status)) {
        notSeen.push(`${method} ${path} ${status}`);
      }
    }
  }
  assert.deepEqual(notSeen, [], 'documented answers never provoked');
});

test('Swagger UI loads at /swagger and "Try it out" calls the server', async () => {
  for (const path of ['/swagger', '/swagger/', '/swagger/index.html']) {
    const res = await getJson(herald.url, path);
    assert.equal(res.status, 200, path);
    assert.match(res.contentType, /^text\/html\b/, path);
    assert.doesNotMatch(res.text, /<script>(?!<\/script>)/, `${path}: no inline script`);
  }
  const job = await createJob(herald.url, { jobType: 'SwaggerCheck' });
  await report(herald.url, job.jobId, { progress: 5 });
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const failures = [];
    page.on('pageerror', (e) => failures.push(e.message));
    page.on('requestfailed', (r) => failures.push(`${r.url()}: ${r.failure()?.errorText}`));
    await page.goto(`${herald.url}/swagger`);
    const timeout = 20_000 * TIME_SCALE;
    await page.waitForSelector('#operations-Jobs-getJob', { timeout });
    assert.match(await page.textContent('.info .title'), /Herald/);

    // GET /health: expand, Try it out, Execute, and the live answer is 200.
    const tryIt = async (opId, fill) => {
      const op = page.locator(`#${opId}`);
      await op.locator('.opblock-summary').first().click();
      await op.locator('button.try-out__btn').click();
      if (fill) await fill(op);
      await op.locator('button.execute').click();
      const status = op.locator('.live-responses-table .response .response-col_status').first();
      await status.waitFor({ timeout });
      return { status: (await status.textContent()).trim(), body: await op.locator('.live-responses-table .response-col_description pre').first().textContent() };
    };
    const health = await tryIt('operations-Operations-getHealth');
    assert.equal(health.status, '200');
    assert.match(health.body, /Healthy/);
    // GET /api/v1/jobs/{id} with a real id typed into its parameter.
    const got = await tryIt('operations-Jobs-getJob', (op) => op.locator('tr[data-param-name="id"] input').fill(job.jobId));
    assert.equal(got.status, '200');
    assert.match(got.body, new RegExp(job.jobId));
    assert.deepEqual(failures, []);
  } finally {
    await browser.close();
  }
});
