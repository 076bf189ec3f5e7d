// Limits on what one client may make a job or a video hold, through the real REST API:
// metadata bytes (Jobs:MaxMetadataBytes, on create and on the merged result of reports),
// stages per video (Jobs:MaxCustomStagesPerVideo), and the progress history served in
// pages of at most 1000 with a Link to the next (one request once built a 901 MB answer).
// Each refusal is a 400 problem naming the field and the setting, stores nothing, and is
// counted in /metrics.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, request, postJson, getJson, createJob, report, getJob, getHistory } from '../lib/server.mjs';

const rejected = async (url, reason) => {
  const m = (await getJson(url, '/metrics')).text;
  const line = m.split('\n').find((l) => l.startsWith(`herald_http_requests_rejected_total{reason="${reason}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
};

describe('job limits', () => {
  const ctx = useServer({ env: { Jobs__MaxMetadataBytes: '2048', Jobs__MaxCustomStagesPerVideo: '2' } });

  test('metadata over Jobs:MaxMetadataBytes: 400 on create and on a report whose merge passes it', async () => {
    const big = await postJson(ctx.url, '/api/v1/jobs', { jobType: 'Worker', metadata: { blob: 'x'.repeat(2100) } });
    assert.equal(big.status, 400, big.text);
    assert.match(big.contentType, /application\/problem\+json/);
    assert.match(big.body.errors.metadata, /bytes as JSON.*limit is 2048 \(Jobs:MaxMetadataBytes\)/);
    assert.deepEqual((await getJson(ctx.url, '/api/v1/jobs?jobType=Worker')).body, [], 'nothing created');

    const job = await createJob(ctx.url, { jobType: 'Worker', metadata: { a: 'a'.repeat(1200) } });
    const merged = await postJson(ctx.url, `/api/v1/jobs/${job.jobId}/progress`, { progress: 50, metadata: { b: 'b'.repeat(1200) } });
    assert.equal(merged.status, 400, merged.text);
    assert.match(merged.body.errors.metadata, /after merging.*Jobs:MaxMetadataBytes/);
    const after = await getJob(ctx.url, job.jobId);
    assert.equal(after.sequence, 1, 'the refused report recorded nothing');
    assert.equal(after.progress, 0);
    assert.equal(after.metadata.b, undefined);
    // Within the limit it is accepted.
    await report(ctx.url, job.jobId, { progress: 60, metadata: { b: 'small' } });
    assert.ok(await rejected(ctx.url, 'metadata_too_large') >= 2, 'both refusals counted');
  });

  test('a jobType that would add a stage past Jobs:MaxCustomStagesPerVideo: 400', async () => {
    for (const type of ['StepOne', 'StepTwo']) {
      const job = await createJob(ctx.url, { jobType: type, videoId: 'v-stages' });
      await report(ctx.url, job.jobId, { progress: 10 });
    }
    await createJob(ctx.url, { jobType: 'Transcription', videoId: 'v-stages' });  // a pipeline stage: free
    await createJob(ctx.url, { jobType: 'StepOne', videoId: 'v-stages' });        // an existing stage: free
    const third = await postJson(ctx.url, '/api/v1/jobs', { jobType: 'StepThree', videoId: 'v-stages' });
    assert.equal(third.status, 400, third.text);
    assert.match(third.body.errors.jobType, /Jobs:MaxCustomStagesPerVideo/);
    const video = (await getJson(ctx.url, '/api/v1/videos/v-stages')).body;
    assert.deepEqual(video.stages.map((s) => s.name).sort(), ['StepOne', 'StepTwo', 'Transcription']);
    assert.ok(await rejected(ctx.url, 'too_many_stages') >= 1);
  });

  test('the history comes in pages of at most 1000, each full page linking the next', async () => {
    const job = await createJob(ctx.url, { jobType: 'Pager', metadata: { keep: 'k'.repeat(500) } });
    for (let i = 1; i <= 1050; i++) {
      await report(ctx.url, job.jobId, { progress: (i % 100), ...(i === 700 ? { metadata: { step: 700 } } : {}) });
    }
    const tooMany = await getJson(ctx.url, `/api/v1/jobs/${job.jobId}/progress?limit=100000`);
    assert.equal(tooMany.status, 400, tooMany.text);
    assert.match(tooMany.body.detail, /limit must be an integer from 1 to 1000/);

    const first = await getJson(ctx.url, `/api/v1/jobs/${job.jobId}/progress`);
    assert.equal(first.status, 200);
    assert.equal(first.body.length, 1000);
    const link = first.headers.get('link');
    assert.equal(link, `</api/v1/jobs/${job.jobId}/progress?afterSequence=1000&limit=1000>; rel="next"`);
    const next = await getJson(ctx.url, link.slice(1, link.indexOf('>')));
    assert.deepEqual(next.body.map((e) => e.sequence), Array.from({ length: 51 }, (_, i) => 1000 + i + 1));
    assert.equal(next.headers.get('link'), null, 'a short page is the last');
    // Every entry still carries the metadata the job had then.
    const all = [...first.body, ...next.body];
    assert.ok(all.every((e) => e.metadata.keep === 'k'.repeat(500)));
    assert.equal(all.find((e) => e.sequence === 700).metadata.step, undefined);
    assert.equal(all.find((e) => e.sequence === 701).metadata.step, 700);
    assert.equal(all.at(-1).metadata.step, 700);
    const page = await getHistory(ctx.url, job.jobId, '?afterSequence=699&limit=3');
    assert.deepEqual(page.map((e) => e.metadata.step), [undefined, 700, 700]);
  });
});
