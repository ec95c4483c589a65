// The imagenet-e editor page: plain JavaScript against the server's JSON API (README, "HTTP API"), no libraries.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  info: null,
  image: null,        // { blob, name, bitmap }: the photo's own bytes, sent as they are
  maskBlob: null,     // the mask file's own bytes while it is unpainted (so the sidecar names that file)
  maskName: null,
  maskCanvas: null,   // the mask at the photo's size: opaque blue = object, transparent = background
  label: null,        // the demo photo's wnid
  busy: false, pending: false, job: null, source: null,
};

function message(text) {
  const m = $('message');
  m.textContent = text || '';
  m.hidden = !text;
}

async function api(path, options) {
  const r = await fetch(path, options);
  const type = r.headers.get('Content-Type') || '';
  const body = type.startsWith('application/json') ? await r.json() : null;
  if (!r.ok) throw new Error((body && body.error) || `${r.status} ${r.statusText}`);
  return body;
}

function loadBitmap(blob) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    const url = URL.createObjectURL(blob);
    img.onload = () => resolve(img);
    img.onerror = () => { URL.revokeObjectURL(url); reject(new Error('the browser cannot show this file')); };
    img.src = url;
  });
}

// ---- the photo and its mask ----

async function setImage(blob, name, label) {
  const bitmap = await loadBitmap(blob);
  state.image = { blob, name, bitmap };
  state.label = label || null;
  const c = document.createElement('canvas');
  c.width = bitmap.naturalWidth;
  c.height = bitmap.naturalHeight;
  state.maskCanvas = c;
  state.maskBlob = null;
  state.maskName = null;
  $('stage-hint').hidden = true;
  draw();
  maskInfo();
}

async function setMask(blob, name) {
  if (!state.image) throw new Error('pick a photo first');
  const m = await loadBitmap(blob);
  const { naturalWidth: w, naturalHeight: h } = state.image.bitmap;
  if (m.naturalWidth !== w || m.naturalHeight !== h)
    throw new Error(`${name}: the mask is ${m.naturalWidth}x${m.naturalHeight}, the photo ${w}x${h}`);
  const t = document.createElement('canvas');
  t.width = w; t.height = h;
  const tc = t.getContext('2d');
  tc.drawImage(m, 0, 0);
  const px = tc.getImageData(0, 0, w, h);
  const d = px.data;
  for (let i = 0; i < d.length; i += 4) {
    const on = d[i] || d[i + 1] || d[i + 2];     // non-zero = object, as imagenet-e reads binary masks
    d[i] = on ? 30 : 0; d[i + 1] = on ? 144 : 0; d[i + 2] = on ? 255 : 0; d[i + 3] = on ? 255 : 0;
  }
  state.maskCanvas.getContext('2d').putImageData(px, 0, 0);
  state.maskBlob = blob;
  state.maskName = name;
  draw();
  maskInfo();
}

function draw() {
  const cv = $('canvas');
  if (!state.image) return;
  const { naturalWidth: w, naturalHeight: h } = state.image.bitmap;
  const scale = Math.min(1, 560 / w, 460 / h);
  cv.width = Math.round(w * scale);
  cv.height = Math.round(h * scale);
  const g = cv.getContext('2d');
  g.drawImage(state.image.bitmap, 0, 0, cv.width, cv.height);
  g.globalAlpha = 0.45;
  g.drawImage(state.maskCanvas, 0, 0, cv.width, cv.height);
  g.globalAlpha = 1;
}

function maskRatio() {
  const c = state.maskCanvas;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
  return n / (c.width * c.height);
}

function maskInfo() {
  if (!state.maskCanvas) return;
  const r = maskRatio();
  $('mask-info').textContent = r === 0 ? 'No mask yet: upload one, paint the object, or use the automatic mask.'
    : `Object: ${(100 * r).toFixed(1)}% of the photo` + (state.maskBlob ? ` (${state.maskName})` : ' (painted)');
}

function setupPainting() {
  const cv = $('canvas');
  let drawing = false;
  const paint = (e) => {
    if (!state.image) return;
    const r = cv.getBoundingClientRect();
    const sx = state.maskCanvas.width / r.width, sy = state.maskCanvas.height / r.height;
    const x = (e.clientX - r.left) * sx, y = (e.clientY - r.top) * sy;
    const g = state.maskCanvas.getContext('2d');
    g.globalCompositeOperation = document.querySelector('input[name=brush-mode]:checked').value === 'erase' ? 'destination-out' : 'source-over';
    g.fillStyle = '#1e90ff';
    g.beginPath();
    g.arc(x, y, Number($('brush').value) * sx / 2, 0, 2 * Math.PI);
    g.fill();
    g.globalCompositeOperation = 'source-over';
    state.maskBlob = null;           // painted: the mask is sent as drawn
    draw();
  };
  cv.addEventListener('pointerdown', (e) => { drawing = true; cv.setPointerCapture(e.pointerId); paint(e); });
  cv.addEventListener('pointermove', (e) => { if (drawing) paint(e); });
  const end = () => { if (drawing) { drawing = false; maskInfo(); schedulePreview(); } };
  cv.addEventListener('pointerup', end);
  cv.addEventListener('pointercancel', end);
}

/** The mask as a PNG: the file as given, or the painted one (blue on black: non-zero = object). */
function maskFile() {
  if (state.maskBlob) return Promise.resolve([state.maskBlob, state.maskName]);
  const c = document.createElement('canvas');
  c.width = state.maskCanvas.width; c.height = state.maskCanvas.height;
  const g = c.getContext('2d');
  g.fillStyle = '#000';
  g.fillRect(0, 0, c.width, c.height);
  g.drawImage(state.maskCanvas, 0, 0);
  const stem = state.image.name.replace(/\.[^.]+$/, '');
  return new Promise((resolve) => c.toBlob((b) => resolve([b, stem + '.painted.png']), 'image/png'));
}

// ---- the edits ----

function num(id) { return Number($(id).value); }

/** The edits of the controls in imagenet-e's --set syntax; {@code skip} leaves one attribute out (the swept one). */
function editParts(skip) {
  const parts = [];
  if ($('size-on').checked && skip !== 'size') parts.push(`size=${num('size')}`);
  if ($('direction-on').checked && skip !== 'direction') parts.push(`direction=${num('direction')}${$('direction-object').checked ? '@object' : ''}`);
  if ($('position-on').checked) {
    const at = document.querySelector('input[name=position-mode]:checked').value === 'at';
    parts.push(at ? `position=${num('position-x')}:${num('position-y')}` : 'position');
  }
  if ($('background-on').checked && skip !== 'background') parts.push(`background=${num('background')}${$('adversarial').checked ? '-adv' : ''}`);
  return parts;
}

function needsDiffusion(edits) {
  const harmonised = Math.trunc(num('harmonize')) > 0 && edits.some((e) => /size=|position|direction=/.test(e));
  return harmonised || edits.some((e) => e.includes('background=')) || $('fill').value === 'diffusion';
}

async function form(editsList) {
  if (!state.image) throw new Error('pick or upload a photo first');
  if (maskRatio() === 0) throw new Error('the mask is empty: upload a mask, paint the object or use the automatic mask');
  const f = new FormData();
  f.append('image', state.image.blob, state.image.name);
  const [mb, mn] = await maskFile();
  f.append('mask', mb, mn);
  for (const e of editsList) f.append('edits', e);
  f.append('seed', String(Math.trunc(num('seed')) || 0));
  if ($('steps').value) f.append('steps', $('steps').value);
  f.append('harmonize_steps', String(Math.max(0, Math.trunc(num('harmonize')) || 0)));
  f.append('fill', $('fill').value);
  if (state.label) f.append('label', state.label);
  return f;
}

/** Sends the edits: at once for geometric ones (one round trip), as a job with progress events for diffusion. */
async function run(editsList, onResult) {
  const diffusion = needsDiffusion(editsList);
  const body = await form(editsList);
  if (!diffusion) return onResult(await api('/api/edit', { method: 'POST', body }));
  const job = await api('/api/jobs', { method: 'POST', body });
  state.job = job;
  $('cancel').hidden = false;
  $('progress').hidden = false;
  $('progress-bar').value = 0;
  $('progress-text').textContent = 'queued';
  try {
    const result = await new Promise((resolve, reject) => {
      const es = new EventSource(job.events);
      es.addEventListener('queued', (e) => { const d = JSON.parse(e.data); $('progress-text').textContent = d.ahead > 0 ? `queued, ${d.ahead} ahead` : 'queued'; });
      es.addEventListener('started', () => { $('progress-text').textContent = 'started'; });
      es.addEventListener('progress', (e) => {
        const d = JSON.parse(e.data);
        $('progress-bar').value = d.step / d.steps;
        $('progress-text').textContent = `diffusion pass ${d.pass}: step ${d.step} of ${d.steps}`;
      });
      es.addEventListener('done', (e) => { es.close(); resolve(JSON.parse(e.data)); });
      es.addEventListener('error', (e) => {
        es.close();
        if (e.data) reject(new Error(JSON.parse(e.data).error));
        else reject(new Error('lost the connection to the server'));
      });
      es.addEventListener('cancelled', () => { es.close(); reject(new Error('cancelled')); });
    });
    onResult(result);
  } finally {
    state.job = null;
    $('cancel').hidden = true;
    $('progress').hidden = true;
  }
}

async function apply() {
  if (state.busy) { state.pending = true; return; }
  const edits = editParts();
  if (edits.length === 0) { message('choose at least one edit'); return; }
  state.busy = true;
  $('apply').disabled = true;
  message('');
  try {
    await run([edits.join(',')], showResult);
  } catch (e) {
    message(e.message);
  } finally {
    state.busy = false;
    $('apply').disabled = false;
    if (state.pending) { state.pending = false; schedulePreview(); }
  }
}

let previewTimer = 0;
function schedulePreview() {
  $('edits-text').textContent = editParts().join(',') || '(none)';
  if (!$('live').checked || !state.image || !state.maskCanvas) return;
  const edits = editParts();
  if (edits.length === 0 || needsDiffusion(edits) || maskRatio() === 0) return;
  clearTimeout(previewTimer);
  previewTimer = setTimeout(apply, 150);
}

const fmt = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : Array.isArray(v) ? v.map((x) => Number(x).toFixed(3)).join(', ') : String(v));
const LABELS = {
  ratio_before: 'object ratio before', ratio_target: 'size ratio asked', ratio_achieved: 'size ratio achieved', scale: 'scale',
  angle: 'angle (°)', offset_x: 'offset x (px)', offset_y: 'offset y (px)', lambda: 'background λ', adversarial: 'adversarial',
  complexity_before: 'background complexity before', complexity_after: 'background complexity after', ratio_after: 'object ratio after',
  seed: 'derived seed', transform: 'affine map',
};

function showResult(res) {
  const r = res.results.find((x) => !x.error) || res.results[0];
  $('result-empty').hidden = true;
  $('result-body').hidden = false;
  $('result-before').src = res.original;
  if (r.error) { message(`${r.name}: ${r.error}`); return; }
  $('result-image').src = r.image;
  $('result-mask').src = r.mask;
  $('result-variant').textContent = r.variant;
  const tb = $('values').tBodies[0];
  tb.textContent = '';
  const v = r.sidecar.values;
  for (const k of Object.keys(v)) {
    const tr = tb.insertRow();
    const th = document.createElement('th');
    th.textContent = LABELS[k] || k;
    tr.appendChild(th);
    const td = tr.insertCell();
    // 64-bit seeds lose digits as JavaScript numbers: the server sends them as text too
    td.textContent = k === 'seed' ? r.derived_seed : fmt(v[k]);
    td.id = 'value-' + k;
  }
  let achieved = $('achieved-ratio');
  if (!achieved) { achieved = document.createElement('span'); achieved.id = 'achieved-ratio'; }
  achieved.textContent = v.ratio_achieved !== undefined ? v.ratio_achieved.toFixed(4) : '';
  if (v.ratio_achieved !== undefined) $('value-ratio_achieved').replaceChildren(achieved);
  for (const [id, url, name] of [['dl-image', r.image, r.name + '.png'], ['dl-mask', r.mask, r.name + '.mask.png'], ['dl-sidecar', r.sidecar_url, r.name + '.json']]) {
    $(id).href = url;
    $(id).download = name;
  }
  $('result-time').textContent = `(${res.seconds.toFixed(2)} s on the server)`;
  showClassifier(res, r);
}

function top5(ol, list, label) {
  ol.textContent = '';
  for (const g of list) {
    const li = document.createElement('li');
    li.textContent = `${g.name} ${(100 * g.p).toFixed(1)}%`;
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.max(1, Math.round(80 * g.p))}px`;
    li.appendChild(bar);
    if (label && g.wnid === label) li.className = 'hit';
    ol.appendChild(li);
  }
}

function showClassifier(res, r) {
  const c = res.classifier;
  $('classifier').hidden = !c;
  if (!c) return;
  $('classifier-name').textContent = c.name;
  top5($('top5-before'), c.top5, state.label);
  top5($('top5-after'), r.classifier.top5, state.label);
  $('cam-before').hidden = !c.cam;
  $('cam-after').hidden = !r.classifier.cam;
  if (c.cam) $('cam-before').src = c.cam;
  if (r.classifier.cam) $('cam-after').src = r.classifier.cam;
}

/**
 * Dragging the object in the result moves it: the centre of its box (read off the result's mask) moves with the
 * pointer, and the edit becomes position=X:Y (fractions of the image).
 */
function setupDrag() {
  const img = $('result-image');
  let start = null;
  img.addEventListener('pointerdown', async (e) => {
    if (!img.src) return;
    e.preventDefault();
    img.setPointerCapture(e.pointerId);
    start = { x: e.clientX, y: e.clientY, centre: null };
    const s = start;
    s.centre = await maskCentre($('result-mask'));
  });
  img.addEventListener('pointerup', (e) => {
    const s = start;
    start = null;
    if (!s || !s.centre) return;
    const r = img.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    const x = clamp(s.centre[0] + (e.clientX - s.x) / r.width), y = clamp(s.centre[1] + (e.clientY - s.y) / r.height);
    if (Math.abs(e.clientX - s.x) + Math.abs(e.clientY - s.y) < 3) return;   // a click, not a drag
    $('position-on').checked = true;
    document.querySelector('input[name=position-mode][value=at]').checked = true;
    $('position-x').value = x.toFixed(3);
    $('position-y').value = y.toFixed(3);
    schedulePreview();
  });
}

/** The centre of the object's box in a mask image, as fractions of its size. */
async function maskCentre(maskImg) {
  if (!maskImg.complete) await new Promise((r) => maskImg.addEventListener('load', r, { once: true }));
  const c = document.createElement('canvas');
  c.width = maskImg.naturalWidth; c.height = maskImg.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(maskImg, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let x0 = c.width, y0 = c.height, x1 = -1, y1 = -1;
  for (let y = 0; y < c.height; y++)
    for (let x = 0; x < c.width; x++)
      if (d[(y * c.width + x) * 4]) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  return x1 < 0 ? null : [(x0 + x1 + 1) / 2 / c.width, (y0 + y1 + 1) / 2 / c.height];
}

// ---- sweep ----

const SWEEP_DEFAULTS = { size: [0.10, 0.03, 8], background: [-30, 30, 7], direction: [-45, 45, 7] };

async function sweep() {
  const attr = $('sweep-attr').value;
  const from = num('sweep-from'), to = num('sweep-to'), n = Math.max(2, Math.min(16, Math.trunc(num('sweep-count'))));
  const rest = editParts(attr);
  const lists = [];
  for (let i = 0; i < n; i++) {
    let v = from + (to - from) * i / (n - 1);
    v = attr === 'size' ? Number(v.toFixed(4)) : Math.round(v * 10) / 10;
    const e = attr === 'background' ? `background=${v}${$('adversarial').checked ? '-adv' : ''}` : attr === 'direction' ? `direction=${v}` : `size=${v}`;
    lists.push([e, ...rest].join(','));
  }
  const grid = $('sweep-grid');
  grid.textContent = '';
  $('sweep-run').disabled = true;
  message('');
  try {
    await run(lists, (res) => {
      for (const r of res.results) {
        const cell = document.createElement('div');
        cell.className = 'cell';
        if (r.error) {
          cell.innerHTML = '<div class="err"></div>';
          cell.firstChild.textContent = `${r.variant}: ${r.error}`;
        } else {
          const img = document.createElement('img');
          img.src = r.image;
          img.alt = r.variant;
          const cap = document.createElement('div');
          const v = r.sidecar.values;
          const achieved = attr === 'size' ? `ratio ${v.ratio_achieved.toFixed(4)}` : attr === 'direction' ? `angle ${v.angle.toFixed(1)}°`
            : `complexity ${v.complexity_before.toFixed(2)} → ${v.complexity_after.toFixed(2)}`;
          const top = r.classifier ? ` · ${r.classifier.top5[0].name} ${(100 * r.classifier.top5[0].p).toFixed(0)}%` : '';
          cap.textContent = `${r.variant}: ${achieved}${top}`;
          cell.append(img, cap);
        }
        grid.appendChild(cell);
      }
    });
  } catch (e) {
    message(e.message);
  } finally {
    $('sweep-run').disabled = false;
  }
}

// ---- benchmark ----

async function loadBenchmark() {
  const b = await api('/api/benchmark');
  $('bench-folder').textContent = b.folder;
  if (b.report) { $('bench-report').href = b.report; $('bench-report').hidden = false; }
  const list = $('bench-list');
  list.textContent = '';
  for (const img of b.images) {
    const row = document.createElement('div');
    row.className = 'bench-row';
    const h = document.createElement('h3');
    h.textContent = `${img.image}`;
    const strip = document.createElement('div');
    strip.className = 'strip';
    for (const v of img.variants) {
      const cell = document.createElement('div');
      cell.className = 'cell';
      if (v.url) {
        const i = document.createElement('img');
        i.loading = 'lazy';
        i.src = v.url;
        i.alt = v.variant;
        cell.appendChild(i);
      }
      const cap = document.createElement('div');
      const val = v.values || {};
      const extra = val.ratio_achieved !== undefined ? ` ${val.ratio_achieved.toFixed(3)}` : val.angle !== undefined ? ` ${val.angle.toFixed(1)}°` : '';
      cap.textContent = v.variant + extra + (v.error ? `: ${v.error}` : '');
      if (v.error) cap.className = 'err';
      cell.appendChild(cap);
      strip.appendChild(cell);
    }
    row.append(h, strip);
    list.appendChild(row);
  }
}

// ---- wiring ----

function link(rangeId, numberId) {
  $(rangeId).addEventListener('input', () => { $(numberId).value = $(rangeId).value; schedulePreview(); });
  $(numberId).addEventListener('input', () => { $(rangeId).value = $(numberId).value; schedulePreview(); });
}

function tab(name) {
  for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === name);
  document.querySelector('main').hidden = name === 'bench';
  $('sweep').hidden = name !== 'sweep';
  $('bench').hidden = name !== 'bench';
  if (name === 'bench') loadBenchmark().catch((e) => message(e.message));
}

function chip(text, on) {
  const s = document.createElement('span');
  s.className = 'chip' + (on ? ' on' : '');
  s.textContent = text;
  $('status').appendChild(s);
}

async function init() {
  const info = await api('/api/info');
  state.info = info;
  chip(`backend ${info.backend}`, true);
  chip(info.model ? 'diffusion model' : 'no diffusion model', !!info.model);
  chip(info.classifier ? 'classifier' : 'no classifier', !!info.classifier);
  chip(info.automask ? 'automatic masks' : 'no automatic masks', info.automask);
  $('auto-mask').disabled = !info.automask;
  for (const f of info.fills) {
    const o = document.createElement('option');
    o.value = f;
    o.textContent = f === 'fast' ? 'fast (patch)' : f;
    $('fill').appendChild(o);
  }
  if (!info.model) {
    for (const id of ['background-on', 'background', 'background-range', 'adversarial']) $(id).disabled = true;
    $('background-on').parentElement.title = 'needs the diffusion model: serve --weights';
    $('sweep-attr').querySelector('option[value=background]').disabled = true;
  }
  if (!info.adversarial) $('adversarial').disabled = true;
  $('tab-bench').hidden = !info.benchmark;
  for (const d of await api('/api/demos')) {
    const o = document.createElement('option');
    o.value = d.id;
    o.textContent = `${d.class} (${d.file})`;
    o.dataset.file = d.file;
    o.dataset.wnid = d.wnid;
    $('demo').appendChild(o);
  }
  $('demo').addEventListener('change', async () => {
    const o = $('demo').selectedOptions[0];
    if (!o.value) return;
    try {
      const [img, mask] = await Promise.all([fetch(`/demo/${o.value}/image`), fetch(`/demo/${o.value}/mask`)]);
      await setImage(await img.blob(), o.dataset.file, o.dataset.wnid);
      await setMask(await mask.blob(), `${o.value}.png`);
      message('');
      schedulePreview();
    } catch (e) { message(e.message); }
  });
  $('image-file').addEventListener('change', async () => {
    const f = $('image-file').files[0];
    if (!f) return;
    $('demo').value = '';
    try { await setImage(f, f.name, null); message(''); } catch (e) { message(`${f.name}: ${e.message}`); }
  });
  $('mask-file').addEventListener('change', async () => {
    const f = $('mask-file').files[0];
    if (!f) return;
    try { await setMask(f, f.name); message(''); schedulePreview(); } catch (e) { message(e.message); }
  });
  $('auto-mask').addEventListener('click', async () => {
    if (!state.image) { message('pick a photo first'); return; }
    $('auto-mask').disabled = true;
    try {
      const f = new FormData();
      f.append('image', state.image.blob, state.image.name);
      const r = await api('/api/mask', { method: 'POST', body: f });
      await setMask(await (await fetch(r.mask)).blob(), state.image.name.replace(/\.[^.]+$/, '') + '.mask.png');
      message('');
      schedulePreview();
    } catch (e) { message(e.message); } finally { $('auto-mask').disabled = false; }
  });
  $('clear-mask').addEventListener('click', () => {
    if (!state.maskCanvas) return;
    state.maskCanvas.getContext('2d').clearRect(0, 0, state.maskCanvas.width, state.maskCanvas.height);
    state.maskBlob = null;
    draw();
    maskInfo();
  });
  setupPainting();
  link('size-range', 'size');
  link('direction-range', 'direction');
  link('background-range', 'background');
  for (const id of ['size-on', 'position-on', 'position-x', 'position-y', 'direction-on', 'direction-object', 'background-on', 'adversarial', 'seed', 'steps', 'harmonize', 'fill', 'live'])
    $(id).addEventListener('input', schedulePreview);
  for (const r of document.querySelectorAll('input[name=position-mode]')) r.addEventListener('input', schedulePreview);
  setupDrag();
  $('apply').addEventListener('click', apply);
  $('cancel').addEventListener('click', () => { if (state.job) fetch(state.job.cancel, { method: 'POST' }); });
  $('sweep-run').addEventListener('click', sweep);
  $('sweep-attr').addEventListener('change', () => {
    const [a, b, n] = SWEEP_DEFAULTS[$('sweep-attr').value];
    $('sweep-from').value = a; $('sweep-to').value = b; $('sweep-count').value = n;
  });
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => tab(b.dataset.tab));
  schedulePreview();
  document.body.dataset.ready = 'true';
}

init().catch((e) => message(`cannot reach the server: ${e.message}`));
