// Nothing fails open: EnableAuth=true without a key stops the server at start with a
// clear message, and without EnableAuth every caller is anonymous (jwt.test.mjs tests
// authentication itself).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { heraldBin, useServer, getJson, request } from '../lib/server.mjs';

const MESSAGE = 'AppSettings:EnableAuth=true needs Jwt:Secret (HS256) or Jwt:PublicKeyFile '
  + '(RS256/ES256)';

/** Runs the server to its exit; resolves {code, signal, output}. */
function runToExit(env, args = []) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-e2e-auth-'));
  return new Promise((resolve, reject) => {
    let output = '';
    const proc = spawn(heraldBin(), ['serve', '--urls', 'http://127.0.0.1:0', '--data-dir', dir, ...args],
      { env: { ...process.env, ...env }, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the server did not exit within 10 s; output:\n${output}`));
    }, 10_000);
    proc.stdout.on('data', (c) => (output += c));
    proc.stderr.on('data', (c) => (output += c));
    proc.once('error', reject);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, signal, output });
    });
  });
}

describe('authentication off', () => {
  test('AppSettings__EnableAuth=true without a key refuses to start, with the reason', async () => {
    const r = await runToExit({ AppSettings__EnableAuth: 'true' });
    assert.notEqual(r.code, 0, `exit code ${r.code}; output:\n${r.output}`);
    assert.equal(r.signal, null);
    assert.ok(r.output.includes(MESSAGE), r.output);
    assert.doesNotMatch(r.output, /Herald listening/);
  });

  describe('a running server', () => {
    const ctx = useServer();

    test('a token is ignored: connection-info names no user and asks for no token', async () => {
      const res = await request(ctx.url, 'GET', '/api/v1/signalr/connection-info', {
        headers: { Authorization: 'Bearer a.b.c' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.body.userId, null);
      assert.match(res.body.instructions.authentication, /no authentication is required/i);
      const plain = await getJson(ctx.url, '/api/v1/signalr/connection-info');
      assert.deepEqual(plain.body, res.body);
    });
  });
});
