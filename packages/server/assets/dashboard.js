/*
 * fedmeta dashboard page script (plain browser JavaScript, no build step). Renders a
 * DashboardSnapshot (packages/server/src/dashboard/monitor.ts) with uPlot:
 *   - live (body[data-mode=live]): server-sent events from /dashboard/api/events ('snapshot'
 *     first and after every reconnect replaces the state; 'update' replaces the round rows from
 *     its roundsFrom on, appends audit entries and replaces the rest);
 *   - report (body[data-mode=report]): the snapshot embedded in #fedmeta-data; no network.
 * Every value reaches the page through textContent (never innerHTML).
 * Each chart element carries data-points (x values drawn) and data-last (the last value)
 * so tests and scripts can read what is plotted; the accuracy chart also
 * data-federated-points / data-federated-last (the federated evaluation's weighted mean),
 * data-personalised-points / data-personalised-last (the personalised series) and
 * data-sites (the sites with a per-site series).
 */
(function () {
  'use strict';
  var mode = document.body.getAttribute('data-mode') || 'live';
  var S = null;
  var charts = {};
  var PHASES = ['waiting', 'training', 'share-keys', 'masked-input', 'consistency', 'unmasking', 'aggregating', 'evaluating', 'checkpointing'];
  var PHASE_COLORS = {
    waiting: '#b8c2cc', training: '#4e79a7', 'share-keys': '#f28e2b', 'masked-input': '#e15759', consistency: '#76b7b2',
    unmasking: '#59a14f', aggregating: '#edc948', evaluating: '#b07aa1', checkpointing: '#9c755f',
  };
  var $ = function (id) { return document.getElementById(id); };

  function text(id, value) {
    var el = $(id);
    if (el) el.textContent = value;
  }
  function pct(x) { return typeof x === 'number' ? (100 * x).toFixed(1) + '%' : '-'; }
  function eps(x) { return typeof x === 'number' ? (x >= 100 ? x.toFixed(1) : x >= 10 ? x.toFixed(2) : x.toFixed(3)) : '-'; }
  function bytes(n) {
    if (typeof n !== 'number') return '-';
    var units = ['B', 'KB', 'MB', 'GB', 'TB'];
    var i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + ' ' + units[i];
  }
  function duration(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '-';
    if (ms < 1000) return ms.toFixed(0) + ' ms';
    var s = ms / 1000;
    if (s < 60) return s.toFixed(1) + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm' + String(Math.round(s - 60 * m)).padStart(2, '0') + 's';
    return Math.floor(m / 60) + 'h' + String(m % 60).padStart(2, '0') + 'm';
  }
  function when(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    var p = function (n) { return String(n).padStart(2, '0'); };
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }
  function row(cells, cls) {
    var tr = document.createElement('tr');
    if (cls) tr.className = cls;
    cells.forEach(function (c) {
      var td = document.createElement('td');
      td.textContent = c === undefined || c === null ? '' : String(c);
      tr.appendChild(td);
    });
    return tr;
  }
  function fillTable(id, rows) {
    var body = $(id).tBodies[0];
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { frag.appendChild(r); });
    body.replaceChildren(frag);
  }

  /* ---------- charts ---------- */

  function chartWidth(el) { return Math.max(280, el.clientWidth || 480); }
  var intAxis = {
    incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
    values: function (u, vals) { return vals.map(function (v) { return Number.isInteger(v) ? String(v) : ''; }); },
  };

  /* (Re)draws chart `id` with `make()`'s options when its series change, else just its data. */
  function draw(id, signature, make, data, points, last) {
    var el = $(id);
    if (!el || typeof uPlot === 'undefined') return;
    var c = charts[id];
    if (!c || c.signature !== signature) {
      if (c) c.plot.destroy();
      el.replaceChildren();
      var opts = make();
      opts.width = chartWidth(el);
      opts.height = 230;
      charts[id] = { signature: signature, plot: new uPlot(opts, data, el) };
    } else {
      c.plot.setData(data);
    }
    el.setAttribute('data-points', String(points));
    el.setAttribute('data-last', last === undefined || last === null ? '' : String(last));
  }

  function emptyNote(id, note) {
    var el = $(id);
    if (charts[id]) { charts[id].plot.destroy(); delete charts[id]; }
    var p = document.createElement('p');
    p.className = 'muted empty';
    p.textContent = note;
    el.replaceChildren(p);
    el.setAttribute('data-points', '0');
    el.setAttribute('data-last', '');
  }

  function xScale() {
    return { time: false, range: function (u, min, max) { return [Math.min(min, max) - 0.6, Math.max(min, max) + 0.6]; } };
  }

  function epsilonChart(rows) {
    if (!S.privacy) return emptyNote('chart-epsilon', 'DP is off: no privacy budget to burn.');
    var budget = S.privacy.budget;
    var xs = [0], left = [budget], spent = [0], cap = [budget];
    var last = 0;
    rows.forEach(function (r) {
      if (typeof r.epsilon === 'number') last = r.epsilon;
      xs.push(r.round); left.push(Math.max(0, budget - last)); spent.push(last); cap.push(budget);
    });
    draw('chart-epsilon', 'eps', function () {
      return {
        scales: { x: xScale(), y: { range: function () { return [0, budget * 1.05]; } } },
        axes: [Object.assign({ label: 'round' }, intAxis), { label: 'epsilon' }],
        series: [
          { label: 'round' },
          { label: 'epsilon left', stroke: '#2f6fbd', width: 2, fill: 'rgba(47,111,189,0.12)', points: { show: true, size: 5 }, value: function (u, v) { return eps(v); } },
          { label: 'spent', stroke: '#c4452c', width: 1.5, points: { show: false }, value: function (u, v) { return eps(v); } },
          { label: 'budget', stroke: '#7a7a7a', dash: [6, 4], width: 1, points: { show: false }, value: function (u, v) { return eps(v); } },
        ],
      };
    }, [xs, left, spent, cap], rows.length, left[left.length - 1]);
  }

  var SITE_COLORS = ['#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#4e79a7'];
  var SECURE_NOTE = 'secure: per-site numbers are not visible to the coordinator';
  function pctValue(u, v) { return v === null || v === undefined ? '-' : v.toFixed(1) + '%'; }
  function lossValue(u, v) { return v === null || v === undefined ? '-' : v.toFixed(3); }

  /* The sites of the per-site evaluations, in the order first seen (names sorted within a round). */
  function evaluatedSites(rows) {
    var names = [];
    rows.forEach(function (r) {
      (r.federated && r.federated.perSite || []).forEach(function (p) { if (names.indexOf(p.name) < 0) names.push(p.name); });
    });
    return names;
  }

  function accuracyChart(rows) {
    var fed = function (r) { return r.federated && typeof r.federated.accuracy === 'number'; };
    var pts = rows.filter(function (r) { return typeof r.accuracy === 'number' || typeof r.loss === 'number' || typeof r.personalisedAccuracy === 'number' || fed(r); });
    var el = $('chart-accuracy');
    var evaluated = rows.filter(fed);
    var lastFed = evaluated[evaluated.length - 1];
    var note = $('chart-accuracy-note');
    var secure = lastFed && lastFed.federated.report === 'secure';
    note.hidden = !secure;
    note.textContent = secure ? SECURE_NOTE : '';
    if (pts.length === 0) {
      emptyNote('chart-accuracy', rows.length === 0 ? 'No round has finished yet.' : 'No evaluation data on the coordinator (no global accuracy).');
    } else {
      var hasAcc = pts.some(function (r) { return typeof r.accuracy === 'number'; });
      var hasLoss = pts.some(function (r) { return typeof r.loss === 'number'; });
      var hasPers = pts.some(function (r) { return typeof r.personalisedAccuracy === 'number'; });
      var hasFed = evaluated.length > 0;
      var hasFedLoss = evaluated.some(function (r) { return typeof r.federated.loss === 'number'; });
      var persLoss = function (r) { return fed(r) && r.federated.personalised && typeof r.federated.personalised.loss === 'number' ? r.federated.personalised.loss : null; };
      var hasPersLoss = evaluated.some(function (r) { return persLoss(r) !== null; });
      var sites = evaluatedSites(rows);
      var num = function (v) { return typeof v === 'number' ? v : null; };
      var pc = function (v) { return typeof v === 'number' ? 100 * v : null; };
      var data = [pts.map(function (r) { return r.round; })];
      var defs = [];
      if (hasAcc) { defs.push({ label: 'accuracy', stroke: '#2f8f46', width: 2, scale: '%', size: 5 }); data.push(pts.map(function (r) { return pc(r.accuracy); })); }
      if (hasPers) { defs.push({ label: 'personalised', stroke: '#8a5cc2', width: 2, scale: '%', size: 4 }); data.push(pts.map(function (r) { return pc(r.personalisedAccuracy); })); }
      if (hasFed) { defs.push({ label: 'federated (weighted mean)', stroke: '#1f4e8c', width: 2.5, scale: '%', size: 6 }); data.push(pts.map(function (r) { return fed(r) ? pc(r.federated.accuracy) : null; })); }
      sites.forEach(function (name, i) {
        defs.push({ label: name, stroke: SITE_COLORS[i % SITE_COLORS.length], width: 1, scale: '%', size: 3, dash: [2, 2] });
        data.push(pts.map(function (r) {
          var p = (r.federated && r.federated.perSite || []).filter(function (q) { return q.name === name; })[0];
          return p ? pc(p.accuracy) : null;
        }));
      });
      if (hasLoss) { defs.push({ label: 'loss', stroke: '#d07a1e', width: 1.5, scale: 'loss', size: 4, dash: [4, 3] }); data.push(pts.map(function (r) { return num(r.loss); })); }
      if (hasFedLoss) { defs.push({ label: 'federated loss', stroke: '#8c3b1f', width: 1.5, scale: 'loss', size: 4, dash: [8, 3] }); data.push(pts.map(function (r) { return fed(r) ? num(r.federated.loss) : null; })); }
      if (hasPersLoss) { defs.push({ label: 'personalised loss', stroke: '#b58ad6', width: 1.5, scale: 'loss', size: 4, dash: [8, 3] }); data.push(pts.map(persLoss)); }
      var lastAcc = pts[pts.length - 1].accuracy;
      var lossAxis = hasLoss || hasFedLoss || hasPersLoss;
      draw('chart-accuracy', 'acc:' + defs.map(function (d) { return d.label; }).join('\u0000'), function () {
        var series = [{ label: 'round' }].concat(defs.map(function (d) {
          var o = { label: d.label, stroke: d.stroke, width: d.width, scale: d.scale, points: { show: true, size: d.size }, spanGaps: true, value: d.scale === '%' ? pctValue : lossValue };
          if (d.dash) o.dash = d.dash;
          return o;
        }));
        var axes = [Object.assign({ label: 'round' }, intAxis), { label: 'accuracy (%)', scale: '%' }];
        if (lossAxis) axes.push({ label: 'loss', scale: 'loss', side: 1, grid: { show: false } });
        return { scales: { x: xScale(), '%': { range: [0, 100] }, loss: { range: function (u, min, max) { return [0, Math.max(max, 0.1) * 1.1]; } } }, axes: axes, series: series };
      }, data, pts.length, typeof lastAcc === 'number' ? lastAcc : '');
    }
    // What the federated series hold, for tests and scripts (like data-points / data-last).
    el.setAttribute('data-federated-points', String(evaluated.length));
    el.setAttribute('data-federated-last', lastFed ? String(lastFed.federated.accuracy) : '');
    var personalised = rows.filter(function (r) { return typeof r.personalisedAccuracy === 'number'; });
    el.setAttribute('data-personalised-points', String(personalised.length));
    el.setAttribute('data-personalised-last', personalised.length ? String(personalised[personalised.length - 1].personalisedAccuracy) : '');
    el.setAttribute('data-sites', evaluatedSites(rows).join(','));
  }

  function pct2(x) { return typeof x === 'number' ? (100 * x).toFixed(2) + '%' : '-'; }
  function fixed(x, d) { return typeof x === 'number' ? x.toFixed(d) : '-'; }

  /* The latest evaluated round: one row per site (per-site mode) and the weighted mean. */
  function federatedTable(rows) {
    var evaluated = rows.filter(function (r) { return r.federated && typeof r.federated.accuracy === 'number'; });
    var section = $('federated-section');
    section.hidden = evaluated.length === 0;
    if (evaluated.length === 0) { fillTable('federated-table', []); return; }
    var last = evaluated[evaluated.length - 1];
    var ev = last.federated;
    var secure = ev.report === 'secure';
    var line = function (name, p, cls) {
      var own = p.personalised || {};
      var tr = row([name, p.count, pct2(p.accuracy), fixed(p.loss, 4), fixed(p.auc, 3) + (typeof p.auc === 'number' && typeof p.aucBound === 'number' ? ' \u00b1 ' + p.aucBound.toFixed(3) : ''), pct2(own.accuracy), fixed(own.loss, 4)], cls);
      tr.setAttribute('data-site', name);
      tr.setAttribute('data-count', String(p.count));
      tr.setAttribute('data-accuracy', String(p.accuracy));
      tr.setAttribute('data-loss', typeof p.loss === 'number' ? String(p.loss) : '');
      tr.setAttribute('data-auc', typeof p.auc === 'number' ? String(p.auc) : '');
      tr.setAttribute('data-personalised', typeof own.accuracy === 'number' ? String(own.accuracy) : '');
      return tr;
    };
    var out = (ev.perSite || []).map(function (p) { return line(p.name, p, ''); });
    out.push(line('weighted mean', ev, 'total'));
    fillTable('federated-table', out);
    var table = $('federated-table');
    table.setAttribute('data-round', String(last.round));
    table.setAttribute('data-report', ev.report);
    text('federated-round', 'round ' + last.round + ' (' + ev.report + ', ' + ev.sites + ' site' + (ev.sites === 1 ? '' : 's') + ')');
    text('federated-note', secure ? SECURE_NOTE : 'per-site: each site\'s own numbers; the weighted mean weighs the sites by their held-out rows (the metric of the pooled rows)');
  }

  /* Stacked bars: each series is drawn as the running total, the top one first. */
  function stackedBars(id, xs, defs, unit) {
    var cum = [];
    var acc = xs.map(function () { return 0; });
    defs.forEach(function (d) {
      acc = acc.map(function (a, i) { return a + (d.values[i] || 0); });
      cum.push(acc.slice());
    });
    var order = defs.map(function (d, i) { return i; }).reverse();
    var data = [xs].concat(order.map(function (i) { return cum[i]; }));
    var signature = id + ':' + defs.map(function (d) { return d.label; }).join(',');
    var bars = uPlot.paths.bars({ size: [0.7, 48] });
    draw(id, signature, function () {
      return {
        scales: { x: xScale(), y: { range: function (u, min, max) { return [0, Math.max(max, 1e-9) * 1.08]; } } },
        axes: [Object.assign({ label: 'round' }, intAxis), { label: unit }],
        series: [{ label: 'round' }].concat(order.map(function (i) {
          var d = defs[i];
          return {
            label: d.label, stroke: d.color, fill: d.color, width: 0, paths: bars, points: { show: false },
            value: function (u, v, si, idx) { return idx === null || idx === undefined ? '-' : d.format(d.values[idx] || 0); },
          };
        })),
      };
    }, data, xs.length, xs.length ? acc[acc.length - 1] : '');
  }

  function dropoutChart(rows) {
    if (rows.length === 0) return emptyNote('chart-dropouts', 'No round has finished yet.');
    var n = function (v) { return String(v); };
    stackedBars('chart-dropouts', rows.map(function (r) { return r.round; }), [
      { label: 'inputs in the sum', color: '#59a14f', values: rows.map(function (r) { return r.survivors; }), format: n },
      { label: 'dropped', color: '#e15759', values: rows.map(function (r) { return r.dropped; }), format: n },
      { label: 'not released (aborted)', color: '#b8c2cc', values: rows.map(function (r) { return Math.max(0, r.cohort - r.survivors - r.dropped); }), format: n },
    ], 'members');
  }

  function phaseChart(rows) {
    var timed = rows.filter(function (r) { return r.phases && Object.keys(r.phases).length > 0; });
    if (timed.length === 0) return emptyNote('chart-phases', rows.length === 0 ? 'No round has finished yet.' : 'No phase times for these rounds (run before a restart).');
    var used = PHASES.filter(function (p) { return timed.some(function (r) { return (r.phases[p] || 0) > 0; }); });
    stackedBars('chart-phases', timed.map(function (r) { return r.round; }), used.map(function (p) {
      return { label: p, color: PHASE_COLORS[p] || '#888', values: timed.map(function (r) { return (r.phases[p] || 0) / 1000; }), format: function (v) { return v.toFixed(2) + ' s'; } };
    }), 'seconds');
  }

  /* ---------- page ---------- */

  function render() {
    if (!S) return;
    var rows = S.roundRows;
    document.title = S.title + (mode === 'live' ? ' (live)' : '');
    text('title', S.title);
    text('source-badge', mode === 'live' ? 'live' : 'report, ' + when(S.generatedAt));
    var done = S.phase === 'done' || S.endReason;
    var completed = rows.filter(function (r) { return r.status === 'completed'; }).length;
    text('round-counter', done ? 'done: ' + completed + ' of ' + S.rounds : S.round + ' / ' + S.rounds);
    $('round-counter').setAttribute('data-round', String(S.round));
    $('round-counter').setAttribute('data-completed', String(completed));
    text('round-sub', completed + ' completed, ' + (rows.length - completed) + ' aborted' + (S.endReason ? '; ended: ' + S.endReason : ''));
    text('phase-badge', done ? 'done' : S.phase);
    text('phase', done ? 'done' : S.phase);
    tickPhase();
    var sites = S.sites;
    if (mode === 'report') {
      text('sites-connected', sites.rosterActive !== null ? String(sites.rosterActive) : '-');
      text('sites-sub', 'active roster members');
    } else {
      text('sites-connected', String(sites.connected) + (sites.rosterActive !== null ? ' of ' + sites.rosterActive : ''));
      text('sites-sub', sites.rosterActive !== null ? 'active roster members online' : 'members online');
    }
    text('sites-benched', sites.benched.length + ' / ' + (sites.rosterRevoked === null ? '-' : sites.rosterRevoked));
    var totalDropped = rows.reduce(function (a, r) { return a + r.dropped; }, 0);
    var lastRow = rows[rows.length - 1];
    text('dropouts', String(totalDropped));
    text('dropouts-sub', (S.current.cohort > 0 && !done ? S.current.dropped + ' in the round running; ' : '') + (lastRow ? lastRow.dropped + ' in round ' + lastRow.round : 'no round finished'));
    if (S.privacy) {
      text('epsilon', eps(S.privacy.spent) + ' of ' + eps(S.privacy.budget));
      text('epsilon-sub', S.privacy.unit === 'record'
        ? 'record-level, per site: ' + pct(S.privacy.spent / S.privacy.budget) + ' of each site\'s budget by the rounds released (delta ' + S.privacy.delta + '); each site\'s own ledger is the record'
        : pct(S.privacy.spent / S.privacy.budget) + ' of the budget spent (delta ' + S.privacy.delta + ')');
    } else {
      text('epsilon', 'DP off');
      text('epsilon-sub', 'no privacy accounting');
    }
    var withAcc = rows.filter(function (r) { return typeof r.accuracy === 'number'; });
    var lastAcc = withAcc[withAcc.length - 1];
    text('accuracy', lastAcc ? pct(lastAcc.accuracy) : '-');
    var completedRows = rows.filter(function (r) { return r.status === 'completed'; }).length;
    text('accuracy-sub', lastAcc ? 'after round ' + lastAcc.round + (typeof lastAcc.loss === 'number' ? ', loss ' + lastAcc.loss.toFixed(3) : '') : completedRows > 0 ? 'no evaluation data on the coordinator' : 'not evaluated yet');
    text('bytes', bytes(S.bytes.in) + ' / ' + bytes(S.bytes.out));
    var best = S.best;
    text('best-round', best ? 'round ' + best.round : '-');
    $('best-round').setAttribute('data-round', best ? String(best.round) : '');
    $('best-round').setAttribute('data-accuracy', best ? String(best.accuracy) : '');
    text('best-sub', best ? 'federated accuracy ' + pct2(best.accuracy) + (typeof best.loss === 'number' ? ', loss ' + best.loss.toFixed(4) : '') + (best.report === 'secure' ? ' (secure sum)' : '') : 'no federated evaluation yet');

    epsilonChart(rows);
    accuracyChart(rows);
    federatedTable(rows);
    dropoutChart(rows);
    phaseChart(rows);

    var siteRows = [];
    sites.connectedNames.forEach(function (c) { siteRows.push(row([c.name, 'connected', when(c.since), ''])); });
    sites.benched.forEach(function (b) { siteRows.push(row([b.name, 'benched', 'until round ' + b.untilRound, b.reason], 'warn')); });
    if (siteRows.length === 0) siteRows.push(row([mode === 'live' ? 'no member connected' : 'member lists are shown live only', '', '', '']));
    fillTable('sites-table', siteRows);
    var codes = Object.keys(S.refusals || {});
    fillTable('refusals-table', codes.length ? codes.map(function (k) { return row([k, S.refusals[k]]); }) : [row(['none', ''])]);

    fillTable('rounds-table', rows.map(function (r) {
      var slow = Object.keys(r.phases || {}).sort(function (a, b) { return r.phases[b] - r.phases[a]; })[0];
      return row([
        r.round, r.status + (r.abortReason ? ' (' + r.abortReason + ')' : ''), r.mode, r.cohort, r.survivors, r.dropped,
        r.threshold ? (r.degree ? r.degree : 'complete') + ' / ' + r.threshold : '-', pct(r.accuracy), typeof r.loss === 'number' ? r.loss.toFixed(3) : '-',
        pct(r.personalisedAccuracy), eps(r.epsilon), bytes(r.bytesIn), bytes(r.bytesOut), duration(r.wallMs), slow ? slow + ' ' + duration(r.phases[slow]) : '-',
      ], r.status === 'aborted' ? 'warn' : '');
    }));
    renderAudit();
    var facts = S.facts || [];
    $('facts-section').hidden = facts.length === 0;
    fillTable('facts-table', facts.map(function (f) { return row([f[0], f[1]]); }));
  }

  var MEMBER_EVENTS = /^(peer\.|session\.|roster\.|operator\.)/;
  var ROUND_EVENTS = /^(round\.|evaluation\.|checkpoint\.|budget\.|server\.)/;
  function renderAudit() {
    var filter = $('audit-filter').value;
    var entries = S.audit.filter(function (a) {
      if (filter === 'warn') return a.level === 'warn' || a.level === 'error';
      if (filter === 'members') return MEMBER_EVENTS.test(a.event);
      if (filter === 'rounds') return ROUND_EVENTS.test(a.event);
      return true;
    });
    var shown = entries.slice(-500).reverse();
    fillTable('audit-table', shown.length ? shown.map(function (a) { return row([when(a.time), a.level, a.event, a.text], a.level === 'warn' || a.level === 'error' ? 'warn' : ''); }) : [row(['', '', '', 'nothing yet'])]);
    $('audit-table').setAttribute('data-entries', String(S.audit.length));
  }

  function tickPhase() {
    if (!S) return;
    var done = S.phase === 'done' || S.endReason;
    if (done || !S.phaseSince || mode !== 'live') { text('phase-since', done ? '' : S.phaseSince ? 'since ' + when(S.phaseSince) : ''); return; }
    text('phase-since', 'for ' + duration(Date.now() - Date.parse(S.phaseSince)) + (S.current.cohort ? ', ' + S.current.responded + ' of ' + S.current.cohort + ' answered' : ''));
  }

  function applySnapshot(s) {
    S = s;
    render();
  }
  function applyUpdate(u) {
    if (!S) return applySnapshot(u);
    var rows = S.roundRows.slice(0, u.roundsFrom).concat(u.roundRows);
    var audit = S.audit.concat(u.audit);
    if (audit.length > 2000) audit = audit.slice(audit.length - 2000);
    u.roundRows = rows;
    u.audit = audit;
    S = u;
    render();
  }

  function live() {
    var state = $('live-state');
    var setState = function (t, cls) { state.textContent = t; state.className = cls; };
    setState('connecting...', 'muted');
    var es = new EventSource('/dashboard/api/events');
    es.addEventListener('snapshot', function (ev) { applySnapshot(JSON.parse(ev.data)); setState('live', 'ok'); });
    es.addEventListener('update', function (ev) {
      applyUpdate(JSON.parse(ev.data));
      if (S && S.endReason) { setState('the federation has ended', 'muted'); es.close(); }
    });
    es.onerror = function () {
      if (S && S.endReason) return;
      setState(es.readyState === EventSource.CLOSED ? 'disconnected: reload the page (the session may have expired)' : 'reconnecting...', 'bad');
    };
    setInterval(tickPhase, 1000);
  }

  $('audit-filter').addEventListener('change', function () { if (S) renderAudit(); });
  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (id) { charts[id].plot.setSize({ width: chartWidth($(id)), height: 230 }); });
  });

  if (mode === 'report') {
    applySnapshot(JSON.parse($('fedmeta-data').textContent));
    document.body.setAttribute('data-rendered', 'true');
  } else {
    live();
  }
})();
