// The persistent queue of outgoing events (IndexedDB "kioskpulse", store "outbox").
//
// A press is written here before anything is sent, so neither a reload, a crash nor
// an API that is down for days loses it. Records are kept in insertion order by an
// auto-incremented key: { seq, kind: "rating" | "followup", body: <the item of the
// request body, event_id included>, queued_at: ISO time }.

const DB_NAME = 'kioskpulse';
const DB_VERSION = 1;
const STORE = 'outbox';

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function finished(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
  });
}

function openDatabase() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(STORE)) {
        db.createObjectStore(STORE, { keyPath: 'seq', autoIncrement: true });
      }
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error('IndexedDB blocked by another tab'));
  });
}

export class Outbox {
  constructor() {
    this.db = null;
    this.memory = null; // used only where IndexedDB cannot be opened (then a reload loses the queue)
    this.nextSeq = 1;
    this.listeners = [];
  }

  async open() {
    try {
      this.db = await openDatabase();
      // Another tab deleting or upgrading the database: let go so it can proceed.
      this.db.onversionchange = () => this.db.close();
    } catch (err) {
      console.error('kioskpulse: IndexedDB unavailable, queueing in memory only', err);
      this.memory = [];
    }
    await this.changed();
  }

  /** Call `listener(count)` whenever the number of queued events may have changed. */
  onChange(listener) {
    this.listeners.push(listener);
  }

  async changed() {
    const n = await this.count();
    for (const listener of this.listeners) listener(n);
  }

  tx(mode) {
    // "strict": the transaction completes only once the data is flushed to disk,
    // so a press that has been acknowledged on screen survives a power cut.
    return this.db.transaction(STORE, mode, mode === 'readwrite' ? { durability: 'strict' } : undefined);
  }

  /** Queue one event; resolves with its key once it is stored. */
  async add(kind, body) {
    const record = { kind, body, queued_at: new Date().toISOString() };
    let seq;
    if (this.memory) {
      seq = this.nextSeq++;
      this.memory.push({ seq, ...record });
    } else {
      const tx = this.tx('readwrite');
      seq = await promised(tx.objectStore(STORE).add(record));
      await finished(tx);
    }
    await this.changed();
    return seq;
  }

  /** The `limit` oldest events, oldest first. */
  async oldest(limit) {
    if (this.memory) return this.memory.slice(0, limit);
    const tx = this.tx('readonly');
    return promised(tx.objectStore(STORE).getAll(null, limit));
  }

  /** Delete exactly these events (by key). */
  async remove(seqs) {
    if (!seqs.length) return;
    if (this.memory) {
      const gone = new Set(seqs);
      this.memory = this.memory.filter((record) => !gone.has(record.seq));
    } else {
      const tx = this.tx('readwrite');
      const store = tx.objectStore(STORE);
      for (const seq of seqs) store.delete(seq);
      await finished(tx);
    }
    await this.changed();
  }

  async count() {
    if (this.memory) return this.memory.length;
    return promised(this.tx('readonly').objectStore(STORE).count());
  }
}
