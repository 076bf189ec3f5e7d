// The test page: one SignalR connection, an Ingest button, and a progress view fed by
// the hub's events. Plain script, no build step: it uses the browser bundle in lib/.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  let connection = null;
  let currentJob = null;

  function log(kind, text) {
    const li = document.createElement('li');
    li.className = kind;
    li.textContent = `${new Date().toLocaleTimeString()}  ${kind}  ${text}`;
    $('log').prepend(li);
  }

  function setState(state) {
    $('connectionState').textContent = state;
    $('connectionState').className = 'state ' + state;
    const connected = state === 'Connected';
    $('connect').disabled = state !== 'Disconnected';
    $('disconnect').disabled = state === 'Disconnected';
    $('ingest').disabled = !connected;
  }

  function setProgress(value, message, cls) {
    const p = Math.max(0, Math.min(100, Math.round(value)));
    $('progressBar').style.width = p + '%';
    $('progressText').textContent = p + '%';
    document.querySelector('.progress').setAttribute('aria-valuenow', String(p));
    if (message !== undefined) $('status').textContent = message;
    $('status').className = 'status ' + (cls || '');
  }

  function showStages(stages) {
    const ul = $('stages');
    ul.innerHTML = '';
    for (const s of stages || []) {
      const li = document.createElement('li');
      li.textContent = `${s.name}: ${s.status} ${Math.round(s.progress)}%`;
      ul.append(li);
    }
  }

  async function connect() {
    const options = {};
    const t = $('transport').value;
    if (t) options.transport = signalR.HttpTransportType[t];
    connection = new signalR.HubConnectionBuilder()
      .withUrl($('hubUrl').value, options)
      .withAutomaticReconnect()
      .configureLogging(signalR.LogLevel.Warning)
      .build();

    connection.on('JobProgressUpdate', (u) => {
      log('JobProgressUpdate', `#${u.sequence} ${u.jobType} ${u.status} ${u.progress}% ${u.currentStage} — ${u.statusMessage}`);
      if (u.jobId === currentJob) {
        const cls = u.status === 'Failed' ? 'failed' : u.status === 'Completed' ? 'done' : '';
        setProgress(u.progress, `${u.status}: ${u.currentStage} — ${u.statusMessage}`, cls);
      }
    });
    connection.on('JobCompleted', (e) => {
      log('JobCompleted', `${e.jobId} ${e.message}`);
      if (e.jobId === currentJob) setProgress(100, 'Completed — ' + e.message, 'done');
    });
    connection.on('JobFailed', (e) => {
      log('JobFailed', `${e.jobId} ${e.error}`);
      if (e.jobId === currentJob) setProgress(0, 'Failed — ' + e.error, 'failed');
    });
    connection.on('VideoProgressUpdate', (v) => {
      log('VideoProgressUpdate', `${v.processingStatus} ${v.overallProgress}%`);
      showStages(v.stages);
    });
    connection.on('UserNotification', (n) => log('UserNotification', `${n.type}: ${n.message}`));
    connection.on('BroadcastNotification', (n) => log('BroadcastNotification', `${n.type}: ${n.message}`));
    connection.on('Error', (e) => log('Error', `${e.code}: ${e.message}`));
    connection.onreconnecting(() => { setState('Reconnecting'); log('Connection', 'reconnecting'); });
    connection.onreconnected(async () => {
      setState('Connected');
      log('Connection', 'reconnected as ' + connection.connectionId);
      if (currentJob) await connection.invoke('SubscribeToJob', currentJob);
    });
    connection.onclose((err) => { setState('Disconnected'); log('Connection', 'closed' + (err ? ': ' + err : '')); });

    setState('Connecting');
    try {
      await connection.start();
      setState('Connected');
      log('Connection', `connected as ${connection.connectionId} over ${t || 'the best transport'}`);
    } catch (err) {
      setState('Disconnected');
      log('Error', 'connect failed: ' + err);
    }
  }

  async function ingest() {
    const url = $('videoUrl').value.trim();
    setProgress(0, 'Submitting…');
    try {
      // The REST API lives on the hub's server, which may be another origin (CORS).
      const api = new URL('/api/v1/videos/ingest', new URL($('hubUrl').value, location.href));
      const res = await fetch(api, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        credentials: 'include',
        body: JSON.stringify({ url, userId: $('userId').value || undefined }),
      });
      const body = await res.json();
      if (!res.ok) {
        setProgress(0, 'Rejected: ' + (body.detail || res.status) + ' ' + JSON.stringify(body.errors || {}), 'failed');
        log('Error', `ingest answered ${res.status}`);
        return;
      }
      currentJob = body.jobId;
      $('jobId').textContent = body.jobId;
      $('videoId').textContent = body.videoId;
      log('Ingest', `job ${body.jobId} for video ${body.videoId}`);
      await connection.invoke('SubscribeToJob', body.jobId);
      await connection.invoke('SubscribeToVideo', body.videoId);
    } catch (err) {
      setProgress(0, 'Ingest failed: ' + err, 'failed');
      log('Error', 'ingest failed: ' + err);
    }
  }

  $('connect').addEventListener('click', connect);
  $('disconnect').addEventListener('click', () => connection && connection.stop());
  $('ingest').addEventListener('click', ingest);
  $('clearLog').addEventListener('click', () => { $('log').innerHTML = ''; });
  setState('Disconnected');
})();
