// `herald ingest` and `herald watch`: terminal clients fed by the hub.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useServer, heraldBin, createJob, report } from '../lib/server.mjs';

function run(args) {
  return new Promise((resolve) => {
    execFile(heraldBin(), args, { timeout: 60000 }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code : 0, stdout, stderr });
    });
  });
}

describe('herald ingest / watch', () => {
  const ctx = useServer();
  let video;
  before(() => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-cli-'));
    video = join(dir, 'cli.mp4');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=duration=4:size=160x120:rate=10',
      '-i', '/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0890.wav',
      '-shortest', '-c:v', 'mpeg4', '-c:a', 'aac', video]);
  });

  test('ingest submits, then follows the pipeline to Completed with exit code 0', async () => {
    const r = await run(['ingest', 'file://' + video, '--server', ctx.url, '--plain']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^job [0-9a-f-]{36} \(video [0-9a-f-]{36}\)$/);
    assert.ok(lines.some((l) => /^\[#{30}\] 100\.0%  Completed/.test(l)), r.stdout);
    assert.match(lines.at(-1), /^Completed: /);
    // Progress lines never go backwards.
    const pcts = lines.filter((l) => l.startsWith('[')).map((l) => Number(l.match(/\]\s+([\d.]+)%/)[1]));
    assert.deepEqual(pcts, [...pcts].sort((a, b) => a - b));
  });

  test('watch exits 1 with the error for a failed job and 3 for an unknown one', async () => {
    const job = await createJob(ctx.url);
    const watching = run(['watch', job.jobId, '--server', ctx.url, '--plain']);
    await new Promise((r) => setTimeout(r, 500));
    await report(ctx.url, job.jobId, { progress: 40, currentStage: 'Working' });
    await report(ctx.url, job.jobId, { status: 'Failed', errorMessage: 'disk full' });
    const r = await watching;
    assert.equal(r.code, 1);
    assert.match(r.stdout, /40\.0%  Running  Working/);
    assert.match(r.stdout, /Failed: disk full/);

    const unknown = await run(['watch', '00000000-0000-4000-8000-000000000000', '--server', ctx.url]);
    assert.equal(unknown.code, 3);
    assert.match(unknown.stderr, /NOT_FOUND/);
  });

  test('a bad URL is refused with the server\'s reason and exit code 2', async () => {
    const r = await run(['ingest', 'ftp://example/x.mp4', '--server', ctx.url]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /400/);
    assert.match(r.stderr, /unsupported URL scheme/);
  });
});

describe('herald --version', () => {
  test('prints the version and exits 0', async () => {
    const r = await run(['--version']);
    assert.equal(r.code, 0, r.stderr);
    // The CMake project version, then `git describe` of the build's tree when known.
    assert.match(r.stdout.trim(), /^herald \d+\.\d+\.\d+( \([0-9A-Za-z._-]+\))?$/);
  });
});
