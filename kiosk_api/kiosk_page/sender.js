// Sends the outbox to the API, oldest first, one request at a time.
//
// What an answer does to the events of the batch it answered:
//   2xx                      sent: delete exactly them
//   422 naming items         delete (and console.warn) only those; resend the rest at once
//   other 4xx, 422 without   the batch holds something the server will never take: send
//     item indexes             its events one by one so the bad one is dropped alone
//   401, 403                 the token is refused: keep everything, tell the page, stop
//   404, 405, 408, 429, 5xx, keep them; retry after an exponential backoff with full
//     network error            jitter, but never sooner than the server's Retry-After
// 404/405 are treated as "retry later", not as a bad event: they mean the route is
// missing (an older API, a proxy in between), and dropping the events would lose presses.

import { call, kioskPath } from './api.js';

const BATCH_LIMIT = 100;
const BACKOFF_BASE_S = 1;
const BACKOFF_CAP_S = 60;
const RETRY_AFTER_CAP_S = 3600; // a nonsense Retry-After must not silence the kiosk for days
const SWEEP_MS = 30000; // safety net: look at the queue now and then even if nothing kicked us

const ENDPOINTS = {
  rating: { path: 'ratings', key: 'ratings' },
  followup: { path: 'followups', key: 'followups' },
};

/** The item indexes a 422's `detail[].loc` points at ("ratings", 3, ...), unique, in range. */
export function invalidIndexes(body, key, size) {
  const found = new Set();
  const details = body && Array.isArray(body.detail) ? body.detail : [];
  for (const entry of details) {
    const loc = entry && Array.isArray(entry.loc) ? entry.loc : [];
    for (let i = 0; i < loc.length - 1; i += 1) {
      const index = loc[i + 1];
      if (loc[i] === key && Number.isInteger(index) && index >= 0 && index < size) found.add(index);
    }
  }
  return [...found].sort((a, b) => a - b);
}

export class Sender {
  /**
   * @param outbox      the Outbox
   * @param credentials () => ({ kiosk_id, token }) or null
   * @param onStatus    ({ state: "ok" | "sending" | "failed" | "unauthorised", reason }) => void
   * @param onUnauthorised (status) => void
   */
  constructor({ outbox, credentials, onStatus, onUnauthorised }) {
    this.outbox = outbox;
    this.credentials = credentials;
    this.onStatus = onStatus || (() => {});
    this.onUnauthorised = onUnauthorised || (() => {});
    this.running = null; // the drain in progress: only one request in flight, ever
    this.again = false;
    this.paused = true;
    this.failures = 0;
    this.softUntil = 0; // our own backoff: an `online` event may cut it short
    this.hardUntil = 0; // the server's Retry-After: nothing cuts it short
    this.timer = null;
    this.sweeper = null;
  }

  start() {
    this.paused = false;
    if (!this.sweeper) this.sweeper = setInterval(() => this.kick(), SWEEP_MS);
    this.kick();
  }

  /** The token was refused: keep the queue, send nothing until resume(). */
  pause() {
    this.paused = true;
  }

  resume() {
    this.failures = 0;
    this.softUntil = 0;
    this.start();
  }

  /** Send what is queued, now if we may. `force` ends our own backoff early (not Retry-After). */
  kick({ force = false } = {}) {
    if (this.paused) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const now = Date.now();
    if (now < this.hardUntil || (now < this.softUntil && !force)) return;
    this.running = this.drain()
      .catch((err) => {
        // IndexedDB trouble, not the network: try again later like any failure.
        console.error('kioskpulse: sending failed', err);
        this.retryLater(null, 'error');
      })
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  async drain() {
    let isolateThrough = null; // events up to this key are sent one per request
    for (;;) {
      const creds = this.credentials();
      if (this.paused || !creds) return;
      const head = await this.outbox.oldest(BATCH_LIMIT);
      if (!head.length) {
        this.onStatus({ state: 'ok' });
        return;
      }
      // One kind per request: the leading run of events of the oldest one's kind.
      const { kind } = head[0];
      const end = head.findIndex((e) => e.kind !== kind);
      let batch = end === -1 ? head : head.slice(0, end);
      if (isolateThrough !== null) {
        if (batch[0].seq > isolateThrough) isolateThrough = null;
        else batch = batch.slice(0, 1);
      }
      const endpoint = ENDPOINTS[kind];
      if (!endpoint) {
        console.warn('kioskpulse: dropping an event of unknown kind', batch[0]);
        await this.outbox.remove([batch[0].seq]);
        continue;
      }

      this.onStatus({ state: 'sending' });
      let answer;
      try {
        answer = await call('POST', kioskPath(creds.kiosk_id, endpoint.path), {
          token: creds.token,
          body: { [endpoint.key]: batch.map((e) => e.body) },
        });
      } catch (err) {
        this.retryLater(null, 'network');
        return;
      }
      const { status } = answer;

      if (status >= 200 && status < 300) {
        await this.outbox.remove(batch.map((e) => e.seq));
        this.failures = 0;
        continue;
      }
      if (status === 401 || status === 403) {
        this.paused = true;
        this.onStatus({ state: 'unauthorised', reason: `HTTP ${status}` });
        this.onUnauthorised(status);
        return;
      }
      if (status < 400 || status >= 500 || [404, 405, 408, 429].includes(status)) {
        this.retryLater(answer.retryAfter, `HTTP ${status}`);
        return;
      }

      // The server refused the batch for what is in it.
      const bad = status === 422 ? invalidIndexes(answer.body, endpoint.key, batch.length) : [];
      if (bad.length) {
        const refused = bad.map((i) => batch[i]);
        // One string, so that the reason shows in any log collector, not "Object".
        console.warn(
          `kioskpulse: dropping ${refused.length} ${kind} event(s) the API refused (HTTP 422): ` +
            `${JSON.stringify(answer.body.detail)}; events: ${JSON.stringify(refused.map((e) => e.body))}`,
        );
        await this.outbox.remove(refused.map((e) => e.seq));
      } else if (batch.length === 1) {
        console.warn(
          `kioskpulse: dropping a ${kind} event the API refused (HTTP ${status}): ` +
            `${JSON.stringify(answer.body && answer.body.detail)}; event: ${JSON.stringify(batch[0].body)}`,
        );
        await this.outbox.remove([batch[0].seq]);
      } else {
        isolateThrough = batch[batch.length - 1].seq;
      }
    }
  }

  retryLater(retryAfter, reason) {
    this.failures = Math.min(this.failures + 1, 30);
    const ceiling = Math.min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (this.failures - 1));
    let delay = Math.random() * ceiling; // full jitter: kiosks that failed together retry apart
    if (retryAfter != null) delay = Math.max(delay, Math.min(retryAfter, RETRY_AFTER_CAP_S));
    this.onStatus({ state: 'failed', reason, retryIn: delay });
    this.wait(delay, retryAfter != null);
  }

  /** The server told this device to wait (a Retry-After on another of its requests). */
  holdOff(seconds) {
    if (Date.now() + seconds * 1000 > this.hardUntil) this.wait(Math.min(seconds, RETRY_AFTER_CAP_S), true);
  }

  /** Send nothing for `seconds` (`hard`: not even when the network comes back), then go on. */
  wait(seconds, hard) {
    const until = Date.now() + seconds * 1000;
    if (hard) this.hardUntil = Math.max(this.hardUntil, until);
    this.softUntil = Math.max(this.softUntil, until);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), Math.max(this.softUntil, this.hardUntil) - Date.now() + 5);
  }
}
