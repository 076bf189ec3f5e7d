// Minimal `ws` broadcast server, a peer in Herald's fan-out benchmark (bench/run).
//   WebSocket  GET /g/<group>        subscribes the socket to <group>
//   HTTP       POST /publish/<group> sends the request body to every socket of <group>
//                                    as one text message; answers 200 with the count
// Usage: node ws-server.js PORT
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 8080);
const groups = new Map(); // group name -> Set of sockets

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || !req.url.startsWith('/publish/')) {
    res.writeHead(404, { 'Content-Length': '0' });
    res.end();
    return;
  }
  const group = decodeURIComponent(req.url.slice('/publish/'.length));
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const members = groups.get(group);
    let sent = 0;
    if (members) {
      for (const ws of members) {
        ws.send(body, { binary: false });
        sent++;
      }
    }
    const answer = String(sent);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(answer) });
    res.end(answer);
  });
});

const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws, req) => {
  if (!req.url.startsWith('/g/')) {
    ws.close(1008, 'use /g/<group>');
    return;
  }
  const group = decodeURIComponent(req.url.slice(3));
  let members = groups.get(group);
  if (!members) groups.set(group, (members = new Set()));
  members.add(ws);
  ws.on('close', () => {
    members.delete(ws);
    if (members.size === 0 && groups.get(group) === members) groups.delete(group);
  });
  ws.on('error', () => {});
});

server.keepAliveTimeout = 600000;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.maxConnections = 100000;
server.listen(port, '127.0.0.1', () => console.log(`ws peer listening on 127.0.0.1:${port}`));
