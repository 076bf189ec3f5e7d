// Debian's nginx in front of several Herald nodes, round-robin with no affinity (no
// ip_hash, no sticky cookie), as the scale-out tests and tools/cluster.sh need it: every
// request of a connection may reach any node. WebSocket upgrades are passed through, SSE
// and long polls are not buffered, and timeouts are longer than a long poll.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './redis.mjs';

/**
 * The nginx.conf of a round-robin balancer on 127.0.0.1:`port` in front of `upstreams`
 * ("host:port"); `backups` (optional) take requests only when every upstream fails.
 */
export function nginxConfig({ port, prefix, upstreams, backups = [] }) {
  return `daemon off;
master_process on;
worker_processes 1;
${process.getuid?.() === 0 ? 'user root root;' : ''}
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  # Which node served each request: "METHOD URI STATUS UPSTREAM".
  log_format herald '$request_method $request_uri $status $upstream_addr';
  access_log ${prefix}/access.log herald;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream herald {
${upstreams.map((u) => `    server ${u} max_fails=0;`).join('\n')}
${backups.map((u) => `    server ${u} max_fails=0 backup;`).join('\n')}
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 64m;
    location / {
      proxy_pass http://herald;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
    }
  }
}
`;
}

/**
 * Starts nginx round-robin in front of `upstreams` (["127.0.0.1:PORT", …]), with `backups`
 * used only when those fail (a failover pair). Returns {port, url, prefix, accessLog() (its
 * lines: "METHOD URI STATUS UPSTREAM"), stop()}.
 */
export async function startNginx(upstreams, { backups = [] } = {}) {
  const prefix = mkdtempSync(path.join(os.tmpdir(), 'herald-e2e-nginx-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(prefix, d));
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConfig({ port, prefix, upstreams, backups }));
  const bin = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
  const proc = spawn(bin, ['-p', prefix, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await fetch(`${url}/nginx-ready-probe`);
      break;
    } catch {
      if (proc.exitCode !== null || i > 100) throw new Error(`nginx did not start: ${stderr}`);
      await delay(100);
    }
  }
  return {
    port,
    url,
    prefix,
    accessLog: () => readFileSync(path.join(prefix, 'access.log'), 'utf8').split('\n').filter(Boolean),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGQUIT');
      await Promise.race([exited, delay(5000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

