// A throwaway redis-server per test, for the tests of the Redis backplane and of adoption:
// they kill Redis and start it again on the same port mid-stream, which a server shared by
// the whole run (tools/redis.sh) could not allow. Debian's redis-server as the current user,
// on 127.0.0.1, a random password, no persistence, a temporary directory removed by stop().
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Sends one RESP command and resolves with the first reply line (e.g. "+PONG"). */
export async function redisCommand(port, password, ...args) {
  const words = password ? [['AUTH', password], args] : [args];
  const wire = words.map((w) => `*${w.length}\r\n` + w.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')).join('');
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setTimeout(2000, () => socket.destroy(new Error('redis: no answer')));
    socket.on('error', reject);
    socket.on('data', (d) => {
      text += d.toString('utf8');
      const lines = text.split('\r\n');
      // The AUTH reply first when a password was sent; then the command's first line.
      const wanted = password ? 2 : 1;
      if (lines.length > wanted) {
        socket.end();
        resolve(lines[wanted - 1]);
      }
    });
    socket.on('connect', () => socket.write(wire));
  });
}

/**
 * Starts redis-server on a free port. Returns {port, password, connectionString (the
 * StackExchange.Redis form: `127.0.0.1:PORT,password=…`), url (`redis://:…@127.0.0.1:PORT`),
 * pid, kill() (SIGKILL, as a crash), restart() (a new process on the same port), stop()}.
 */
export async function startRedis({ password = randomBytes(18).toString('base64url') } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-e2e-redis-'));
  const port = await freePort();
  const conf = path.join(dir, 'redis.conf');
  writeFileSync(conf, [`bind 127.0.0.1`, `port ${port}`, `dir ${dir}`, `requirepass ${password}`, 'save ""',
    'appendonly no', 'daemonize no', `logfile ${path.join(dir, 'redis.log')}`].join('\n') + '\n');
  let proc = null;
  let exited = null;

  async function launch() {
    proc = spawn('redis-server', [conf], { stdio: 'ignore' });
    exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    for (let i = 0; i < 100; i++) {
      try {
        if ((await redisCommand(port, password, 'PING')) === '+PONG') return;
      } catch {
        // not listening yet
      }
      if (proc.exitCode !== null || proc.signalCode !== null) break;
      await delay(100);
    }
    throw new Error(`redis-server did not start on port ${port} (log in ${dir}/redis.log)`);
  }

  await launch();
  const redis = {
    port,
    password,
    connectionString: `127.0.0.1:${port},password=${password}`,
    url: `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    get pid() {
      return proc.pid;
    },
    /** Runs one command, resolving with the first line of the reply. */
    command: (...args) => redisCommand(port, password, ...args),
    /** SIGKILL: every connection dropped, every subscription gone, as a crash would. */
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    /** A new redis-server on the same port (empty: nothing was persisted). */
    async restart() {
      await redis.kill();
      await launch();
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await Promise.race([exited, delay(5000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return redis;
}
