// Socket.IO 4 server, a peer in Herald's fan-out benchmark (bench/run).
//   Socket.IO (WebSocket transport only): the event "join" with a room name joins the
//   room and is answered with the event "joined"
//   HTTP POST /publish/<room>: emits the JSON body as the event "progress" to the room
//   (Socket.IO encodes the packet once per broadcast); answers 200
// Usage: node socketio-server.js PORT
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || 8080);

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || !req.url.startsWith('/publish/')) {
    res.writeHead(404, { 'Content-Length': '0' });
    res.end();
    return;
  }
  const room = decodeURIComponent(req.url.slice('/publish/'.length));
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let payload;
    try {
      payload = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'Content-Length': '0' });
      res.end();
      return;
    }
    io.to(room).emit('progress', payload);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '2' });
    res.end('ok');
  });
});

const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
});

io.on('connection', (socket) => {
  socket.on('join', (room) => {
    socket.join(String(room));
    socket.emit('joined', room);
  });
});

server.keepAliveTimeout = 600000;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.listen(port, '127.0.0.1', () => console.log(`socket.io peer listening on 127.0.0.1:${port}`));
