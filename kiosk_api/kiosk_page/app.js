// The kiosk page: pairing, the question, the follow-up, thanks, and the sending behind them.
//
// Test hooks: document.body.dataset.screen is always one of SCREENS; window.kioskpulseReady
// resolves ({ screen, queued }) once the page has its config (or knows it has none: the
// pairing and inactive screens) and has opened its queue.

import { call, kioskPath } from './api.js';
import { format, levelLabels, pickLanguage, reasonLabel, textsFor } from './i18n.js';
import { Outbox } from './outbox.js';
import { Sender } from './sender.js';
import { levelColour, smiley } from './smileys.js';

const FIRMWARE = 'kiosk-page/1';
const CREDENTIALS_KEY = 'kioskpulse.credentials';
const CONFIG_KEY = 'kioskpulse.config';
const INACTIVE_KEY = 'kioskpulse.inactive';
const INACTIVE_RECHECK_MS = 60 * 1000;
const CONFIG_REFRESH_MS = 5 * 60 * 1000; // pick up a new question or scale without a reload
const CONFIG_TIMEOUT_MS = 8000; // start from the saved config rather than wait on a slow API
// An NPS kiosk ("how likely are you to recommend us?"): scores 0..10, not smileys 1..scale.
const NPS_SCALE = 11;

/** The lowest rating of a scale: 0 on an NPS kiosk, 1 on smileys. */
function firstRating(scale) {
  return scale === NPS_SCALE ? 0 : 1;
}

const SCREENS = ['loading', 'pairing', 'question', 'followup', 'thanks', 'inactive'];
const SECTION = {
  loading: 'loading',
  pairing: 'pairing',
  question: 'question-screen',
  followup: 'followup',
  thanks: 'thanks',
  inactive: 'inactive',
};

const DEFAULT_CONFIG = {
  scale: 4,
  question: null,
  language: null,
  followup: { max_rating: 2, reasons: ['queue', 'staff', 'product', 'cleanliness', 'price', 'other'], timeout_seconds: 15 },
  press_interval_seconds: 5,
  thanks_seconds: 4,
  heartbeat_seconds: 60,
};

const $ = (id) => document.getElementById(id);
const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

// ------------------------------------------------------------------ state

const outbox = new Outbox();
let credentials = null; // { kiosk_id, token }
let config = null; // the normalised config in use
let pendingConfig = null; // a refreshed config waiting for the question screen to come back
let texts = textsFor('en');
let screen = 'loading';
let screenTimer = null; // the thanks / follow-up timeout of the screen shown
let cooldownUntil = 0; // rating buttons are disabled until then (ms)
let cooldownTimer = null;
let inactiveTimer = null;
let refreshTimer = null;
let heartbeatTimer = null;
let queued = 0;
let sendStatus = { state: 'ok' };

const sender = new Sender({
  outbox,
  credentials: () => credentials,
  onStatus: (status) => {
    sendStatus = status;
    renderStatus();
  },
  onUnauthorised: () => becomeInactive(),
});

let markReady;
window.kioskpulseReady = new Promise((resolve) => {
  markReady = () => resolve({ screen, queued });
});

// ------------------------------------------------------------------ small helpers

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts only (https, localhost)
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function readJson(key) {
  try {
    return JSON.parse(localStorage.getItem(key));
  } catch {
    return null;
  }
}

function positive(value, fallback) {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/** The config as the page uses it, whatever the server left out. */
function normalise(raw) {
  const c = raw || {};
  const known = Number.isInteger(c.scale) && ((c.scale >= 2 && c.scale <= 5) || c.scale === NPS_SCALE);
  const scale = known ? c.scale : DEFAULT_CONFIG.scale;
  const f = c.followup || {};
  // Below the lowest rating the follow-up is never asked: 0 on smileys, -1 on NPS (0..10).
  const never = firstRating(scale) - 1;
  const maxRating = Number(f.max_rating);
  return {
    scale,
    question: typeof c.question === 'string' && c.question.trim() ? c.question.trim() : null,
    language: typeof c.language === 'string' && c.language ? c.language : null,
    followup: {
      max_rating: c.followup && Number.isInteger(maxRating) ? maxRating : never,
      reasons: Array.isArray(f.reasons) ? f.reasons.filter((r) => typeof r === 'string' && r) : [],
      timeout_seconds: positive(f.timeout_seconds, DEFAULT_CONFIG.followup.timeout_seconds),
    },
    press_interval_seconds: Math.max(0, Number(c.press_interval_seconds) || 0),
    thanks_seconds: positive(c.thanks_seconds, DEFAULT_CONFIG.thanks_seconds),
    heartbeat_seconds: Math.max(5, positive(c.heartbeat_seconds, DEFAULT_CONFIG.heartbeat_seconds)),
  };
}

// ------------------------------------------------------------------ language and texts

function applyLanguage() {
  const preferred = config && config.language ? [config.language] : navigator.languages || [navigator.language];
  const lang = pickLanguage(preferred);
  texts = textsFor(lang);
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll('[data-i18n]')) {
    node.textContent = texts[node.dataset.i18n];
  }
  const ownQuestion = config && config.scale === NPS_SCALE ? texts.npsQuestion : texts.question;
  $('question').textContent = (config && config.question) || ownQuestion;
  renderStatus();
}

// ------------------------------------------------------------------ screens

function show(name) {
  if (!SCREENS.includes(name)) throw new Error(`unknown screen ${name}`);
  clearTimeout(screenTimer);
  screenTimer = null;
  const previous = document.querySelector('.screen:not([hidden])');
  const hadFocus = previous && previous.contains(document.activeElement);
  for (const key of SCREENS) $(SECTION[key]).hidden = key !== name;
  screen = name;
  document.body.dataset.screen = name;
  const section = $(SECTION[name]);
  const title = section.querySelector('.screen-title');
  // Keyboard users keep their place: focus moves to the new screen's title, and Tab
  // goes on from there (touch users never see this focus: titles have no ring). A
  // screen reader reads the focused title; otherwise the live region says what changed.
  const focusMoved = Boolean(hadFocus && title);
  if (focusMoved) title.focus({ preventScroll: true });
  if (name === 'question') {
    if (pendingConfig) useConfig(pendingConfig);
    showCooldown();
  }
  if (!focusMoved && title) $('announcer').textContent = title.textContent;
}

// ------------------------------------------------------------------ the question

function renderRatings() {
  if (config.scale === NPS_SCALE) {
    renderScores();
    return;
  }
  const box = $('ratings');
  const labels = levelLabels(texts, config.scale);
  box.replaceChildren();
  box.dataset.scale = String(config.scale);
  box.style.setProperty('--n', String(config.scale));
  for (let rating = 1; rating <= config.scale; rating += 1) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'rating';
    button.dataset.rating = String(rating);
    button.setAttribute('aria-label', labels[rating - 1]);
    const label = document.createElement('span');
    label.className = 'rating-label';
    label.textContent = labels[rating - 1];
    label.setAttribute('aria-hidden', 'true');
    button.append(smiley(rating, config.scale), label);
    box.append(button);
  }
  setRatingsDisabled(Date.now() < cooldownUntil);
}

/** An NPS kiosk: a row of numbered buttons 0..10, "not likely" and "extremely likely"
 * under its ends, each button coloured along the smileys' scale. */
function renderScores() {
  const box = $('ratings');
  box.replaceChildren();
  box.dataset.scale = String(NPS_SCALE);
  box.style.setProperty('--n', String(NPS_SCALE));
  const row = document.createElement('div');
  row.className = 'scores';
  for (let score = 0; score <= 10; score += 1) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'rating score';
    button.dataset.rating = String(score);
    button.textContent = String(score);
    button.style.setProperty('--colour', levelColour(score + 1, NPS_SCALE));
    const end = score === 0 ? texts.npsLow : score === 10 ? texts.npsHigh : '';
    button.setAttribute('aria-label', end ? `${score}, ${end}` : String(score));
    row.append(button);
  }
  const ends = document.createElement('div');
  ends.className = 'score-ends';
  ends.setAttribute('aria-hidden', 'true');
  for (const text of [texts.npsLow, texts.npsHigh]) {
    const end = document.createElement('span');
    end.textContent = text;
    ends.append(end);
  }
  box.append(row, ends);
  setRatingsDisabled(Date.now() < cooldownUntil);
}

function setRatingsDisabled(disabled) {
  for (const button of $('ratings').querySelectorAll('button.rating')) button.disabled = disabled;
}

function startCooldown() {
  const ms = config.press_interval_seconds * 1000;
  setRatingsDisabled(true); // at once: a second finger in the same instant is ignored
  cooldownUntil = Date.now() + ms;
  clearTimeout(cooldownTimer);
  cooldownTimer = setTimeout(() => {
    cooldownUntil = 0;
    setRatingsDisabled(false);
    $('cooldown').hidden = true;
  }, ms);
  if (screen === 'question') showCooldown();
}

/** The bar under the buttons that shrinks until they can be pressed again. */
function showCooldown() {
  const bar = $('cooldown');
  const left = cooldownUntil - Date.now();
  const total = config ? config.press_interval_seconds * 1000 : 0;
  if (left <= 0 || total <= 0) {
    bar.hidden = true;
    return;
  }
  bar.hidden = false;
  runBar(bar.firstElementChild, left / total, left);
}

/** Shrink a bar from `from` (share of its width) to nothing over `ms`. */
function runBar(fill, from, ms) {
  for (const animation of fill.getAnimations()) animation.cancel();
  if (reducedMotion.matches) {
    fill.style.transform = `scaleX(${from})`; // a still bar: it still says "wait"
    return;
  }
  fill.style.transform = 'scaleX(0)';
  fill.animate([{ transform: `scaleX(${from})` }, { transform: 'scaleX(0)' }], { duration: ms, easing: 'linear' });
}

async function press(rating) {
  if (screen !== 'question' || Date.now() < cooldownUntil) return;
  const item = { event_id: uuid(), rating, pressed_at: new Date().toISOString() };
  startCooldown();
  try {
    await outbox.add('rating', item); // stored before anything is sent
  } catch (err) {
    console.error('kioskpulse: could not queue the press', err);
  }
  sender.kick();
  keepAwake(); // a press is a user gesture: where the first request was refused, this one may not be
  const { followup } = config;
  if (rating <= followup.max_rating && followup.reasons.length) showFollowup(item.event_id);
  else showThanks();
}

// ------------------------------------------------------------------ follow-up and thanks

function showFollowup(ratingEventId) {
  const box = $('reasons');
  box.replaceChildren();
  for (const reason of config.followup.reasons) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'reason';
    button.dataset.reason = reason;
    button.textContent = reasonLabel(texts, reason);
    button.addEventListener('click', () => answer(ratingEventId, reason));
    box.append(button);
  }
  box.dataset.count = String(config.followup.reasons.length);
  $('followup-skip').disabled = false;
  show('followup');
  const ms = config.followup.timeout_seconds * 1000;
  runBar($('followup-timer').firstElementChild, 1, ms);
  // No answer in time: the customer has walked away; the next one sees the question.
  screenTimer = setTimeout(() => show('question'), ms);
}

/** One answer per press: the first tap wins, a second finger in the same instant is ignored. */
function closeFollowup() {
  if (screen !== 'followup' || $('followup-skip').disabled) return false;
  clearTimeout(screenTimer);
  for (const button of $('followup').querySelectorAll('button')) button.disabled = true;
  return true;
}

async function answer(ratingEventId, reason) {
  if (!closeFollowup()) return;
  const item = { event_id: uuid(), rating_event_id: ratingEventId, reason, answered_at: new Date().toISOString() };
  try {
    await outbox.add('followup', item);
  } catch (err) {
    console.error('kioskpulse: could not queue the follow-up', err);
  }
  sender.kick();
  showThanks();
}

function showThanks() {
  show('thanks');
  screenTimer = setTimeout(() => show('question'), config.thanks_seconds * 1000);
}

// ------------------------------------------------------------------ status line

function renderStatus() {
  $('queue-count').textContent = String(queued);
  const footer = $('status');
  footer.dataset.state = sendStatus.state;
  const words = {
    ok: queued === 0 ? texts.stateOk : '',
    sending: texts.stateSending,
    failed: `${texts.stateFailed}${sendStatus.reason ? ` (${sendStatus.reason})` : ''}`,
    unauthorised: texts.stateUnauthorised,
  };
  $('send-state').textContent = words[sendStatus.state] || '';
}

// ------------------------------------------------------------------ config

/**
 * Fetch the kiosk's config: "ok" (saved for offline starts), "inactive" (401/403),
 * or "offline" (network error, timeout, any other answer).
 */
async function fetchConfig() {
  try {
    const answer = await call('GET', kioskPath(credentials.kiosk_id, 'config'), {
      token: credentials.token,
      timeoutMs: CONFIG_TIMEOUT_MS,
    });
    if (answer.status === 200 && answer.body) {
      localStorage.setItem(CONFIG_KEY, JSON.stringify({ kiosk_id: credentials.kiosk_id, config: answer.body }));
      localStorage.removeItem(INACTIVE_KEY);
      return { result: 'ok', config: normalise(answer.body) };
    }
    if (answer.status === 401 || answer.status === 403) return { result: 'inactive' };
  } catch {
    // offline or timed out: below
  }
  return { result: 'offline' };
}

function savedConfig() {
  const saved = readJson(CONFIG_KEY);
  return saved && credentials && saved.kiosk_id === credentials.kiosk_id ? normalise(saved.config) : null;
}

/** Use `next` as the config: language, texts, buttons. */
function useConfig(next) {
  const before = config;
  config = next;
  pendingConfig = null;
  applyLanguage();
  renderRatings();
  if (heartbeatTimer && before && before.heartbeat_seconds !== next.heartbeat_seconds) startHeartbeat();
}

/** Start (or restart after pairing or reactivation) with the stored credentials. */
async function activate() {
  const fetched = await fetchConfig();
  if (fetched.result === 'inactive') {
    becomeInactive();
    return;
  }
  let next = fetched.config;
  if (!next) {
    // Offline start: the last config we saw, else the defaults, and keep asking.
    if (localStorage.getItem(INACTIVE_KEY)) {
      becomeInactive();
      return;
    }
    next = savedConfig() || normalise(DEFAULT_CONFIG);
  }
  useConfig(next);
  startHeartbeat();
  scheduleRefresh(fetched.result === 'ok' ? CONFIG_REFRESH_MS : INACTIVE_RECHECK_MS);
  show('question');
  sender.resume();
}

function scheduleRefresh(ms) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshConfig, ms);
}

async function refreshConfig() {
  refreshTimer = null;
  if (!credentials || screen === 'inactive' || screen === 'pairing') return;
  const fetched = await fetchConfig();
  if (fetched.result === 'inactive') {
    becomeInactive();
    return;
  }
  if (fetched.result === 'ok' && JSON.stringify(fetched.config) !== JSON.stringify(config)) {
    // Never swap the buttons under someone's finger: a customer on the follow-up or
    // thanks screen gets the new config when the question comes back.
    if (screen === 'question' && Date.now() >= cooldownUntil) useConfig(fetched.config);
    else pendingConfig = fetched.config;
  }
  scheduleRefresh(fetched.result === 'ok' ? CONFIG_REFRESH_MS : INACTIVE_RECHECK_MS);
}

// ------------------------------------------------------------------ inactive

function becomeInactive() {
  sender.pause();
  stopHeartbeat();
  clearTimeout(refreshTimer);
  localStorage.setItem(INACTIVE_KEY, '1');
  sendStatus = { state: 'unauthorised' };
  renderStatus();
  if (screen !== 'pairing') show('inactive');
  clearInterval(inactiveTimer);
  inactiveTimer = setInterval(recheckInactive, INACTIVE_RECHECK_MS);
}

async function recheckInactive() {
  if (!credentials || screen !== 'inactive') return;
  const fetched = await fetchConfig();
  if (fetched.result !== 'ok' || screen !== 'inactive') return;
  clearInterval(inactiveTimer);
  inactiveTimer = null;
  useConfig(fetched.config);
  startHeartbeat();
  scheduleRefresh(CONFIG_REFRESH_MS);
  show('question');
  sender.resume();
}

// ------------------------------------------------------------------ heartbeat

function startHeartbeat() {
  stopHeartbeat();
  if (!config) return;
  heartbeat();
  heartbeatTimer = setInterval(heartbeat, config.heartbeat_seconds * 1000);
}

function stopHeartbeat() {
  clearInterval(heartbeatTimer);
  heartbeatTimer = null;
}

async function heartbeat() {
  // While the server has told this kiosk to wait (429/503 Retry-After), a heartbeat would
  // only be refused too, and take the rate limit's next token from the queued presses.
  if (!credentials || Date.now() < sender.hardUntil) return;
  try {
    const answer = await call('POST', kioskPath(credentials.kiosk_id, 'heartbeat'), {
      token: credentials.token,
      body: { sent_at: new Date().toISOString(), buffered: queued, firmware: FIRMWARE },
    });
    if (answer.status === 401 || answer.status === 403) becomeInactive();
    else if (answer.retryAfter != null && (answer.status === 429 || answer.status === 503)) sender.holdOff(answer.retryAfter);
  } catch {
    // a missed heartbeat is what an offline kiosk looks like; nothing to keep
  }
}

// ------------------------------------------------------------------ pairing

function setPairMessage(title, detail) {
  const box = $('pair-message');
  box.replaceChildren();
  if (title) {
    const heading = document.createElement('h2');
    heading.className = 'pair-message-title';
    heading.textContent = title;
    box.append(heading);
  }
  if (detail) {
    const p = document.createElement('p');
    p.className = 'pair-message-detail';
    p.textContent = detail;
    box.append(p);
  }
  box.dataset.kind = title || detail ? 'error' : '';
}

function showPairing(code) {
  stopHeartbeat();
  clearInterval(inactiveTimer);
  clearTimeout(refreshTimer);
  sender.pause();
  $('pair-code').value = code || '';
  setPairMessage(null, null);
  show('pairing');
  if (!code) $('pair-code').focus({ preventScroll: true });
}

async function pair(event) {
  if (event) event.preventDefault(); // form-action 'none': the form never navigates
  setPairMessage(null, null); // at once: an old message must not pass for the new answer
  const button = $('pair-submit');
  if (button.disabled) return; // one attempt at a time
  const code = $('pair-code').value.trim().toUpperCase();
  if (!code) {
    setPairMessage(null, texts.pairEmpty);
    return;
  }
  button.disabled = true;
  button.textContent = texts.pairWorking;
  try {
    const answer = await call('POST', '/v1/pairing', { body: { code } });
    if (answer.status === 200 && answer.body && answer.body.kiosk_id && answer.body.token) {
      setCredentials({ kiosk_id: answer.body.kiosk_id, token: answer.body.token });
      setPairMessage(null, null);
      show('loading');
      await activate();
    } else if (answer.status === 429) {
      setPairMessage(null, texts.pairBusy);
    } else if (answer.body && typeof answer.body.detail === 'string') {
      setPairMessage(texts.pairFailed, answer.body.detail);
    } else {
      setPairMessage(texts.pairFailed, format(texts.pairUnexpected, { status: answer.status }));
    }
  } catch {
    setPairMessage(null, texts.pairOffline);
  } finally {
    button.disabled = false;
    button.textContent = texts.pairSubmit;
  }
}

function setCredentials(next) {
  if (credentials && credentials.kiosk_id !== next.kiosk_id) localStorage.removeItem(CONFIG_KEY);
  credentials = next;
  localStorage.setItem(CREDENTIALS_KEY, JSON.stringify(next));
  localStorage.removeItem(INACTIVE_KEY);
}

/** `#id=K&token=T` or `#pair=CODE`, taken out of the address bar so it is not left on screen. */
function readFragment() {
  if (!location.hash || location.hash.length < 2) return {};
  const params = new URLSearchParams(location.hash.slice(1));
  history.replaceState(null, '', location.pathname + location.search);
  const id = params.get('id');
  const token = params.get('token');
  if (id && token) return { credentials: { kiosk_id: id, token } };
  const code = params.get('pair');
  return code ? { pairCode: code } : {};
}

// ------------------------------------------------------------------ wiring

function wire() {
  $('ratings').addEventListener('click', (event) => {
    const button = event.target.closest('button.rating');
    if (button && !button.disabled) press(Number(button.dataset.rating));
  });
  $('followup-skip').addEventListener('click', () => {
    if (closeFollowup()) showThanks();
  });
  $('pair-form').addEventListener('submit', pair);
  $('inactive-repair').addEventListener('click', () => showPairing(''));

  outbox.onChange((count) => {
    queued = count;
    renderStatus();
  });
  window.addEventListener('online', () => sender.kick({ force: true }));
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      sender.kick();
      keepAwake();
    }
  });
  // A long press on a tablet must not open a context menu over the buttons.
  document.addEventListener('contextmenu', (event) => event.preventDefault());
  reducedMotion.addEventListener('change', () => screen === 'question' && showCooldown());
  // The faces take the height the question leaves (one line, or three for a long custom
  // question in portrait): CSS reads it from --question-h.
  new ResizeObserver(() => {
    const height = $('question').offsetHeight;
    if (height) $('question-screen').style.setProperty('--question-h', `${height}px`);
  }).observe($('question'));
}

/** Ask the tablet not to dim its screen (secure contexts only; harmless where refused). */
let wakeLock = null;
async function keepAwake() {
  if (wakeLock && !wakeLock.released) return;
  try {
    if ('wakeLock' in navigator && document.visibilityState === 'visible') wakeLock = await navigator.wakeLock.request('screen');
  } catch {
    // not allowed (no user gesture yet, battery saver): the tablet's own settings decide
  }
}

function registerServiceWorker() {
  // Service workers need a secure context (https or localhost); elsewhere the page
  // still works, it just cannot start without the server.
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/kiosk/sw.js', { scope: '/kiosk' }).catch((err) => {
    console.warn('kioskpulse: service worker not registered', err);
  });
}

async function start() {
  wire();
  applyLanguage(); // the browser's language until the config names one
  registerServiceWorker();
  keepAwake();
  await outbox.open();

  const fragment = readFragment();
  if (fragment.credentials) setCredentials(fragment.credentials);
  else credentials = readJson(CREDENTIALS_KEY);

  if (fragment.pairCode) {
    showPairing(fragment.pairCode);
    markReady();
    await pair();
    return;
  }
  if (!credentials || !credentials.kiosk_id || !credentials.token) {
    credentials = null;
    showPairing('');
  } else {
    await activate();
  }
  markReady();
}

start().catch((err) => {
  console.error('kioskpulse: start failed', err);
  markReady();
});
