// The jobs dashboard: one SignalR connection subscribed to the hub's dashboard stream
// (SubscribeToDashboard: a snapshot, then DashboardJobUpdate for every job change and
// DashboardStats about once a second). Nothing here polls: the pages change when the
// server pushes. Lists, a job's history and a video's transcript are read from the REST
// API when a page opens (and when the stream says they changed). Plain script, no build
// step: it uses the SignalR browser bundle the build copies into /lib.
(function () {
  'use strict';

  const TERMINAL = new Set(['Completed', 'Failed', 'Cancelled']);
  const PAGE_SIZE = 20;
  const KEEP_JOBS = 500;      // jobs remembered for the overview (running ones always)
  const CHART_SECONDS = 60;

  const jobs = new Map();     // jobId -> newest job seen (REST shape)
  let stats = null;           // latest DashboardStats / snapshot summary
  let view = null;            // the open page: {onJob(job), onStats(), dispose()}
  const buckets = [];         // per second: {updates, finished}
  let current = { updates: 0, finished: 0 };

  const $ = (id) => document.getElementById(id);
  const el = (tag, props, ...children) => {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    for (const c of children) if (c != null) e.append(c);
    return e;
  };
  const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
  const fmtClock = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '');
  const pct = (p) => Math.max(0, Math.min(100, Math.round(Number(p) || 0)));
  const statusLabel = (s) => (s === 'Completed' ? 'Succeeded' : s === 'Pending' ? 'Queued' : s);

  async function api(path, options) {
    const r = await fetch(path, Object.assign({ headers: { Accept: 'application/json' } }, options));
    const body = r.headers.get('content-type')?.includes('json') ? await r.json() : null;
    if (!r.ok) throw new Error((body && (body.detail || body.title)) || `${r.status} ${r.statusText}`);
    return body;
  }

  // ---- stream ----

  function remember(job) {
    const known = jobs.get(job.jobId);
    if (known && known.sequence > job.sequence) return false;  // an older copy: keep ours
    jobs.set(job.jobId, job);
    if (jobs.size > KEEP_JOBS) {
      for (const [id, j] of jobs) {
        if (jobs.size <= KEEP_JOBS) break;
        if (TERMINAL.has(j.status)) jobs.delete(id);
      }
    }
    return true;
  }

  const connection = new signalR.HubConnectionBuilder()
    .withUrl('/hubs/job-progress')
    .withAutomaticReconnect({ nextRetryDelayInMilliseconds: (c) => Math.min(10000, 500 * (c.previousRetryCount + 1)) })
    .build();

  connection.on('DashboardJobUpdate', (job) => {
    current.updates++;
    if (job.statusChanged && TERMINAL.has(job.status)) current.finished++;
    if (!remember(job)) return;
    if (view && view.onJob) view.onJob(job);
  });
  connection.on('DashboardStats', (s) => {
    stats = s;
    if (view && view.onStats) view.onStats();
  });

  function setLive(on, text) {
    const l = $('live');
    l.className = 'live ' + (on ? 'on' : 'off');
    l.textContent = text;
  }

  async function subscribe() {
    const snapshot = await connection.invoke('SubscribeToDashboard');
    if (!snapshot) throw new Error('the server sent no snapshot');
    stats = snapshot;
    for (const j of snapshot.recent || []) remember(j);
    for (const j of snapshot.running || []) remember(j);
    setLive(true, 'live');
    if (view && view.onSnapshot) view.onSnapshot();
    else if (view && view.onStats) view.onStats();
  }

  async function start() {
    try {
      await connection.start();
      await subscribe();
    } catch (e) {
      setLive(false, 'offline');
      console.warn('dashboard stream:', e);
      setTimeout(start, 3000);
    }
  }
  connection.onreconnecting(() => setLive(false, 'reconnecting'));
  connection.onreconnected(() => subscribe().catch((e) => console.warn(e)));
  connection.onclose(() => { setLive(false, 'offline'); setTimeout(start, 3000); });

  // Per-second rates, from the stream itself.
  setInterval(() => {
    buckets.push(current);
    if (buckets.length > CHART_SECONDS) buckets.shift();
    current = { updates: 0, finished: 0 };
    if (view && view.onTick) view.onTick();
  }, 1000);

  // ---- shared pieces ----

  function bar(job, big) {
    const b = el('div', { className: 'bar ' + job.status + (big ? ' big' : '') });
    const fill = el('div', { className: 'fill' });
    fill.style.width = pct(job.progress) + '%';
    b.append(fill);
    b.setAttribute('role', 'progressbar');
    b.setAttribute('aria-valuenow', String(pct(job.progress)));
    return b;
  }

  function badge(status) {
    return el('span', { className: 'badge ' + status, textContent: statusLabel(status) });
  }

  function jobRow(job) {
    const li = el('li');
    li.dataset.jobId = job.jobId;
    fillJobRow(li, job);
    return li;
  }

  function fillJobRow(li, job) {
    li.replaceChildren();
    const title = el('a', { className: 'title', href: '#/jobs/' + encodeURIComponent(job.jobId) },
      job.jobType + ' ', el('code', { textContent: job.jobId.slice(0, 8) }));
    li.append(title, el('span', {}, badge(job.status)));
    if (!TERMINAL.has(job.status) || job.status === 'Running') li.append(bar(job, false));
    const meta = el('span', { className: 'meta' });
    const stage = [job.currentStage, job.statusMessage].filter(Boolean).join(' — ');
    meta.append(`${pct(job.progress)}%${stage ? ' · ' + stage : ''}`);
    if (job.videoId) {
      meta.append(' · ', el('a', { href: '#/videos/' + encodeURIComponent(job.videoId), textContent: 'video' }));
    }
    if (job.updatedAt) meta.append(' · ' + fmtClock(job.updatedAt));
    li.append(meta);
    if (job.errorMessage) li.append(el('span', { className: 'err', textContent: job.errorMessage }));
  }

  function fillList(ul, list, emptyText) {
    ul.replaceChildren(...list.map(jobRow));
    if (!list.length) ul.append(el('li', { className: 'empty', textContent: emptyText }));
  }

  function mount(templateId) {
    const main = $('view');
    main.replaceChildren($(templateId).content.cloneNode(true));
    return main;
  }

  function markNav(key) {
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.nav === key);
  }

  function notice(text) {
    $('view').replaceChildren(el('section', { className: 'card notice', textContent: text }));
  }

  // ---- overview ----

  function overview() {
    markNav('overview');
    mount('overviewTemplate');
    const renderStats = () => {
      if (!stats) return;
      for (const b of document.querySelectorAll('[data-count]')) {
        b.textContent = String(stats.byStatus?.[b.dataset.count] ?? 0);
      }
      const rows = (stats.queues || []).map((q) => el('tr', {},
        el('td', {}, el('a', { href: `#/jobs?status=Pending&jobType=${encodeURIComponent(q.jobType)}`, textContent: q.jobType })),
        el('td', { className: 'num', textContent: String(q.priority) }),
        el('td', { className: 'num', textContent: String(q.pending) }),
        el('td', { className: 'num', textContent: String(q.running) })));
      $('queues').replaceChildren(...rows);
      if (!rows.length) $('queues').append(el('tr', {}, el('td', { colSpan: 4, className: 'empty', textContent: 'No queued or running jobs' })));
    };
    const renderJobs = () => {
      const all = [...jobs.values()];
      const running = all.filter((j) => j.status === 'Running')
        .sort((a, b) => String(a.startedAt).localeCompare(String(b.startedAt)));
      fillList($('running'), running, 'Nothing is running');
      const recent = all.sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt))).slice(0, 12);
      fillList($('recent'), recent, 'No jobs yet');
    };
    // Bars move in place (no list rebuild per update); a status change re-sorts.
    const onJob = (job) => {
      const rows = document.querySelectorAll(`#view li[data-job-id="${CSS.escape(job.jobId)}"]`);
      if (!job.statusChanged && rows.length && job.status === 'Running') {
        for (const li of rows) fillJobRow(li, job);
        return;
      }
      renderJobs();
    };
    const onTick = () => drawChart();
    renderStats();
    renderJobs();
    drawChart();
    return { onJob, onStats: renderStats, onSnapshot: () => { renderStats(); renderJobs(); }, onTick };
  }

  function drawChart() {
    const canvas = $('chart');
    if (!canvas) return;
    const last = buckets[buckets.length - 1] || { updates: 0, finished: 0 };
    $('rateFinished').textContent = String(last.finished);
    $('rateUpdates').textContent = String(last.updates);
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const g = canvas.getContext('2d');
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, h);
    const max = Math.max(1, ...buckets.map((b) => b.updates), ...buckets.map((b) => b.finished));
    g.strokeStyle = '#e3e6ee';
    g.beginPath(); g.moveTo(0, h - 0.5); g.lineTo(w, h - 0.5); g.stroke();
    g.fillStyle = '#6b7385';
    g.font = '11px system-ui';
    g.fillText(String(max) + '/s', 4, 12);
    const step = w / CHART_SECONDS;
    const offset = CHART_SECONDS - buckets.length;
    buckets.forEach((b, i) => {
      const x = (offset + i) * step;
      const hu = (b.updates / max) * (h - 16);
      g.fillStyle = 'rgba(28,126,214,.35)';
      g.fillRect(x + 1, h - hu, Math.max(1, step - 2), hu);
      const hf = (b.finished / max) * (h - 16);
      g.fillStyle = '#2b8a3e';
      g.fillRect(x + step * 0.3, h - hf, Math.max(1, step * 0.4), hf);
    });
  }

  // ---- lists ----

  function jobList(params) {
    const status = params.get('status') || '';
    const jobType = params.get('jobType') || '';
    const userId = params.get('userId') || '';
    const page = Math.max(0, Number(params.get('page')) || 0);
    markNav(status || 'all');
    mount('listTemplate');
    $('listTitle').textContent = (status ? statusLabel(status) : 'All') + ' jobs';
    const form = $('filters');
    form.jobType.value = jobType;
    form.userId.value = userId;
    const go = (p) => {
      const q = new URLSearchParams();
      if (status) q.set('status', status);
      if (form.jobType.value) q.set('jobType', form.jobType.value);
      if (form.userId.value.trim()) q.set('userId', form.userId.value.trim());
      if (p) q.set('page', String(p));
      location.hash = '#/jobs?' + q.toString();
    };
    form.addEventListener('submit', (e) => { e.preventDefault(); go(0); });
    form.jobType.addEventListener('change', () => go(0));
    $('prev').disabled = page === 0;
    $('prev').onclick = () => go(page - 1);
    $('next').onclick = () => go(page + 1);
    const q = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(page * PAGE_SIZE) });
    if (status) q.set('status', status);
    if (jobType) q.set('jobType', jobType);
    if (userId) q.set('userId', userId);
    let shown = [];
    api('/api/v1/jobs?' + q).then((list) => {
      shown = list;
      fillList($('list'), list, 'No jobs here');
      $('next').disabled = list.length < PAGE_SIZE;
      $('pageInfo').textContent = list.length ? `${page * PAGE_SIZE + 1}–${page * PAGE_SIZE + list.length}` : '';
    }).catch((e) => notice('Could not load the jobs: ' + e.message));
    const matches = (job) => (!status || job.status === status) && (!jobType || job.jobType === jobType) &&
      (!userId || job.userId === userId);
    return {
      onJob(job) {
        const li = document.querySelector(`#list li[data-job-id="${CSS.escape(job.jobId)}"]`);
        if (li) { fillJobRow(li, job); return; }
        // A job that just entered this list shows at the top of the first page.
        if (page === 0 && matches(job) && (job.statusChanged || job.sequence === 1)) {
          const ul = $('list');
          ul.querySelector('.empty')?.remove();
          ul.prepend(jobRow(job));
          shown.unshift(job);
          while (ul.children.length > PAGE_SIZE) ul.lastElementChild.remove();
        }
      },
    };
  }

  // ---- a job ----

  function jobPage(id) {
    markNav('');
    mount('jobTemplate');
    let job = null;
    let lastSequence = 0;
    let loadingHistory = null;

    const renderJob = () => {
      $('jobType').textContent = job.jobType;
      $('jobId').textContent = job.jobId;
      const s = $('jobStatus');
      s.className = 'badge ' + job.status;
      s.textContent = statusLabel(job.status);
      const b = $('jobBar');
      b.style.width = pct(job.progress) + '%';
      b.parentElement.className = 'bar big ' + job.status;
      $('jobPct').textContent = pct(job.progress) + '%';
      $('jobStage').textContent = job.currentStage || '';
      $('jobMessage').textContent = job.statusMessage || '';
      const err = $('jobError');
      err.hidden = !job.errorMessage;
      err.textContent = job.errorMessage ? 'Error: ' + job.errorMessage : '';
      $('retry').disabled = !(job.status === 'Failed' || job.status === 'Cancelled');
      $('cancel').disabled = !(job.status === 'Pending' || job.status === 'Running');
      const facts = [
        ['Status', statusLabel(job.status)],
        ['Attempts', `${job.attempts} of ${job.maxAttempts}`],
        ['Priority', String(job.priority)],
        // Leases and nodes are not in the job's REST shape yet; a worker may name itself in metadata.
        ['Worker / node', job.metadata?.workerId || job.metadata?.node || '—'],
        ['Video', job.videoId ? el('a', { href: '#/videos/' + encodeURIComponent(job.videoId), textContent: job.videoId }) : '—'],
        ['User', job.userId || '—'],
        ['Created', fmtTime(job.createdAt)],
        ['Started', fmtTime(job.startedAt)],
        ['Finished', fmtTime(job.completedAt)],
        ['Updated', fmtTime(job.updatedAt)],
        ['Sequence', String(job.sequence)],
      ];
      $('jobFacts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', {}, v)]));
    };

    const entryItem = (e) => el('li', { className: e.status },
      el('span', { className: 'seq', textContent: '#' + e.sequence + ' ' }),
      el('b', { textContent: e.currentStage || statusLabel(e.status) }),
      el('span', { className: 'when', textContent: ` · ${pct(e.progress)}% · ${statusLabel(e.status)} · ${fmtTime(e.updatedAt)}` }),
      e.statusMessage ? el('span', { className: 'msg', textContent: e.statusMessage }) : null,
      e.errorMessage ? el('span', { className: 'err', textContent: e.errorMessage }) : null);

    const appendEntries = (entries) => {
      const ol = $('timeline');
      if (!ol) return;
      for (const e of entries) {
        if (e.sequence <= lastSequence) continue;
        ol.append(entryItem(e));
        lastSequence = e.sequence;
      }
    };

    // The history comes in pages of at most 1000 entries: a full page means more follow.
    const HISTORY_PAGE = 1000;
    const loadPages = async () => {
      for (;;) {
        const entries = await api(`/api/v1/jobs/${encodeURIComponent(id)}/progress?afterSequence=${lastSequence}&limit=${HISTORY_PAGE}`);
        appendEntries(entries);
        if (entries.length < HISTORY_PAGE || !$('timeline')) return;
      }
    };
    const loadHistory = () => {
      if (loadingHistory) return loadingHistory;
      loadingHistory = loadPages().finally(() => { loadingHistory = null; });
      return loadingHistory;
    };

    const act = (what) => async () => {
      const button = $(what);
      button.disabled = true;
      try {
        const answer = await api(`/api/v1/jobs/${encodeURIComponent(id)}/${what}`, { method: 'POST' });
        if (!job || answer.sequence >= job.sequence) job = answer;  // the stream may be ahead
        renderJob();
      } catch (e) {
        alert(`Could not ${what} the job: ${e.message}`);
        renderJob();
      }
    };
    $('retry').onclick = act('retry');
    $('cancel').onclick = act('cancel');

    Promise.all([api('/api/v1/jobs/' + encodeURIComponent(id)), loadHistory()]).then(([j]) => {
      const known = jobs.get(id);
      job = known && known.sequence > j.sequence ? known : j;
      renderJob();
      if (job.sequence > lastSequence) loadHistory();
    }).catch((e) => notice(`Job ${id}: ${e.message}`));

    return {
      onJob(update) {
        if (update.jobId !== id || !job) return;
        if (update.sequence <= job.sequence && !update.statusChanged) return;
        job = update;
        renderJob();
        // The update is itself the next history entry; a gap is filled from the store.
        if (update.sequence === lastSequence + 1) appendEntries([update]);
        else if (update.sequence > lastSequence) loadHistory();
      },
    };
  }

  // ---- a video ----

  function videoPage(id) {
    markNav('');
    mount('videoTemplate');
    let pending = null;
    const load = () => Promise.all([
      api('/api/v1/videos/' + encodeURIComponent(id)),
      api(`/api/v1/videos/${encodeURIComponent(id)}/transcript`).catch(() => null),
    ]).then(([v, t]) => {
      if (!$('videoTitle')) return;
      $('videoTitle').textContent = v.title || 'Video';
      $('videoId').textContent = v.videoId;
      const a = $('videoUrl');
      a.textContent = v.url || '';
      if (/^https?:/i.test(v.url || '')) a.href = v.url;
      const b = $('videoBar');
      b.style.width = pct(v.overallProgress) + '%';
      b.parentElement.className = 'bar big ' + (v.processingStatus === 'Completed' ? 'Completed' : v.processingStatus === 'Failed' ? 'Failed' : '');
      $('videoPct').textContent = pct(v.overallProgress) + '%';
      const facts = [
        ['Processing', badge(v.processingStatus)],
        ['Transcription', badge(v.transcriptionStatus)],
        ['Embeddings', badge(v.embeddingStatus)],
        ['Duration', v.durationSeconds ? `${Number(v.durationSeconds).toFixed(1)} s` : '—'],
        ['User', v.userId || '—'],
        ['Updated', fmtTime(v.updatedAt)],
      ];
      $('videoFacts').replaceChildren(...facts.flatMap(([k, val]) => [el('dt', { textContent: k }), el('dd', {}, val)]));
      $('stages').replaceChildren(...(v.stages || []).map((s) => el('li', {},
        el('b', { textContent: s.name }), el('span', {}, badge(s.status)),
        bar({ status: s.status === 'InProgress' ? 'Running' : s.status, progress: s.progress }, false),
        s.errorMessage ? el('span', { className: 'err', textContent: s.errorMessage }) : null)));
      fillList($('videoJobs'), (v.jobs || []).map((j) => Object.assign({ currentStage: '', statusMessage: '' }, j, jobs.get(j.jobId) || {})), 'No jobs');
      const segs = (t && t.segments) || [];
      $('transcript').replaceChildren(...segs.map((s) => el('li', {},
        el('span', { className: 't', textContent: `${Number(s.start).toFixed(1)}–${Number(s.end).toFixed(1)} s` }), s.text)));
      if (!segs.length) $('transcript').append(el('li', { className: 'empty', textContent: 'No transcript yet' }));
    }).catch((e) => notice(`Video ${id}: ${e.message}`));
    load();
    return {
      onJob(job) {
        if (job.videoId !== id) return;
        const li = document.querySelector(`#videoJobs li[data-job-id="${CSS.escape(job.jobId)}"]`);
        if (li) fillJobRow(li, job);
        // Stages and transcript follow the jobs: re-read once the burst has passed.
        clearTimeout(pending);
        pending = setTimeout(load, 300);
      },
      dispose() { clearTimeout(pending); },
    };
  }

  // ---- routing (hash routes: deep links work on /hangfire and /dashboard alike) ----

  function route() {
    if (view && view.dispose) view.dispose();
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path, query] = hash.split('?');
    const params = new URLSearchParams(query || '');
    let m;
    if ((m = path.match(/^\/jobs\/([^/]+)$/))) view = jobPage(decodeURIComponent(m[1]));
    else if ((m = path.match(/^\/videos\/([^/]+)$/))) view = videoPage(decodeURIComponent(m[1]));
    else if (path === '/jobs') view = jobList(params);
    else view = overview();
    window.scrollTo(0, 0);
  }

  window.addEventListener('hashchange', route);
  route();
  start();
})();
