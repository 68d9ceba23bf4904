// app.js — the vpngw portal's progressive script (docs/portal.md).
//
// The pages are rendered by the server; this script only
//   - sends the ARM requests of forms (form.arm) and buttons (.arm-action),
//     with Content-Type application/json and the api-version, follows a
//     long-running operation through Azure-AsyncOperation, shows its
//     progress and result, and puts an ARM error's message on the input its
//     target names (data-json / data-targets);
//   - reveals a connection's shared key on an explicit click (.reveal-key);
//   - polls connection status every 2 s and draws throughput sparklines, one
//     per connection and one per tunnel ([data-poll-connections]),
//     provisioning states ([data-poll-state]) and the topology
//     ([data-refresh]);
//   - downloads a connection's device configuration (form.devcfg), its
//     selects filled from the gateway's supportedvpndevices;
//   - shows the server's activity log ([data-activity]): operations from
//     any client, the CLI's too;
//   - signs in (form#signin on /portal/signin).
// It never logs request or response bodies.
(function () {
  'use strict';

  var apiVersion = document.body.dataset.apiVersion;
  var POLL_MS = 2000;
  var OP_TIMEOUT_MS = 15 * 60 * 1000;

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function withVersion(path) {
    return path + (path.indexOf('?') >= 0 ? '&' : '?') + 'api-version=' + encodeURIComponent(apiVersion);
  }

  // relative turns an absolute operation URL into this origin's path, so
  // that polling stays same-origin whatever name the server's endpoint has.
  function relative(u) {
    try { var x = new URL(u, location.href); return x.pathname + x.search; } catch (e) { return u; }
  }

  async function arm(method, path, body) {
    // x-ms-command-name names the portal as the caller in the activity
    // log, as Azure's portal does.
    var init = { method: method, headers: { 'Accept': 'application/json', 'x-ms-command-name': 'vpngw-portal' }, credentials: 'same-origin' };
    if (method !== 'GET') {
      init.headers['Content-Type'] = 'application/json';
      if (body !== undefined) { init.body = JSON.stringify(body); }
    }
    var res = await fetch(withVersion(path), init);
    var text = await res.text();
    var json = null;
    if (text) { try { json = JSON.parse(text); } catch (e) { json = null; } }
    return { res: res, json: json };
  }

  // follow polls a long-running operation until it ends and returns its
  // status body, or null when the request finished synchronously.
  async function follow(res, report) {
    var op = res.headers.get('Azure-AsyncOperation');
    if (!op) { return null; }
    var url = relative(op);
    var start = Date.now();
    while (Date.now() - start < OP_TIMEOUT_MS) {
      var r = await fetch(url, { headers: { 'Accept': 'application/json' } });
      var s = {};
      try { s = await r.json(); } catch (e) { s = {}; }
      if (!r.ok && s.error) { return { status: 'Failed', error: s.error }; }
      if (s.status && s.status !== 'InProgress') { return s; }
      report('in progress, ' + Math.round((Date.now() - start) / 1000) + ' s');
      var wait = Number(r.headers.get('Retry-After-Ms')) || 1000;
      await sleep(Math.min(Math.max(wait, 200), 2000));
    }
    return { status: 'Failed', error: { code: 'Timeout', message: 'The portal stopped waiting after 15 minutes; the operation may still finish.' } };
  }

  // --- activity log -------------------------------------------------------

  var ACTIVITY_WINDOW_MS = 6 * 3600 * 1000;
  var ACTIVITY_SHOWN = 25;
  var activityTick = null;

  function activityLine(e) {
    var st = (e.status && e.status.value) || '';
    var p = e.properties || {};
    var text = new Date(e.submissionTimestamp).toLocaleTimeString() + ' ' +
      ((e.operationName && e.operationName.localizedValue) || '') + ': ';
    if (st === 'Started') {
      text += 'in progress, ' + Math.max(0, Math.round((Date.now() - Date.parse(p.startTime || e.submissionTimestamp)) / 1000)) + ' s';
    } else {
      text += st;
    }
    if (st === 'Failed' && p.statusMessage) {
      try {
        var err = JSON.parse(p.statusMessage).error || {};
        text += ' — ' + err.code + ': ' + err.message + (err.target ? ' (target ' + err.target + ')' : '');
      } catch (x) { /* not JSON */ }
    }
    return { cls: 'act-' + (st === 'Started' ? 'InProgress' : st), text: text, by: 'by ' + (e.caller || 'unknown') };
  }

  function pollActivity(ol) {
    activityTick = async function () {
      var since = new Date(Date.now() - ACTIVITY_WINDOW_MS).toISOString();
      var r;
      try {
        r = await fetch(ol.dataset.activity + '&$filter=' + encodeURIComponent("eventTimestamp ge '" + since + "'"),
          { headers: { 'Accept': 'application/json' } });
      } catch (x) { return; }
      if (!r.ok) { return; }
      var body;
      try { body = await r.json(); } catch (x) { return; }
      ol.textContent = '';
      (body.value || []).slice(0, ACTIVITY_SHOWN).forEach(function (e) {
        var line = activityLine(e);
        var li = document.createElement('li');
        li.className = line.cls;
        li.textContent = line.text + ' ';
        var by = document.createElement('span');
        by.className = 'hint';
        by.textContent = line.by;
        li.appendChild(by);
        ol.appendChild(li);
      });
    };
    loop(activityTick);
  }

  // activityNow refreshes the activity log at once (after an operation).
  function activityNow() { if (activityTick) { activityTick(); } }

  // --- errors on fields ---------------------------------------------------

  function fieldFor(form, target) {
    if (!form || !target) { return null; }
    var inputs = Array.prototype.filter.call(form.querySelectorAll('[data-json]'), function (i) {
      return !i.disabled && i.type !== 'hidden';
    });
    var t = target;
    while (t) {
      var lc = t.toLowerCase();
      for (var k = 0; k < inputs.length; k++) {
        var i = inputs[k];
        var extra = (i.dataset.targets || '').toLowerCase().split(/\s+/);
        if (i.dataset.json.toLowerCase() === lc || extra.indexOf(lc) >= 0) { return i; }
      }
      var m = t.match(/^(.*)(\[\d+\]|\.[^.[\]]+)$/);
      if (!m) { break; }
      t = m[1];
    }
    return null;
  }

  function clearErrors(form) {
    if (!form) { return; }
    form.querySelectorAll('.err').forEach(function (p) { p.hidden = true; p.textContent = ''; });
    form.querySelectorAll('[aria-invalid]').forEach(function (i) {
      i.removeAttribute('aria-invalid');
      var d = (i.getAttribute('aria-describedby') || '').split(' ').filter(function (x) { return x && !/-err$/.test(x); });
      if (d.length) { i.setAttribute('aria-describedby', d.join(' ')); } else { i.removeAttribute('aria-describedby'); }
    });
  }

  function markField(input, text) {
    var field = input.closest('.field');
    var p = field && field.querySelector('.err');
    if (!p) { return false; }
    p.textContent = p.textContent ? p.textContent + ' ' + text : text;
    p.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    var d = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
    if (p.id && d.indexOf(p.id) < 0) { d.push(p.id); input.setAttribute('aria-describedby', d.join(' ')); }
    return true;
  }

  function setStatus(el, cls, text) {
    if (!el) { return; }
    el.className = 'op ' + cls;
    el.textContent = text;
  }

  // showError puts each problem of an ARM error on its field and returns
  // the summary line.
  function showError(form, err, httpStatus) {
    if (!err) { return 'HTTP ' + httpStatus; }
    var problems = [err].concat(err.details || []);
    var first = null;
    problems.forEach(function (e) {
      var input = fieldFor(form, e.target);
      if (input && markField(input, e.message)) { first = first || input; }
    });
    if (first) { first.focus(); }
    return err.code + ': ' + err.message + (err.target ? ' (target ' + err.target + ')' : '');
  }

  // run sends one ARM request, follows its operation and reports on ui.
  async function run(method, path, body, ui) {
    clearErrors(ui.form);
    setStatus(ui.status, 'busy', ui.what + ': sending…');
    var r;
    try {
      r = await arm(method, path, body);
    } catch (e) {
      setStatus(ui.status, 'bad', ui.what + ' failed: the server did not answer.');
      return null;
    }
    if (!r.res.ok) {
      var msg = showError(ui.form, r.json && r.json.error, r.res.status);
      setStatus(ui.status, 'bad', ui.what + ' failed: ' + msg);
      activityNow();
      return null;
    }
    activityNow();
    var s = await follow(r.res, function (m) { setStatus(ui.status, 'busy', ui.what + ': ' + m); });
    if (s && s.status !== 'Succeeded') {
      var m2 = showError(ui.form, s.error, 0);
      setStatus(ui.status, 'bad', ui.what + ' failed: ' + m2);
      activityNow();
      return null;
    }
    setStatus(ui.status, 'ok', ui.what + ': Succeeded');
    activityNow();
    return r.json || {};
  }

  // --- forms --------------------------------------------------------------

  function setPath(obj, path, v) {
    var toks = path.match(/[^.[\]]+|\[\d+\]/g);
    var o = obj;
    toks.forEach(function (tk, i) {
      var key = tk[0] === '[' ? Number(tk.slice(1, -1)) : tk;
      if (i === toks.length - 1) { o[key] = v; return; }
      if (o[key] === null || o[key] === undefined || typeof o[key] !== 'object') {
        o[key] = toks[i + 1][0] === '[' ? [] : {};
      }
      o = o[key];
    });
  }

  function buildBody(form, body) {
    form.querySelectorAll('[data-json]').forEach(function (el) {
      if (el.disabled) { return; }
      var kind = el.dataset.kind || 'string';
      var v;
      if (kind === 'bool') {
        v = el.checked;
      } else {
        v = (el.dataset.from ? form.elements[el.dataset.from].value : el.value).trim();
        if (v === '') { return; }
        if (kind === 'list') { v = v.split(/[\s,]+/).filter(Boolean); }
        if (kind === 'int' && /^-?\d+$/.test(v)) { v = Number(v); }
        if (kind === 'json') { v = JSON.parse(v); }
      }
      setPath(body, el.dataset.json, v);
    });
    return body;
  }

  // fill replaces {field} in s with the form field's value.
  function fill(form, s) {
    return s.replace(/\{(\w+)\}/g, function (_, k) {
      var el = form && form.elements[k];
      return el ? encodeURIComponent(el.value.trim()) : '';
    });
  }

  function then(how) {
    if (!how) { return; }
    if (how === 'reload') { location.reload(); } else { location.assign(how); }
  }

  // applyWhen shows and enables the fields whose data-when holds:
  // "box" (a checkbox is checked) or "name=value".
  function applyWhen(form) {
    form.querySelectorAll('[data-when]').forEach(function (el) {
      var cond = el.dataset.when.split('=');
      var ctl = form.elements[cond[0]];
      var ok = ctl && (cond.length > 1 ? ctl.value === cond[1] : ctl.checked);
      el.disabled = !ok;
      var field = el.closest('.field');
      if (field) { field.hidden = !ok; }
    });
  }

  function highlightSKU(select) {
    document.querySelectorAll('#sku-table tr[data-sku]').forEach(function (tr) {
      var on = tr.dataset.sku === select.value;
      tr.classList.toggle('selected', on);
      if (on) { tr.setAttribute('aria-current', 'true'); } else { tr.removeAttribute('aria-current'); }
    });
  }

  function initForm(form) {
    var status = form.querySelector('.op');
    applyWhen(form);
    form.addEventListener('change', function (ev) {
      applyWhen(form);
      if (ev.target.name === 'sku') { highlightSKU(ev.target); }
    });
    if (form.elements.sku && form.elements.sku.tagName === 'SELECT') { highlightSKU(form.elements.sku); }
    form.addEventListener('submit', async function (ev) {
      ev.preventDefault();
      var button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        var path = fill(form, form.dataset.path);
        var ui = { form: form, status: status, what: form.dataset.what || 'Request' };
        var body = {};
        if (form.hasAttribute('data-merge')) {
          var cur = await arm('GET', path);
          if (!cur.res.ok) {
            setStatus(status, 'bad', ui.what + ' failed: ' + showError(form, cur.json && cur.json.error, cur.res.status));
            return;
          }
          body = cur.json;
        }
        var ok = await run(form.dataset.method, path, buildBody(form, body), ui);
        if (ok) { then(fill(form, form.dataset.then || '')); }
      } finally {
        button.disabled = false;
      }
    });
  }

  function initAction(btn) {
    var label = btn.textContent;
    var armed = false;
    var timer = null;
    btn.addEventListener('click', async function () {
      if (btn.dataset.confirm && !armed) {
        armed = true;
        btn.textContent = btn.dataset.confirm;
        btn.classList.add('armed');
        timer = setTimeout(function () { armed = false; btn.textContent = label; btn.classList.remove('armed'); }, 6000);
        return;
      }
      clearTimeout(timer);
      armed = false;
      btn.textContent = label;
      btn.classList.remove('armed');
      btn.disabled = true;
      var status = btn.parentElement.querySelector('.op');
      var body = btn.dataset.body ? JSON.parse(btn.dataset.body) : undefined;
      try {
        var ok = await run(btn.dataset.method, btn.dataset.path, body, { form: null, status: status, what: btn.dataset.what || label });
        if (ok) { then(btn.dataset.then); }
      } finally {
        btn.disabled = false;
      }
    });
  }

  function initReveal(btn) {
    var out = document.getElementById(btn.getAttribute('aria-controls'));
    btn.setAttribute('aria-expanded', 'false');
    btn.addEventListener('click', async function () {
      if (!out.hidden) {
        out.textContent = '';
        out.hidden = true;
        btn.textContent = 'Show shared key';
        btn.setAttribute('aria-expanded', 'false');
        return;
      }
      var r = await arm('GET', btn.dataset.path);
      if (!r.res.ok) {
        out.textContent = (r.json && r.json.error) ? r.json.error.code + ': ' + r.json.error.message : 'HTTP ' + r.res.status;
      } else {
        out.textContent = r.json.value;
      }
      out.hidden = false;
      btn.textContent = 'Hide shared key';
      btn.setAttribute('aria-expanded', 'true');
    });
  }

  // --- device configuration -------------------------------------------------

  // initDeviceConfig fills the vendor, family and firmware selects from the
  // gateway's supportedvpndevices (an XML document in a JSON string) and
  // downloads the script the connection's vpndeviceconfigurationscript
  // returns. The script holds the shared key: it goes to the file only.
  async function initDeviceConfig(form) {
    var status = form.querySelector('.op');
    var sel = { vendor: form.elements.vendor, family: form.elements.deviceFamily, firmware: form.elements.firmwareVersion };
    var r = await arm('POST', form.dataset.devices);
    if (!r.res.ok || typeof r.json !== 'string') {
      setStatus(status, 'bad', 'The device list could not be read: ' + showError(form, r.json && r.json.error, r.res.status));
      return;
    }
    var doc = new DOMParser().parseFromString(r.json, 'application/xml');
    function fillSelect(select, nodes) {
      var keep = select.value;
      select.textContent = '';
      nodes.forEach(function (n) {
        var o = document.createElement('option');
        o.textContent = n.getAttribute('name');
        select.appendChild(o);
      });
      if (keep) { select.value = keep; }
      if (select.selectedIndex < 0) { select.selectedIndex = 0; }
    }
    function children(parent, tag, name) {
      return Array.prototype.filter.call(parent.children, function (n) {
        return n.tagName === tag && (name === undefined || n.getAttribute('name') === name);
      });
    }
    function refill() {
      var root = doc.documentElement;
      fillSelect(sel.vendor, children(root, 'Vendor'));
      var v = children(root, 'Vendor', sel.vendor.value)[0];
      fillSelect(sel.family, v ? children(v, 'DeviceFamily') : []);
      var f = v && children(v, 'DeviceFamily', sel.family.value)[0];
      fillSelect(sel.firmware, f ? children(f, 'FirmwareVersion') : []);
    }
    refill();
    form.addEventListener('change', refill);
    form.addEventListener('submit', async function (ev) {
      ev.preventDefault();
      var button = form.querySelector('button[type=submit]');
      button.disabled = true;
      clearErrors(form);
      setStatus(status, 'busy', 'Generating the configuration…');
      try {
        var body = { vendor: sel.vendor.value, deviceFamily: sel.family.value, firmwareVersion: sel.firmware.value };
        var res = await arm('POST', form.dataset.path, body);
        if (!res.res.ok || typeof res.json !== 'string') {
          setStatus(status, 'bad', 'Download configuration failed: ' + showError(form, res.json && res.json.error, res.res.status));
          activityNow();
          return;
        }
        var ext = /conf/.test(body.deviceFamily) ? '.conf' : '.txt';
        var file = (form.dataset.name + '-' + body.vendor + ext).replace(/[^A-Za-z0-9._-]+/g, '_');
        var url = URL.createObjectURL(new Blob([res.json], { type: 'text/plain' }));
        var a = document.createElement('a');
        a.href = url;
        a.download = file;
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
        setStatus(status, 'ok', 'Downloaded ' + file + ' (it contains the shared key).');
      } finally {
        button.disabled = false;
      }
    });
  }

  // --- live status --------------------------------------------------------

  function fmtBytes(n) {
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + u[i];
  }

  function fmtRate(bps) {
    if (bps >= 1e9) { return (bps / 1e9).toFixed(2) + ' Gbit/s'; }
    if (bps >= 1e6) { return (bps / 1e6).toFixed(2) + ' Mbit/s'; }
    if (bps >= 1e3) { return (bps / 1e3).toFixed(1) + ' kbit/s'; }
    return Math.round(bps) + ' bit/s';
  }

  function drawSpark(svg, rates) {
    var line = svg.querySelector('polyline');
    var peak = Math.max.apply(null, rates.concat([1]));
    var w = 120, h = 28;
    var step = w / 29;
    var pts = rates.map(function (r, i) {
      return (w - (rates.length - 1 - i) * step).toFixed(1) + ',' + (h - 2 - (r / peak) * (h - 4)).toFixed(1);
    });
    line.setAttribute('points', pts.join(' '));
  }

  var SVG_NS = 'http://www.w3.org/2000/svg';

  function newSpark(label) {
    var svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('width', '120');
    svg.setAttribute('height', '28');
    svg.setAttribute('viewBox', '0 0 120 28');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
    svg.appendChild(document.createElementNS(SVG_NS, 'polyline'));
    return svg;
  }

  // rateOf records a byte total under key and returns the rate since the
  // last sample and the last minute of rates.
  function rateOf(hist, key, bytes, now) {
    var h = hist[key] || (hist[key] = { t: now, bytes: bytes, rates: [] });
    var rate = 0;
    if (now > h.t) {
      rate = Math.max(0, (bytes - h.bytes) * 8 * 1000 / (now - h.t));
      h.rates.push(rate);
    }
    if (h.rates.length > 30) { h.rates.shift(); }
    h.t = now; h.bytes = bytes;
    return { rate: rate, rates: h.rates };
  }

  function setState(span, st) {
    span.textContent = st;
    span.className = 'state ' + st;
  }

  // drawTunnelList draws one small sparkline per tunnel under a
  // connection's own, when it has several (active-active).
  function drawTunnelList(ul, tunnels) {
    ul.hidden = tunnels.length < 2;
    if (ul.hidden) { return; }
    tunnels.forEach(function (t) {
      var li = Array.prototype.find.call(ul.children, function (x) { return x.dataset.tunnel === t.name; });
      if (!li) {
        li = document.createElement('li');
        li.dataset.tunnel = t.name;
        li.appendChild(newSpark('throughput of tunnel ' + t.name + ', last minute'));
        li.appendChild(document.createElement('span'));
        ul.appendChild(li);
      }
      drawSpark(li.querySelector('svg'), t.rates);
      li.querySelector('span').textContent = ' ' + t.name + ': ' + fmtRate(t.rate);
    });
  }

  // drawTunnelRows updates the connection page's tunnel table, one row per
  // tunnel (rows for new tunnels are added).
  function drawTunnelRows(table, tunnels) {
    var body = table.tBodies[0];
    if (tunnels.length) {
      body.querySelectorAll('tr.no-tunnel').forEach(function (tr) { tr.remove(); });
    }
    tunnels.forEach(function (t) {
      var tr = Array.prototype.find.call(body.rows, function (x) { return x.dataset.tunnel === t.name; });
      if (!tr) {
        tr = body.insertRow();
        tr.dataset.tunnel = t.name;
        ['', 't-status', 't-in', 't-out', 't-spark', 't-est'].forEach(function (c) { tr.insertCell().className = c; });
        tr.cells[0].textContent = t.name;
        tr.cells[1].appendChild(document.createElement('span'));
        tr.cells[4].appendChild(newSpark('throughput of ' + t.name + ', last minute'));
        tr.cells[4].appendChild(document.createTextNode(' '));
        var rate = document.createElement('span');
        rate.className = 't-rate';
        tr.cells[4].appendChild(rate);
      }
      setState(tr.querySelector('.t-status span'), t.status);
      tr.querySelector('.t-in').textContent = fmtBytes(t.in);
      tr.querySelector('.t-out').textContent = fmtBytes(t.out);
      tr.querySelector('.t-est').textContent = t.established;
      drawSpark(tr.querySelector('svg.spark'), t.rates);
      tr.querySelector('.t-rate').textContent = fmtRate(t.rate);
    });
  }

  function pollConnections(table) {
    var hist = {}; // connection ID, or ID|tunnel -> {t, bytes, rates[]}
    var path = table.dataset.pollConnections;
    async function tick() {
      var r;
      try { r = await arm('GET', path); } catch (e) { return; }
      if (!r.res.ok || !r.json) { return; }
      var items = r.json.value || [r.json];
      var now = Date.now();
      var total = 0;
      items.forEach(function (c) {
        var p = c.properties || {};
        var id = (c.id || '').toLowerCase();
        var row = null;
        table.querySelectorAll('tr[data-id]').forEach(function (tr) {
          if (tr.dataset.id.toLowerCase() === id) { row = tr; }
        });
        var cr = rateOf(hist, id, (p.ingressBytesTransferred || 0) + (p.egressBytesTransferred || 0), now);
        total += cr.rate;
        var tunnels = (p.tunnelConnectionStatus || []).map(function (t) {
          var tr = rateOf(hist, id + '|' + t.tunnel, (t.ingressBytesTransferred || 0) + (t.egressBytesTransferred || 0), now);
          return { name: t.tunnel, status: t.connectionStatus || 'Unknown', in: t.ingressBytesTransferred || 0,
            out: t.egressBytesTransferred || 0, established: t.lastConnectionEstablishedUtcTime || '', rate: tr.rate, rates: tr.rates };
        });
        document.querySelectorAll('table[data-tunnels-of]').forEach(function (tt) {
          if (tt.dataset.tunnelsOf.toLowerCase() === id) { drawTunnelRows(tt, tunnels); }
        });
        if (!row) { return; }
        setState(row.querySelector('.c-status span'), p.connectionStatus || 'Unknown');
        row.querySelector('.c-in').textContent = fmtBytes(p.ingressBytesTransferred || 0);
        row.querySelector('.c-in').dataset.bytes = p.ingressBytesTransferred || 0;
        row.querySelector('.c-out').textContent = fmtBytes(p.egressBytesTransferred || 0);
        row.querySelector('.c-out').dataset.bytes = p.egressBytesTransferred || 0;
        row.querySelector('.c-rate').textContent = fmtRate(cr.rate);
        drawSpark(row.querySelector('svg.spark'), cr.rates);
        drawTunnelList(row.querySelector('.c-tunnels'), tunnels);
      });
      var tput = document.getElementById('tput-now');
      if (tput) { tput.textContent = fmtRate(total); }
    }
    loop(tick);
  }

  function pollState(el) {
    loop(async function () {
      var r;
      try { r = await arm('GET', el.dataset.pollState); } catch (e) { return; }
      if (!r.res.ok || !r.json || !r.json.properties) { return; }
      var st = r.json.properties.provisioningState || '';
      el.textContent = st;
      el.className = 'state ' + st;
    });
  }

  function refreshTopology(el) {
    loop(async function () {
      var r;
      try { r = await fetch(el.dataset.refresh, { headers: { 'Accept': 'text/html' } }); } catch (e) { return; }
      if (r.ok) { el.innerHTML = await r.text(); }
    });
  }

  // loop runs tick every POLL_MS while the page is open, one at a time.
  async function loop(tick) {
    for (;;) {
      if (!document.hidden) { await tick(); }
      await sleep(POLL_MS);
    }
  }

  // The sign-in form: POST /portal/signin (JSON) sets the session cookie
  // (HttpOnly, SameSite=Strict), then back to the page that sent us here.
  var signin = document.getElementById('signin');
  if (signin) {
    signin.addEventListener('submit', async function (ev) {
      ev.preventDefault();
      var errBox = document.getElementById('signin-error');
      errBox.hidden = true;
      var res = await fetch('/portal/signin', { method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: JSON.stringify({ id: signin.elements.id.value, secret: signin.elements.secret.value }) });
      if (res.ok) {
        var next = new URLSearchParams(location.search).get('next') || '/';
        location.href = next.charAt(0) === '/' && next.charAt(1) !== '/' ? next : '/';
        return;
      }
      var j = null;
      try { j = await res.json(); } catch (e) { j = null; }
      errBox.textContent = j && j.error ? j.error.code + ': ' + j.error.message : 'Sign-in failed (' + res.status + ').';
      errBox.hidden = false;
    });
  }

  document.querySelectorAll('form.arm').forEach(initForm);
  document.querySelectorAll('.arm-action').forEach(initAction);
  document.querySelectorAll('.reveal-key').forEach(initReveal);
  document.querySelectorAll('[data-poll-connections]').forEach(pollConnections);
  document.querySelectorAll('[data-poll-state]').forEach(pollState);
  document.querySelectorAll('[data-refresh]').forEach(refreshTopology);
  document.querySelectorAll('form.devcfg').forEach(initDeviceConfig);
  document.querySelectorAll('[data-activity]').forEach(pollActivity);
  document.documentElement.classList.add('js');
})();
