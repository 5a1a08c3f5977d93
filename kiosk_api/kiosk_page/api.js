// The kiosk API, same origin. Every call resolves with { status, body, retryAfter }
// whatever the status; only a network failure or a timeout rejects.

const TIMEOUT_MS = 15000; // a hung connection must not hold the one send in flight forever

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), or null. */
export function parseRetryAfter(value) {
  if (value == null || value === '') return null;
  const text = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const when = Date.parse(text);
  return Number.isNaN(when) ? null : Math.max(0, (when - Date.now()) / 1000);
}

function timeoutSignal(ms) {
  if (typeof AbortSignal !== 'undefined' && AbortSignal.timeout) return AbortSignal.timeout(ms);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), ms);
  return controller.signal;
}

export async function call(method, path, { token, body, timeoutMs = TIMEOUT_MS } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit', // the token is the only credential; no cookies
    signal: timeoutSignal(timeoutMs),
  });
  let data = null;
  try {
    const text = await response.text();
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null; // a proxy's HTML error page: the status still says what happened
  }
  return { status: response.status, body: data, retryAfter: parseRetryAfter(response.headers.get('Retry-After')) };
}

export const kioskPath = (kioskId, what) => `/v1/kiosks/${encodeURIComponent(kioskId)}/${what}`;
