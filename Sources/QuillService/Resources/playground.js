// Quill's playground. Served by quill-server at /playground.js; it talks only to the server that served it
// (POST /complete, /tokenize, /attention and GET /info, as docs/API.md describes them).
'use strict';

const $ = (id) => document.getElementById(id);
const LOGPROBS = 5;              // alternatives shown for each generated token
const INFO_POLL_MS = 10000;      // how often the page asks /info whether the checkpoint changed

// What the page has done, for people debugging it and for scripts/browser-test.py.
const quill = window.quill = { events: 0, tokens: 0, done: false, info: null, sha256: null, attention: null,
  refresh: () => info(true) };

// ---------------------------------------------------------------------------------------------------- helpers

function headers(json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  const key = $('key').value.trim();
  if (key) h.Authorization = 'Bearer ' + key;
  return h;
}

/** The API's error message (docs/API.md: {"error": {"message", "code", ...}}), or the status when there is none. */
async function apiError(response) {
  let message = `HTTP ${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) {
      message = body.error.message + ` (HTTP ${response.status}` + (body.error.code ? `, ${body.error.code})` : ')');
    }
  } catch (_) { /* not JSON: keep the status line */ }
  return new Error(message);
}

async function getJSON(path) {
  const r = await fetch(path, { headers: headers(false) });
  if (!r.ok) throw await apiError(r);
  return r.json();
}

async function postJSON(path, body, signal) {
  const r = await fetch(path, { method: 'POST', headers: headers(true), body: JSON.stringify(body), signal });
  if (!r.ok) throw await apiError(r);
  return r;
}

function showError(id, error) {
  const el = $(id);
  el.hidden = !error;
  el.textContent = error ? String(error.message || error) : '';
}

/** Whitespace made visible, for token pieces. */
function visible(s) {
  return s.replace(/ /g, '\u2423').replace(/\n/g, '\u21b5').replace(/\t/g, '\u21e5').replace(/\r/g, '\u240d');
}

/** A vocabulary piece as text: GPT-2's byte-level pieces spell a space as Ġ and a newline as Ċ. */
function pieceText(piece) {
  return quill.info && quill.info.model.tokenizer === 'bpe' ? piece.replace(/\u0120/g, ' ').replace(/\u010a/g, '\n') : piece;
}

function percent(p) {
  return p >= 0.995 ? (p * 100).toFixed(0) + '%' : p >= 0.001 ? (p * 100).toFixed(1) + '%' : p.toExponential(1);
}

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

/** Background for a token the model gave probability p: clear when sure, strongly tinted when unsure. */
function shade(element, p) {
  element.style.backgroundColor = `rgba(${cssVar('--unsure')}, ${(0.7 * (1 - p)).toFixed(3)})`;
}

// ------------------------------------------------------------------------------------------------- generation

let controller = null;
let pending = [];   // logprobs of tokens whose text has not arrived yet (a character split over tokens)

function decodingOptions() {
  const o = { prompt: $('prompt').value, strategy: $('strategy').value, stream: true, logprobs: LOGPROBS };
  const put = (name, id, parse) => { const v = $(id).value.trim(); if (v !== '') o[name] = parse(v); };
  put('max_tokens', 'max_tokens', Number);
  put('seed', 'seed', Number);
  if (o.strategy !== 'greedy') put('temperature', 'temperature', Number);
  if (o.strategy === 'top_k') put('top_k', 'top_k', Number);
  if (o.strategy === 'top_p') put('top_p', 'top_p', Number);
  return o;
}

function strategyChanged() {
  const s = $('strategy').value;
  $('temperature').disabled = s === 'greedy';
  $('top_k').disabled = s !== 'top_k';
  $('top_p').disabled = s !== 'top_p';
}

async function generate() {
  if (controller) controller.abort();
  controller = new AbortController();
  const signal = controller.signal;
  const body = decodingOptions();
  const out = $('out');
  out.replaceChildren(el('span', { className: 'prompt', textContent: body.prompt }));
  Object.assign(quill, { events: 0, tokens: 0, done: false });
  pending = [];
  showError('gen-error', null);
  hideTip();
  $('stats').textContent = 'waiting for the model…';
  $('go').disabled = true;
  $('stop').disabled = false;
  try {
    const response = await postJSON('/complete', body, signal);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data: ')) continue;   // ": ping" comments keep the stream alive
          const data = line.slice(6);
          if (data !== '[DONE]') onEvent(JSON.parse(data));
        }
      }
    }
  } catch (e) {
    if (e.name === 'AbortError') $('stats').textContent = `stopped after ${quill.tokens} tokens`;
    else { showError('gen-error', e); $('stats').textContent = ''; }
  } finally {
    if (controller && controller.signal === signal) controller = null;
    $('go').disabled = false;
    $('stop').disabled = true;
  }
}

function onEvent(event) {
  quill.events++;
  if (event.finish_reason) {
    quill.done = true;
    const t = event.timings || {};
    $('stats').textContent = `finished (${event.finish_reason}) · ${event.usage.prompt_tokens} prompt tokens, ` +
      `${event.usage.completion_tokens} generated · ${t.tokens_per_second} tokens/s · first token after ` +
      `${((t.queued_ms || 0) + (t.prompt_ms || 0)).toFixed(1)} ms`;
    return;
  }
  const out = $('out');
  pending.push(...(event.logprobs || []));
  quill.tokens += (event.tokens || []).length;
  if (event.text === '') return;
  if (pending.length && pending.map((l) => l.text).join('') === event.text) {
    for (const lp of pending) out.append(tokenSpan(lp.text, [lp]));
  } else if (pending.length) {
    out.append(tokenSpan(event.text, pending));
  } else {
    out.append(event.text);
  }
  pending = [];
  out.scrollTop = out.scrollHeight;
}

/** A generated token (or the tokens of one character), shaded by its probability, with its alternatives. */
function tokenSpan(text, logprobs) {
  const p = logprobs.reduce((a, l) => a * Math.exp(l.logprob), 1);
  const span = el('span', { className: 'gt', tabIndex: 0, textContent: text });
  span.dataset.p = p.toFixed(5);
  span.setAttribute('aria-describedby', 'tip');
  shade(span, p);
  span.logprobs = logprobs;
  span.addEventListener('mouseenter', () => showTip(span));
  span.addEventListener('focus', () => showTip(span));
  span.addEventListener('mouseleave', hideTip);
  span.addEventListener('blur', hideTip);
  return span;
}

function showTip(span) {
  const tip = $('tip');
  tip.replaceChildren();
  for (const lp of span.logprobs) {
    const p = Math.exp(lp.logprob);
    tip.append(el('div', { textContent: `${visible(pieceText(lp.piece))} · token ${lp.token} · p = ${percent(p)}` }));
    const table = el('table');
    const rows = lp.top.slice();
    if (!rows.some((a) => a.token === lp.token)) rows.push({ token: lp.token, piece: lp.piece, logprob: lp.logprob });
    for (const a of rows) {
      const q = Math.exp(a.logprob);
      const bar = el('span', { className: 'bar' });
      bar.style.width = Math.max(2, Math.round(q * 100)) + '%';
      const tr = el('tr', {}, el('td', { textContent: visible(pieceText(a.piece)) }),
        el('td', { className: 'num', textContent: percent(q) }), el('td', {}, bar));
      tr.lastChild.style.width = '40%';
      if (a.token === lp.token) tr.className = 'chosen';
      table.append(tr);
    }
    tip.append(table);
  }
  tip.hidden = false;
  const r = span.getBoundingClientRect();
  const w = tip.offsetWidth, h = tip.offsetHeight;
  const left = Math.max(8, Math.min(r.left, window.innerWidth - w - 8));
  const below = r.bottom + 6;
  tip.style.left = left + 'px';
  tip.style.top = (below + h > window.innerHeight && r.top - h - 6 > 0 ? r.top - h - 6 : below) + 'px';
}

function hideTip() { $('tip').hidden = true; }

// ----------------------------------------------------------------------------------------------------- tokens

let tokenTimer = null;
let tokenRequest = 0;

function tokensSoon() { clearTimeout(tokenTimer); tokenTimer = setTimeout(tokenize, 250); }

async function tokenize() {
  const text = $('prompt').value;
  const id = ++tokenRequest;
  const bpe = quill.info && quill.info.model.tokenizer === 'bpe';
  try {
    const r = await postJSON('/tokenize', { text, explain: bpe });
    const j = await r.json();
    if (id !== tokenRequest) return;   // a newer prompt is on its way
    showError('tok-error', null);
    renderTokens(j);
  } catch (e) {
    if (id === tokenRequest) { showError('tok-error', e); $('pieces').replaceChildren(); $('tok-summary').textContent = ''; }
  }
}

function renderTokens(j) {
  $('tok-summary').textContent = `${j.count} tokens (${j.tokenizer === 'bpe' ? 'byte-level BPE' : 'one per character'})` +
    (j.explain ? ' · choose a token to see how its word was merged' : ' · choose a token for its details');
  const words = [];   // token index → its word in `explain`
  if (j.explain) j.explain.forEach((w, wi) => { for (let k = 0; k < w.steps[w.steps.length - 1].length; k++) words.push(wi); });
  const pieces = $('pieces');
  pieces.replaceChildren();
  $('merges').replaceChildren();
  j.tokens.forEach((id, i) => {
    const [start, end] = j.offsets[i];
    const b = el('button', { type: 'button', className: 'tok',
      title: `token ${id} · characters ${start}–${end} of the prompt` });
    b.setAttribute('aria-pressed', 'false');
    b.setAttribute('aria-label', `token ${i}: ${JSON.stringify(pieceText(j.pieces[i]))}, id ${id}, characters ${start} to ${end}`);
    b.append(el('span', { textContent: visible(pieceText(j.pieces[i])) }), el('span', { className: 'id', textContent: String(id) }));
    b.style.backgroundColor = `hsl(${(i * 67) % 360}, 70%, 82%)`;
    b.addEventListener('click', () => {
      for (const other of pieces.children) other.setAttribute('aria-pressed', 'false');
      b.setAttribute('aria-pressed', 'true');
      showMerges(j, i, words[i]);
    });
    pieces.append(b);
  });
}

function showMerges(j, i, wordIndex) {
  const box = $('merges');
  box.replaceChildren();
  const [start, end] = j.offsets[i];
  box.append(el('p', { className: 'stats',
    textContent: `token ${i}: id ${j.tokens[i]}, piece ${JSON.stringify(j.pieces[i])}, characters ${start}–${end}` }));
  if (!j.explain) {
    box.append(el('p', { className: 'hint', textContent: 'A character tokenizer has no merges: every character is one token.' }));
    return;
  }
  const w = j.explain[wordIndex];
  if (!w) return;
  box.append(el('p', { className: 'hint', textContent: `The word ${JSON.stringify(pieceText(w.word))}: its bytes, then each merge the tokenizer applied, in order.` }));
  const table = el('table');
  w.steps.forEach((parts, s) => {
    const cell = el('td');
    for (const p of parts) cell.append(el('span', { className: 'part', textContent: visible(pieceText(p)) }));
    table.append(el('tr', {}, el('td', { className: 'hint', textContent: s === 0 ? 'bytes' : `merge ${s}` }), cell));
  });
  box.append(table);
}

// -------------------------------------------------------------------------------------------------- attention

let selected = null;   // [layer, head] enlarged

async function attention() {
  showError('att-error', null);
  $('att').disabled = true;
  try {
    const r = await postJSON('/attention', { text: $('prompt').value });
    quill.attention = await r.json();
    renderGrid();
    const [l, h] = selected && selected[0] < quill.attention.n_layer && selected[1] < quill.attention.n_head ? selected : [0, 0];
    enlarge(l, h, false);
  } catch (e) {
    showError('att-error', e);
  } finally {
    $('att').disabled = false;
  }
}

function drawSmall(canvas, a) {
  const n = a.length;
  canvas.width = n; canvas.height = n;
  const g = canvas.getContext('2d');
  const image = g.createImageData(n, n);
  const [r, gr, b] = cssVar('--heat').split(',').map(Number);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) {
    const v = Math.sqrt(a[i][k]);   // square root: small weights stay visible
    const o = 4 * (i * n + k);
    image.data[o] = r; image.data[o + 1] = gr; image.data[o + 2] = b; image.data[o + 3] = Math.round(255 * v);
  }
  g.putImageData(image, 0, 0);
}

function renderGrid() {
  const j = quill.attention;
  const grid = $('grid');
  grid.replaceChildren();
  grid.style.gridTemplateColumns = `auto repeat(${j.n_head}, minmax(28px, 1fr))`;
  grid.append(el('span', { className: 'lab' }));
  for (let h = 0; h < j.n_head; h++) grid.append(el('span', { className: 'lab', textContent: 'H' + h }));
  j.layers.forEach((l, li) => {
    grid.append(el('span', { className: 'lab', textContent: 'L' + l }));
    j.heads.forEach((h, hi) => {
      const b = el('button', { type: 'button', className: 'cell' });
      b.setAttribute('aria-label', `layer ${l}, head ${h}`);
      b.setAttribute('aria-pressed', 'false');
      b.dataset.layer = l; b.dataset.head = h;
      const c = el('canvas');
      drawSmall(c, j.attention[li][hi]);
      b.append(c);
      b.addEventListener('click', () => enlarge(l, h, true));
      grid.append(b);
    });
  });
}

function enlarge(layer, head, focus) {
  const j = quill.attention;
  selected = [layer, head];
  for (const b of $('grid').querySelectorAll('button.cell')) {
    b.setAttribute('aria-pressed', String(+b.dataset.layer === layer && +b.dataset.head === head));
  }
  const a = j.attention[j.layers.indexOf(layer)][j.heads.indexOf(head)];
  const labels = j.pieces.map((p) => visible(pieceText(p)));
  $('big').hidden = false;
  $('big-title').textContent = `Layer ${layer}, head ${head}`;
  drawBig(a, labels);
  drawHeadView(a, labels, a.length - 1);
  if (focus) $('big-close').focus();
}

function drawBig(a, labels) {
  const n = a.length, canvas = $('heat'), g = canvas.getContext('2d');
  const cell = Math.max(10, Math.min(28, Math.floor(520 / n)));
  const font = `${Math.min(12, cell)}px ui-monospace, monospace`;
  g.font = font;
  const margin = Math.min(90, Math.ceil(Math.max(...labels.map((s) => g.measureText(s).width))) + 8);
  const size = margin + n * cell;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = size * dpr; canvas.height = size * dpr;
  canvas.style.width = size + 'px'; canvas.style.height = size + 'px';
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, size, size);
  const heat = cssVar('--heat');
  for (let i = 0; i < n; i++) for (let k = 0; k <= i; k++) {
    g.fillStyle = `rgba(${heat}, ${Math.sqrt(a[i][k]).toFixed(3)})`;
    g.fillRect(margin + k * cell, margin + i * cell, cell - 1, cell - 1);
  }
  g.font = font;
  g.fillStyle = cssVar('--fg');
  g.textBaseline = 'middle';
  g.textAlign = 'right';
  labels.forEach((s, i) => g.fillText(s, margin - 4, margin + i * cell + cell / 2, margin - 6));   // queries: rows
  labels.forEach((s, k) => {                                                                        // keys: columns
    g.save();
    g.translate(margin + k * cell + cell / 2, margin - 4);
    g.rotate(-Math.PI / 2);
    g.textAlign = 'left';
    g.fillText(s, 0, 0, margin - 6);
    g.restore();
  });
  canvas.onmousemove = (e) => {
    const r = canvas.getBoundingClientRect();
    const k = Math.floor((e.clientX - r.left - margin) / cell), i = Math.floor((e.clientY - r.top - margin) / cell);
    if (i >= 0 && i < n && k >= 0 && k < n) {
      $('heat-value').textContent = `query ${i} ${JSON.stringify(labels[i])} → key ${k} ${JSON.stringify(labels[k])}: ${a[i][k].toFixed(4)}`;
    }
  };
}

/** bertviz's head view: queries on the left, keys on the right, a line for each weight of the chosen query. */
function drawHeadView(a, labels, query) {
  const n = a.length, row = 18, width = 300, gap = 180;
  const view = $('headview');
  view.replaceChildren();
  view.setAttribute('width', width); view.setAttribute('height', n * row + 8);
  view.setAttribute('viewBox', `0 0 ${width} ${n * row + 8}`);
  const lines = svg('g');
  view.append(lines);
  const left = [], right = [];
  labels.forEach((s, i) => {
    const y = i * row + row / 2 + 4;
    const l = svg('text', { x: (width - gap) / 2 - 6, y, 'text-anchor': 'end', 'dominant-baseline': 'middle', tabindex: 0 }, s);
    l.setAttribute('aria-label', `token ${i} ${JSON.stringify(s)}: show where it looks`);
    const r = svg('text', { x: (width + gap) / 2 + 6, y, 'dominant-baseline': 'middle' }, s);
    l.addEventListener('mouseenter', () => choose(i));
    l.addEventListener('focus', () => choose(i));
    view.append(l, r);
    left.push(l); right.push(r);
  });
  function choose(i) {
    lines.replaceChildren();
    left.forEach((t, k) => t.classList.toggle('on', k === i));
    for (let k = 0; k <= i; k++) {
      if (a[i][k] < 0.005) continue;
      lines.append(svg('line', { x1: (width - gap) / 2, y1: i * row + row / 2 + 4, x2: (width + gap) / 2,
        y2: k * row + row / 2 + 4, 'stroke-width': 1 + 3 * a[i][k], 'stroke-opacity': Math.min(1, 0.15 + a[i][k]).toFixed(3) }));
    }
    right.forEach((t, k) => t.classList.toggle('on', k <= i && a[i][k] >= 0.2));
  }
  choose(query);
}

// ------------------------------------------------------------------------------------------------------ model

function formatCount(n) {
  return n >= 1e9 ? (n / 1e9).toFixed(2) + 'B' : n >= 1e6 ? (n / 1e6).toFixed(2) + 'M' : n >= 1e3 ? (n / 1e3).toFixed(1) + 'k' : String(n);
}

function renderCard(info) {
  const m = info.model, t = m.training;
  const loss = (x) => (x == null ? '–' : x.toFixed(4));
  const rows = [
    ['name', m.name],
    ['checkpoint', m.checkpoint],
    ['SHA-256', m.sha256],
    ['format', m.format || 'quill'],
    ['parameters', `${formatCount(m.parameters)} (${m.parameters.toLocaleString('en')})`],
    ['shape', `${m.n_layer} layers × ${m.n_head} heads × ${m.n_embd} wide, context ${m.block_size} tokens`],
    ['tokenizer', `${m.tokenizer === 'bpe' ? 'byte-level BPE' : 'characters'}, ${m.vocab_size.toLocaleString('en')} tokens`],
    ['training', `${t.steps.toLocaleString('en')} steps, ${formatCount(t.tokens)} tokens, ${Math.round(t.duration_seconds)} s`],
    ['loss', `train ${loss(t.train_loss)} · val ${loss(t.val_loss)} · best val ${loss(t.best_val_loss)}`],
  ];
  if (t.command) rows.push(['command', t.command]);
  rows.push(['server', `quill-server ${info.server.version}, batch ${info.server.batch_capacity}, up ${Math.round(info.server.uptime_seconds)} s`]);
  const card = $('card');
  card.replaceChildren();
  for (const [k, v] of rows) card.append(el('dt', { textContent: k }), el('dd', { textContent: v }));
  drawLoss(t.history || []);
}

/** Round numbers for an axis from lo to hi, about `count` of them. */
function ticks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function drawLoss(history) {
  const plot = $('loss');
  plot.replaceChildren();
  if (!history.length) {
    plot.setAttribute('viewBox', '0 0 440 40');
    plot.append(svg('text', { x: 10, y: 24 }, 'This checkpoint has no training history.'));
    return;
  }
  plot.setAttribute('viewBox', '0 0 440 220');
  const W = 440, H = 220, L = 48, R = 12, T = 12, B = 40;
  const xs = history.map((e) => e.step), ys = history.flatMap((e) => [e.train, e.val]).filter((v) => v != null);
  const x0 = Math.min(...xs, 0), x1 = Math.max(...xs, 1), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const pad = (y1 - y0) * 0.05 || 0.1;
  const lo = y0 - pad, hi = y1 + pad;
  const X = (x) => L + (W - L - R) * (x - x0) / ((x1 - x0) || 1);
  const Y = (y) => T + (H - T - B) * (hi - y) / ((hi - lo) || 1);
  for (const v of ticks(lo, hi, 4)) {
    plot.append(svg('line', { class: 'gridline', x1: L, x2: W - R, y1: Y(v), y2: Y(v) }));
    plot.append(svg('text', { x: L - 6, y: Y(v) + 4, 'text-anchor': 'end' }, String(v)));
  }
  for (const v of ticks(x0, x1, 5)) {
    plot.append(svg('line', { class: 'axis', x1: X(v), x2: X(v), y1: H - B, y2: H - B + 4 }));
    plot.append(svg('text', { x: X(v), y: H - B + 16, 'text-anchor': 'middle' }, formatCount(v)));
  }
  plot.append(svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }));
  plot.append(svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }));
  plot.append(svg('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle' }, 'step'));
  plot.append(svg('text', { x: 12, y: (T + H - B) / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${(T + H - B) / 2})` }, 'loss'));
  for (const [key, cls] of [['train', 'train'], ['val', 'val']]) {
    const pts = history.filter((e) => e[key] != null).map((e) => `${X(e.step).toFixed(1)},${Y(e[key]).toFixed(1)}`);
    if (pts.length) plot.append(svg('polyline', { class: 'curve ' + cls, points: pts.join(' ') }));
  }
  plot.append(svg('line', { class: 'curve train', x1: W - 150, x2: W - 130, y1: T + 6, y2: T + 6 }));
  plot.append(svg('text', { x: W - 126, y: T + 10 }, 'train'));
  plot.append(svg('line', { class: 'curve val', x1: W - 80, x2: W - 60, y1: T + 6, y2: T + 6 }));
  plot.append(svg('text', { x: W - 56, y: T + 10 }, 'validation'));
}

async function info(poll) {
  try {
    const j = await getJSON('/info');
    showError('info-error', null);
    const firstLoad = !quill.info;
    if (quill.sha256 && j.model.sha256 !== quill.sha256) {
      const n = $('reloaded');
      n.textContent = `The server now serves a different checkpoint (${j.model.name}, step ${j.model.training.steps}, ` +
        `SHA-256 ${j.model.sha256.slice(0, 12)}…), seen at ${new Date().toLocaleTimeString()}. The model card below is updated; ` +
        'the text above came from the checkpoint before it.';
      n.hidden = false;
    }
    const changed = !quill.info || j.model.sha256 !== quill.sha256;
    quill.info = j;
    quill.sha256 = j.model.sha256;
    if (changed || !poll) renderCard(j);
    if (firstLoad) tokenize();
  } catch (e) {
    showError('info-error', e);
  }
}

// ------------------------------------------------------------------------------------------------------ start

function start() {
  try { $('key').value = sessionStorage.getItem('quill-key') || ''; } catch (_) { /* storage may be off */ }
  $('key').addEventListener('change', () => {
    try { sessionStorage.setItem('quill-key', $('key').value); } catch (_) { /* storage may be off */ }
    info(false); tokenize();
  });
  for (const s of document.querySelectorAll('.swatch')) shade(s, +s.dataset.p);
  $('strategy').addEventListener('change', strategyChanged);
  strategyChanged();
  $('go').addEventListener('click', () => { generate(); tokenize(); });
  $('stop').addEventListener('click', () => controller && controller.abort());
  $('att').addEventListener('click', attention);
  $('prompt').addEventListener('input', tokensSoon);
  $('prompt').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); $('go').click(); } });
  $('big-close').addEventListener('click', () => {
    $('big').hidden = true;
    const b = selected && $('grid').querySelector(`button.cell[data-layer="${selected[0]}"][data-head="${selected[1]}"]`);
    if (b) { b.setAttribute('aria-pressed', 'false'); b.focus(); }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    hideTip();
    if (!$('big').hidden) $('big-close').click();
  });
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    for (const s of document.querySelectorAll('.swatch, .gt')) shade(s, +s.dataset.p);
    if (quill.attention) { renderGrid(); if (selected && !$('big').hidden) enlarge(selected[0], selected[1], false); }
  });
  info(false);
  setInterval(() => { if (!document.hidden) info(true); }, INFO_POLL_MS);
}

start();
