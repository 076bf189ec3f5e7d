// REST API: connection info, the job/progress API for workers, history, videos, validation.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, request, getJson, postJson, createJob, report, getJob, getHistory, isIsoUtc,
} from '../lib/server.mjs';

const UPDATE_KEYS = ['jobId', 'videoId', 'jobType', 'status', 'progress', 'currentStage', 'statusMessage',
  'errorMessage', 'updatedAt', 'metadata', 'sequence'];

function assertProblem(res, status, what) {
  assert.equal(res.status, status, `${what}: status (body ${res.text})`);
  assert.match(res.contentType, /^application\/problem\+json\b/, `${what}: content type`);
  assert.equal(typeof res.body, 'object', `${what}: JSON body`);
  assert.equal(res.body.status, status, `${what}: problem status`);
  assert.equal(typeof res.body.detail, 'string', `${what}: problem detail`);
  assert.ok(res.body.detail.length > 0, `${what}: non-empty detail`);
}

async function listAll(url) {
  const res = await getJson(url, '/api/v1/jobs?limit=1000');
  assert.equal(res.status, 200, res.text);
  assert.ok(Array.isArray(res.body));
  return res.body;
}

describe('REST API', () => {
  const ctx = useServer();

  test('connection-info answers exactly the contract fields', async () => {
    const res = await getJson(ctx.url, '/api/v1/signalr/connection-info');
    assert.equal(res.status, 200);
    assert.match(res.contentType, /^application\/json\b/);
    const info = res.body;
    assert.deepEqual(Object.keys(info).sort(), ['events', 'hubUrl', 'instructions', 'userId']);
    assert.equal(info.hubUrl, '/hubs/job-progress');
    assert.equal(info.userId, null);
    assert.deepEqual(Object.keys(info.instructions).sort(), [
      'authentication', 'connect', 'getJobProgress', 'getVideoProgress', 'subscribeToJob', 'subscribeToVideo',
      'unsubscribeFromJob',
    ]);
    for (const [k, v] of Object.entries(info.instructions)) {
      assert.equal(typeof v, 'string', `instructions.${k}`);
      assert.ok(v.trim().length > 0, `instructions.${k} is empty`);
    }
    // Without authentication the server asks for no token (it would ignore one), and no user
    // stands behind the request.
    assert.match(info.instructions.authentication, /no authentication is required/i);
    assert.doesNotMatch(info.instructions.authentication, /accessTokenFactory|JWT|Bearer/i);
    const names = ['JobProgressUpdate', 'JobCompleted', 'JobFailed', 'VideoProgressUpdate', 'UserNotification',
      'BroadcastNotification', 'Error', 'DashboardJobUpdate', 'DashboardStats'];
    assert.ok(Array.isArray(info.events));
    assert.equal(info.events.length, 9);
    const seen = info.events.map((line) => {
      assert.equal(typeof line, 'string');
      const m = /^(\w+) - \S.*$/.exec(line);
      assert.ok(m, `event line ${JSON.stringify(line)} is not "Name - what it is"`);
      return m[1];
    });
    assert.deepEqual([...seen].sort(), [...names].sort());
  });

  test('POST /jobs creates a Pending job with sequence 1, readable with GET', async () => {
    const res = await postJson(ctx.url, '/api/v1/jobs', {
      jobType: 'Transcription', videoId: 'vid-rest-1', userId: 'user-1', metadata: { lang: 'en', n: 3 }, priority: 2,
    });
    assert.equal(res.status, 201, res.text);
    assert.match(res.contentType, /^application\/json\b/);
    const job = res.body;
    assert.equal(typeof job.jobId, 'string');
    assert.ok(job.jobId.length > 0);
    assert.equal(job.sequence, 1);
    assert.equal(job.status, 'Pending');
    assert.equal(job.progress, 0);
    assert.equal(job.jobType, 'Transcription');
    assert.equal(job.videoId, 'vid-rest-1');
    assert.equal(job.userId, 'user-1');
    assert.equal(job.priority, 2);
    assert.deepEqual(job.metadata, { lang: 'en', n: 3 });
    assert.equal(job.errorMessage, null);
    assert.ok(isIsoUtc(job.updatedAt), `updatedAt ${job.updatedAt}`);
    for (const k of UPDATE_KEYS) assert.ok(k in job, `job resource lacks ${k}`);

    const got = await getJob(ctx.url, job.jobId);
    assert.deepEqual(got, job);

    const other = await createJob(ctx.url, { jobType: 'EmbeddingGeneration' });
    assert.notEqual(other.jobId, job.jobId);
    assert.equal(other.videoId, null);
    assert.equal(other.userId, null);
    assert.deepEqual(other.metadata, {});
    assert.equal(other.sequence, 1);
  });

  test('progress reports get the next sequence, default to Running, and Completed sets progress 100', async () => {
    const job = await createJob(ctx.url, { metadata: { a: 1 } });
    const r1 = await report(ctx.url, job.jobId, { progress: 10, currentStage: 'Extracting audio', statusMessage: 'ffmpeg' });
    assert.equal(r1.sequence, 2);
    assert.equal(r1.status, 'Running');
    assert.equal(r1.progress, 10);
    assert.equal(r1.currentStage, 'Extracting audio');
    assert.equal(r1.statusMessage, 'ffmpeg');
    const r2 = await report(ctx.url, job.jobId, { progress: 40.5, metadata: { b: 2 } });
    assert.equal(r2.sequence, 3);
    assert.equal(r2.progress, 40.5);
    assert.equal(r2.currentStage, 'Extracting audio', 'omitted fields keep their value');
    assert.deepEqual(r2.metadata, { a: 1, b: 2 });
    const r3 = await report(ctx.url, job.jobId, { status: 'Completed' });
    assert.equal(r3.sequence, 4);
    assert.equal(r3.status, 'Completed');
    assert.equal(r3.progress, 100);
    assert.equal(r3.errorMessage, null);

    const got = await getJob(ctx.url, job.jobId);
    for (const k of UPDATE_KEYS) assert.deepEqual(got[k], r3[k], `GET job ${k}`);
  });

  test('GET /jobs/{id}/progress is the history, oldest first, with afterSequence and limit', async () => {
    const job = await createJob(ctx.url);
    const reported = [];
    for (const p of [5, 25, 50, 75]) reported.push(await report(ctx.url, job.jobId, { progress: p, statusMessage: `p${p}` }));
    const history = await getHistory(ctx.url, job.jobId);
    assert.deepEqual(history.map((e) => e.sequence), [1, 2, 3, 4, 5]);
    assert.deepEqual(history.map((e) => e.progress), [0, 5, 25, 50, 75]);
    assert.deepEqual(history.slice(1).map((e) => e.statusMessage), ['p5', 'p25', 'p50', 'p75']);
    assert.equal(history[0].status, 'Pending');
    for (const e of history.slice(1)) assert.equal(e.status, 'Running');
    for (const e of history) assert.ok(isIsoUtc(e.updatedAt), `history updatedAt ${e.updatedAt}`);
    // Every recorded entry is what the report answered at the time.
    for (const r of reported) {
      const e = history.find((x) => x.sequence === r.sequence);
      for (const k of ['progress', 'status', 'statusMessage', 'currentStage', 'updatedAt']) {
        assert.deepEqual(e[k], r[k], `history seq ${r.sequence} ${k}`);
      }
    }
    const after = await getHistory(ctx.url, job.jobId, '?afterSequence=2');
    assert.deepEqual(after.map((e) => e.sequence), [3, 4, 5]);
    const limited = await getHistory(ctx.url, job.jobId, '?afterSequence=2&limit=1');
    assert.deepEqual(limited.map((e) => e.sequence), [3]);
    const none = await getHistory(ctx.url, job.jobId, '?afterSequence=5');
    assert.deepEqual(none, []);
  });

  test('GET /jobs filters by status, userId, videoId and limit', async () => {
    const a = await createJob(ctx.url, { userId: 'alice', videoId: 'vid-f-1' });
    const b = await createJob(ctx.url, { userId: 'alice', videoId: 'vid-f-2' });
    const c = await createJob(ctx.url, { userId: 'bob', videoId: 'vid-f-1' });
    await report(ctx.url, b.jobId, { status: 'Completed' });
    const ids = async (q) => {
      const res = await getJson(ctx.url, `/api/v1/jobs${q}`);
      assert.equal(res.status, 200, res.text);
      return res.body.map((j) => j.jobId).sort();
    };
    assert.deepEqual(await ids(''), [a.jobId, b.jobId, c.jobId].sort());
    assert.deepEqual(await ids('?userId=alice'), [a.jobId, b.jobId].sort());
    assert.deepEqual(await ids('?videoId=vid-f-1'), [a.jobId, c.jobId].sort());
    assert.deepEqual(await ids('?status=Completed'), [b.jobId]);
    assert.deepEqual(await ids('?status=Pending&userId=alice'), [a.jobId]);
    assert.equal((await ids('?limit=2')).length, 2);
    assert.deepEqual(await ids('?userId=nobody'), []);
  });

  test('a job with a videoId creates the video with a stage per job type', async () => {
    const videoId = 'vid-rest-video';
    const job = await createJob(ctx.url, { jobType: 'Transcription', videoId, userId: 'u-v' });
    let res = await getJson(ctx.url, `/api/v1/videos/${videoId}`);
    assert.equal(res.status, 200, res.text);
    let v = res.body;
    for (const k of ['videoId', 'processingStatus', 'transcriptionStatus', 'embeddingStatus', 'overallProgress', 'stages', 'updatedAt', 'jobs']) {
      assert.ok(k in v, `video lacks ${k}`);
    }
    assert.equal(v.videoId, videoId);
    assert.equal(v.processingStatus, 'Pending');
    assert.equal(v.embeddingStatus, 'NotStarted');
    assert.equal(v.overallProgress, 0);
    assert.ok(isIsoUtc(v.updatedAt));
    assert.deepEqual(v.stages.map((s) => s.name), ['Transcription']);
    assert.deepEqual(v.jobs.map((j) => j.jobId), [job.jobId]);

    await report(ctx.url, job.jobId, { progress: 40 });
    v = (await getJson(ctx.url, `/api/v1/videos/${videoId}`)).body;
    assert.equal(v.processingStatus, 'Processing');
    assert.equal(v.transcriptionStatus, 'InProgress');
    assert.equal(v.stages[0].status, 'InProgress');
    assert.equal(v.stages[0].progress, 40);
    assert.ok(isIsoUtc(v.stages[0].startedAt), `stage startedAt ${v.stages[0].startedAt}`);

    await report(ctx.url, job.jobId, { status: 'Completed' });
    res = await getJson(ctx.url, `/api/v1/videos/${videoId}`);
    v = res.body;
    assert.equal(v.processingStatus, 'Completed');
    assert.equal(v.transcriptionStatus, 'Completed');
    assert.equal(v.overallProgress, 100);
    assert.equal(v.stages[0].status, 'Completed');
    assert.ok(isIsoUtc(v.stages[0].completedAt));
    assert.equal(v.jobs[0].status, 'Completed');
  });

  test('invalid create bodies get 400 problem+json and create nothing', async () => {
    const existing = await createJob(ctx.url);
    const before = await listAll(ctx.url);
    const cases = [
      { what: 'malformed JSON', body: '{"jobType": "Transcription",' },
      { what: 'not an object (array)', body: '[{"jobType":"Transcription"}]' },
      { what: 'not an object (string)', body: '"Transcription"' },
      { what: 'empty body', body: '' },
      { what: 'missing jobType', body: '{"videoId":"v"}', field: 'jobType' },
      { what: 'jobType not a string', body: '{"jobType":5}', field: 'jobType' },
      { what: 'metadata not an object', body: '{"jobType":"Transcription","metadata":[1]}', field: 'metadata' },
      { what: 'priority out of range', body: '{"jobType":"Transcription","priority":9}', field: 'priority' },
      { what: 'a number beyond double range', body: '{"jobType":"Transcription","metadata":{"x":-1e400}}' },
    ];
    for (const c of cases) {
      const res = await request(ctx.url, 'POST', '/api/v1/jobs', { body: c.body });
      assertProblem(res, 400, c.what);
      if (c.field) {
        assert.equal(typeof res.body.errors, 'object', `${c.what}: errors object`);
        assert.ok(c.field in res.body.errors, `${c.what}: errors names ${c.field}: ${res.text}`);
      }
    }
    const after = await listAll(ctx.url);
    assert.deepEqual(after.map((j) => j.jobId).sort(), before.map((j) => j.jobId).sort());
    assert.ok(after.some((j) => j.jobId === existing.jobId));
  });

  test('invalid progress reports get 400 problem+json and record nothing', async () => {
    const job = await createJob(ctx.url);
    const cases = [
      { what: 'malformed JSON', body: '{"progress": 10' },
      { what: 'not an object', body: '[10]' },
      { what: 'progress 150', body: '{"progress":150}', field: 'progress' },
      { what: 'progress -1', body: '{"progress":-1}', field: 'progress' },
      { what: 'progress not a number', body: '{"progress":"ten"}', field: 'progress' },
      { what: 'status Bogus', body: '{"progress":10,"status":"Bogus"}', field: 'status' },
      { what: 'nothing to report', body: '{}' },
      // Would be stored as infinity and sent as the bare word Infinity: invalid JSON for
      // every subscriber of the job.
      { what: 'a number beyond double range', body: '{"progress":10,"metadata":{"x":1e400}}' },
      { what: 'progress beyond double range', body: '{"progress":1e999}' },
    ];
    for (const c of cases) {
      const res = await request(ctx.url, 'POST', `/api/v1/jobs/${job.jobId}/progress`, { body: c.body });
      assertProblem(res, 400, c.what);
      if (c.field) assert.ok(res.body.errors && c.field in res.body.errors, `${c.what}: errors names ${c.field}: ${res.text}`);
    }
    const got = await getJob(ctx.url, job.jobId);
    assert.equal(got.sequence, 1);
    assert.equal(got.status, 'Pending');
    assert.equal(got.progress, 0);
    assert.deepEqual((await getHistory(ctx.url, job.jobId)).map((e) => e.sequence), [1]);
  });

  test('unknown ids get 404 problem+json', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    assertProblem(await getJson(ctx.url, `/api/v1/jobs/${id}`), 404, 'GET job');
    assertProblem(await getJson(ctx.url, `/api/v1/jobs/${id}/progress`), 404, 'GET history');
    assertProblem(await postJson(ctx.url, `/api/v1/jobs/${id}/progress`, { progress: 5 }), 404, 'POST progress');
    assertProblem(await getJson(ctx.url, '/api/v1/videos/no-such-video'), 404, 'GET video');
    assert.deepEqual(await listAll(ctx.url), [], 'a report to an unknown job creates nothing');
  });

  test('reports after a terminal status get 409 and change nothing', async () => {
    for (const terminal of [{ status: 'Completed' }, { status: 'Failed', errorMessage: 'disk full' }]) {
      const job = await createJob(ctx.url);
      await report(ctx.url, job.jobId, { progress: 30 });
      const end = await report(ctx.url, job.jobId, terminal);
      assert.equal(end.status, terminal.status);
      assert.equal(end.sequence, 3);
      const res = await postJson(ctx.url, `/api/v1/jobs/${job.jobId}/progress`, { progress: 50 });
      assertProblem(res, 409, `report after ${terminal.status}`);
      const res2 = await postJson(ctx.url, `/api/v1/jobs/${job.jobId}/progress`, { status: 'Running' });
      assertProblem(res2, 409, `Running after ${terminal.status}`);
      const got = await getJob(ctx.url, job.jobId);
      assert.equal(got.sequence, 3);
      assert.equal(got.status, terminal.status);
      if (terminal.status === 'Failed') assert.equal(got.errorMessage, 'disk full');
      else assert.equal(got.progress, 100);
      assert.equal((await getHistory(ctx.url, job.jobId)).length, 3);
    }
  });
});
