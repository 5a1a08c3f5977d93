// Service worker of the kiosk page (scope /kiosk): the page's own files, network first
// with the cache as fallback, so a reload works while the API server is down and a
// new version is picked up as soon as it is up again. The API (/v1/...) is never
// touched: its requests go straight to the network, uncached.

const VERSION = 'kioskpulse-kiosk-v1'; // bump when any file of the page changes
const SHELL = [
  '/kiosk',
  '/kiosk/kiosk.css',
  '/kiosk/app.js',
  '/kiosk/api.js',
  '/kiosk/i18n.js',
  '/kiosk/outbox.js',
  '/kiosk/sender.js',
  '/kiosk/smileys.js',
  '/kiosk/icon.svg',
  '/kiosk/manifest.webmanifest',
];
const NETWORK_TIMEOUT_MS = 5000; // a server that hangs is as good as down

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(VERSION)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: 'reload' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((key) => key.startsWith('kioskpulse-kiosk-') && key !== VERSION).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

function isShell(url) {
  return url.origin === self.location.origin && (url.pathname === '/kiosk' || url.pathname.startsWith('/kiosk/'));
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  // Not ours (the API, anything else): no respondWith, the browser fetches it as usual.
  if (request.method !== 'GET' || url.pathname.startsWith('/v1/') || !isShell(url)) return;
  event.respondWith(networkFirst(request, url));
});

async function networkFirst(request, url) {
  const cache = await caches.open(VERSION);
  try {
    const response = await withTimeout(fetch(url.href, { cache: 'no-cache', credentials: 'same-origin' }), NETWORK_TIMEOUT_MS);
    if (response.ok && response.type === 'basic') {
      await cache.put(url.pathname, response.clone());
    }
    // An error answer from a live server is still the truth; only no answer falls back.
    return response;
  } catch (err) {
    const cached = (await cache.match(url.pathname, { ignoreSearch: true })) || (request.mode === 'navigate' && (await cache.match('/kiosk')));
    if (cached) return cached;
    throw err;
  }
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('network timeout')), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
