/*
 * One mailbox's IMAP reader. Exactly one process of the cluster reads a mailbox at a time: the holder of
 * its lease in Redis (src/jobs/lease.ts), renewed while it works; when the holder dies the lease lapses and
 * another process takes over. The holder:
 *   - connects with imapflow and opens the folder; new mail wakes it through IDLE (imapflow idles on its
 *     own between commands), and a fallback poll wakes it every pollSeconds in case a notification was lost
 *     or the server has no IDLE;
 *   - reads from the stored cursor (UIDVALIDITY, last UID): UIDs above the last, in order, in batches. A
 *     UID range `n:*` always includes the highest UID even when it is below n, so UIDs are filtered by
 *     `uid > last`. A different UIDVALIDITY means the UIDs were renumbered: the folder is read again from
 *     the start, and ingest's idempotency on the Message-ID keeps it from logging anything twice;
 *   - hands each batch to `handle`, which commits it to the log; only then is the cursor advanced, and then
 *     the messages are flagged or moved (never deleted). A crash anywhere re-reads rather than skips;
 *   - reconnects after any loss with exponential backoff and jitter.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ImapFlow, type FetchMessageObject } from 'imapflow';
import type { Redis } from 'ioredis';
import type { EmailRepository, MailboxCursor } from '../../src/db/repositories/email.repository.js';
import { createLease } from '../../src/jobs/lease.js';
import type { Mailbox } from './mailboxes.js';

export interface FetchedMessage {
  uid: number;
  source: Buffer;
  internalDate: Date | null;
}

export interface PollerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface PollerOptions {
  leaseMs: number;
  /** How often a process that does not hold the lease tries to take it. */
  leaseRetryMs: number;
  batchSize: number;
  backoff: { initialMs: number; maxMs: number };
}

export const defaultPollerOptions: PollerOptions = {
  leaseMs: 15_000,
  leaseRetryMs: 2_000,
  batchSize: 50,
  backoff: { initialMs: 500, maxMs: 30_000 },
};

export type PollerState = 'standby' | 'connecting' | 'reading' | 'idle' | 'backing-off' | 'stopped';

/**
 * Who reads a mailbox, cluster-wide: each IMAP session, while it lasts, keeps an entry in a sorted set
 * scored by when it lapses (refreshed every second, independently of the lease), so that a session that
 * outlived its lease would show as a second reader; a killed process's entry lapses on its own. The status
 * hash says what the reader is doing, for operators.
 */
export const readersKey = (prefix: string, mailboxId: string) => `${prefix}email:readers:${mailboxId}`;
export const statusKey = (prefix: string, mailboxId: string) => `${prefix}email:status:${mailboxId}`;
const readerEntryMs = 2_500;

export async function readersOf(redis: Redis, prefix: string, mailboxId: string): Promise<string[]> {
  return redis.zrangebyscore(readersKey(prefix, mailboxId), Date.now(), '+inf');
}

export interface MailboxPoller {
  readonly mailboxId: string;
  /** This process's reader name: host/pid/random. */
  readonly reader: string;
  state(): PollerState;
  /** Wakes the reader now (a test, or an operator's "check now"). */
  wake(): void;
  stop(): Promise<void>;
}

/** Processed messages carry this keyword (with \Seen) when the mailbox flags rather than moves. */
export const processedKeyword = '$Switchboard';

export function startMailboxPoller(deps: {
  mailbox: Mailbox;
  redis: Redis;
  prefix: string;
  cursors: Pick<EmailRepository, 'cursorOf' | 'advanceCursor'>;
  /**
   * Work on a fetched batch that needs no commit (parsing), done as soon as the batch arrives, while the
   * batch before it is being committed.
   */
  prepare?: (messages: FetchedMessage[]) => Promise<unknown>;
  /** Commits the messages to the log (in UID order); throws if any could not be. */
  handle: (messages: FetchedMessage[], prepared: unknown) => Promise<void>;
  log: PollerLog;
  options?: Partial<PollerOptions>;
}): MailboxPoller {
  const options = { ...defaultPollerOptions, ...deps.options };
  const { mailbox, log } = deps;
  const lease = createLease(deps.redis, `${deps.prefix}email:lease:${mailbox.id}`, options.leaseMs);
  const reader = `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
  let state: PollerState = 'standby';
  let messagesRead = 0;
  const report = (fields: Record<string, string | number>) => {
    deps.redis
      .hset(statusKey(deps.prefix, mailbox.id), { ...fields, updatedAt: new Date().toISOString() })
      .catch(() => undefined);
  };
  const setState = (next: PollerState) => {
    if (next === state) return;
    state = next;
    if (next !== 'standby') report({ state: next, reader });
  };
  let isStopped = false;
  let client: ImapFlow | undefined;
  let wakeUp: (() => void) | undefined;
  let isWoken = false;
  let failures = 0;
  let renewTimer: NodeJS.Timeout | undefined;
  let sleepTimer: { timer: NodeJS.Timeout; resolve: () => void } | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        sleepTimer = undefined;
        resolve();
      }, ms);
      sleepTimer = { timer, resolve };
    });

  function wake() {
    isWoken = true;
    wakeUp?.();
  }

  const holdLease = () => {
    // The lease counts from when it was last renewed: if renewing fails (Redis unreachable) for as long as
    // the lease lasts, another process may hold it by now, so this one stops reading.
    let renewedAt = Date.now();
    renewTimer = setInterval(
      () => {
        lease.renew().then(
          (isHeld) => {
            if (isHeld) {
              renewedAt = Date.now();
              return;
            }
            log.warn({ mailbox: mailbox.id }, 'mailbox lease lost; another process reads it now');
            client?.close();
          },
          (err: unknown) => {
            log.warn({ err, mailbox: mailbox.id }, 'renewing the mailbox lease failed');
            if (Date.now() - renewedAt >= options.leaseMs * 0.8) {
              log.warn(
                { mailbox: mailbox.id },
                'mailbox lease about to lapse unrenewed; stopping this reader',
              );
              client?.close();
            }
          },
        );
      },
      Math.max(500, Math.floor(options.leaseMs / 3)),
    );
  };

  async function session(): Promise<void> {
    setState('connecting');
    const imap = new ImapFlow({
      host: mailbox.imap.host,
      port: mailbox.imap.port,
      secure: mailbox.imap.tls,
      auth: { user: mailbox.imap.user, pass: mailbox.imap.password },
      logger: false,
      tls: { rejectUnauthorized: !mailbox.imap.allowUnverifiedCertificate },
      connectionTimeout: 15_000,
      greetingTimeout: 10_000,
      // IDLE right after each read (imapflow waits 15 s by default), so that new mail is seen at once.
      autoIdleDelay: 200,
      // IDLE is restarted now and then: some servers and middleboxes drop an IDLE that runs for long.
      maxIdleTime: 5 * 60_000,
    });
    client = imap;
    let isClosed = false;
    imap.on('error', (err: Error) => log.warn({ err: err.message, mailbox: mailbox.id }, 'imap error'));
    imap.on('close', () => {
      isClosed = true;
      wakeUp?.();
    });
    imap.on('exists', () => wake());
    const pollTimer = setInterval(wake, mailbox.imap.pollSeconds * 1000);
    const readers = readersKey(deps.prefix, mailbox.id);
    const markReading = () =>
      deps.redis.zadd(readers, Date.now() + readerEntryMs, reader).catch(() => undefined);
    await markReading();
    const readerTimer = setInterval(() => void markReading(), 1000);
    try {
      await imap.connect();
      if (mailbox.imap.afterIngest.action === 'move')
        await ensureFolder(imap, mailbox.imap.afterIngest.folder);
      const opened = await imap.mailboxOpen(mailbox.imap.folder);
      failures = 0;
      log.info(
        { mailbox: mailbox.id, folder: mailbox.imap.folder, exists: opened.exists },
        'reading mailbox',
      );
      isWoken = true;
      while (!isStopped && !isClosed) {
        if (isWoken) {
          isWoken = false;
          setState('reading');
          await drain(imap, opened.uidValidity);
          continue;
        }
        setState('idle');
        await new Promise<void>((resolve) => {
          wakeUp = resolve;
          if (isWoken || isStopped || isClosed) resolve();
        });
        wakeUp = undefined;
      }
    } finally {
      clearInterval(pollTimer);
      clearInterval(readerTimer);
      await deps.redis.zrem(readers, reader).catch(() => undefined);
      client = undefined;
      if (!isClosed) await imap.logout().catch(() => imap.close());
    }
  }

  async function drain(imap: ImapFlow, uidValidity: bigint): Promise<void> {
    const stored = await deps.cursors.cursorOf(mailbox.id);
    let last = 0;
    if (stored && stored.uidValidity === uidValidity) last = stored.lastUid;
    else if (stored)
      log.warn(
        { mailbox: mailbox.id, was: String(stored.uidValidity), now: String(uidValidity) },
        'UIDVALIDITY changed: reading the folder again (messages already logged are recognised)',
      );
    const fetchBatch = async (uids: number[]): Promise<{ messages: FetchedMessage[]; prepared: unknown }> => {
      const messages = await fetchOnly(uids);
      return { messages, prepared: messages.length > 0 ? await deps.prepare?.(messages) : undefined };
    };
    const fetchOnly = async (uids: number[]): Promise<FetchedMessage[]> => {
      // fetchAll, not a loop over fetch(): no other command may run while a fetch is being iterated.
      const fetched: FetchMessageObject[] = await imap.fetchAll(
        uids.join(','),
        { uid: true, source: true, internalDate: true },
        { uid: true },
      );
      const messages: FetchedMessage[] = [];
      for (const m of fetched) {
        if (!m.source || m.uid <= last) continue;
        const date = m.internalDate;
        messages.push({
          uid: m.uid,
          source: m.source,
          internalDate: date instanceof Date ? date : date ? new Date(date) : null,
        });
      }
      return messages.sort((a, b) => a.uid - b.uid);
    };
    for (;;) {
      if (isStopped) return;
      const found = await imap.search({ uid: `${last + 1}:*` }, { uid: true });
      const uids = (found || []).filter((uid) => uid > last).sort((a, b) => a - b);
      if (uids.length === 0) return;
      const batches: number[][] = [];
      for (let i = 0; i < uids.length; i += options.batchSize)
        batches.push(uids.slice(i, i + options.batchSize));
      // The next batch is fetched while this one is logged: the IMAP connection and Postgres work at once.
      // Flags for a batch go out after its cursor moved, behind the next fetch on the same connection.
      let next: Promise<{ messages: FetchedMessage[]; prepared: unknown }> | undefined = fetchBatch(
        batches[0]!,
      );
      const flagging: Promise<void>[] = [];
      try {
        for (const [i, batch] of batches.entries()) {
          const { messages, prepared } = await next!;
          next = i + 1 < batches.length && !isStopped ? fetchBatch(batches[i + 1]!) : undefined;
          if (messages.length > 0) await deps.handle(messages, prepared);
          messagesRead += messages.length;
          report({ lastReadAt: new Date().toISOString(), messagesRead, lastUid: batch.at(-1)! });
          const cursor: MailboxCursor = { uidValidity, lastUid: batch.at(-1)! };
          await deps.cursors.advanceCursor(mailbox.id, cursor);
          last = cursor.lastUid;
          flagging.push(afterIngest(imap, batch));
          if (isStopped) break;
        }
      } finally {
        // A fetch started for a batch that will not be logged now must not be left unobserved.
        await next?.catch(() => undefined);
        await Promise.all(flagging);
      }
    }
  }

  async function afterIngest(imap: ImapFlow, uids: number[]): Promise<void> {
    const range = uids.join(',');
    const after = mailbox.imap.afterIngest;
    try {
      if (after.action === 'move') await imap.messageMove(range, after.folder, { uid: true });
      else await imap.messageFlagsAdd(range, ['\\Seen', processedKeyword], { uid: true });
    } catch (err) {
      // The messages are in the log and the cursor is past them: a failed flag or move loses nothing.
      log.warn({ err, mailbox: mailbox.id, uids: range }, 'flagging or moving processed mail failed');
    }
  }

  async function run(): Promise<void> {
    while (!isStopped) {
      let isHeld = false;
      try {
        isHeld = await lease.acquire();
      } catch (err) {
        log.warn({ err, mailbox: mailbox.id }, 'taking the mailbox lease failed');
      }
      if (!isHeld) {
        setState('standby');
        await sleep(options.leaseRetryMs * (0.75 + Math.random() / 2));
        continue;
      }
      holdLease();
      try {
        await session();
      } catch (err) {
        log.warn({ err, mailbox: mailbox.id, failures }, 'mailbox session ended with an error');
        report({
          lastError: err instanceof Error ? err.message.slice(0, 300) : String(err),
          lastErrorAt: new Date().toISOString(),
        });
      } finally {
        clearInterval(renewTimer);
      }
      if (isStopped) break;
      // A session that ended (server gone, network, lease lost) is retried after a backoff; the lease is
      // kept meanwhile if still ours, so that a flapping server does not bounce the mailbox between processes.
      setState('backing-off');
      const delay = Math.min(options.backoff.maxMs, options.backoff.initialMs * 2 ** Math.min(failures, 16));
      failures += 1;
      await sleep(delay * (0.5 + Math.random() / 2));
    }
    setState('stopped');
  }

  const running = run();
  return {
    mailboxId: mailbox.id,
    reader,
    state: () => state,
    wake,
    async stop() {
      isStopped = true;
      if (sleepTimer) {
        clearTimeout(sleepTimer.timer);
        sleepTimer.resolve();
      }
      wakeUp?.();
      // Ends an IDLE or a hung connect at once; a batch being committed finishes first (handle awaits).
      client?.close();
      await running;
      clearInterval(renewTimer);
      await lease.release().catch(() => undefined);
    },
  };
}

async function ensureFolder(imap: ImapFlow, folder: string): Promise<void> {
  const list = await imap.list();
  if (list.some((m) => m.path === folder)) return;
  await imap.mailboxCreate(folder);
}
