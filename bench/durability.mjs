#!/usr/bin/env node
// The price of Storage:Durability: stored progress reports per second and their latency
// with `full` (every commit fsynced) against `normal`, through the real REST API.
//
//   node bench/durability.mjs [--seconds 10] [--concurrency 32] [--jobs 100]
//
// Starts build/src/server/herald (HERALD_BIN) twice on a fresh data folder under /var/tmp
// (a real disk: an fsync on tmpfs costs nothing), once per setting, pinned like bench/run
// (server CPU 0, this process CPU 1, when taskset exists). Each run: create the jobs, then
// `concurrency` clients each POST reports back to back for `seconds`; group commit folds
// the reports that arrive together into one transaction (one fsync with `full`).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) => (i % 2 ? a : [...a, [v.replace(/^--/, ''), all[i + 1]]]), []));
const seconds = Number(args.seconds ?? 10);
const concurrency = Number(args.concurrency ?? 32);
const jobs = Number(args.jobs ?? 100);
const bin = process.env.HERALD_BIN ?? path.resolve('build/src/server/herald');
const pin = spawnSync('which', ['taskset']).status === 0;

async function run(durability) {
  const dir = mkdtempSync('/var/tmp/herald-durability-');
  const cmd = [...(pin ? ['taskset', '-c', '0'] : []), bin, 'serve', '--urls', 'http://127.0.0.1:0', '--data-dir', dir, '--log-level', 'info'];
  const proc = spawn(cmd[0], cmd.slice(1), {
    // One client address posting as fast as the store allows: the per-user REST limit is
    // raised as bench/run raises it (still checked, so its cost is in the figures).
    env: { ...process.env, Storage__Durability: durability, AppSettings__EnableBackgroundJobs: 'false', Server__IoThreads: '1',
      Limits__RestRequestsPerUserPerSecond: '10000000', Limits__MaxConnectionsPerIp: '100000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const onData = (d) => {
      log += d;
      const m = /listening on (http:\/\/[^ ]+)/.exec(log);
      if (m) resolve(m[1]);
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`server exited ${code}: ${log}`)));
  });
  const post = (p, body) => fetch(url + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const ids = [];
  for (let i = 0; i < jobs; i++) ids.push((await (await post('/api/v1/jobs', { jobType: 'Bench' })).json()).jobId);
  const latencies = [];
  const end = Date.now() + seconds * 1000;
  let n = 0;
  await Promise.all(Array.from({ length: concurrency }, async (_, c) => {
    for (let i = 0; Date.now() < end; i++) {
      const t0 = process.hrtime.bigint();
      const res = await post(`/api/v1/jobs/${ids[(c + i * concurrency) % ids.length]}/progress`, { progress: i % 100, statusMessage: 'working' });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`report answered ${res.status}`);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      n++;
    }
  }));
  proc.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(2);
  return { durability, reportsPerSecond: Math.round(n / seconds), p50: q(0.5), p99: q(0.99) };
}

const results = [];
for (const d of ['normal', 'full', 'normal', 'full']) results.push(await run(d));
console.log(`concurrency ${concurrency}, ${seconds} s each, ${jobs} jobs`);
console.log('| Storage:Durability | reports/s | p50 ms | p99 ms |\n|---|---:|---:|---:|');
for (const r of results) console.log(`| ${r.durability} | ${r.reportsPerSecond} | ${r.p50} | ${r.p99} |`);
