import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerError, type SMTPServerSession } from 'smtp-server';

/*
 * A real SMTP server on 127.0.0.1 that keeps every message it accepts, for tests of outgoing mail. No TLS;
 * AUTH is optional and PLAIN or LOGIN with any credentials succeeds. failNext() makes the next transactions
 * fail with a chosen reply (4xx: the sender should retry; 5xx: it should give up), at DATA by default or at
 * RCPT TO. Each capture is its own server on its own port: tests that send mail start one and stop it.
 */

export interface CapturedMessage {
  envelope: { from: string; to: string[] };
  /** The message exactly as the client sent it (headers and body, dot-unstuffed). */
  raw: Buffer;
  receivedAt: Date;
}

export interface SmtpFailure {
  code: number;
  message?: string;
  /** Where the transaction fails: after the message body (default) or at its first recipient. */
  stage?: 'data' | 'rcpt';
}

export interface SmtpCaptureOptions {
  /** Defaults to a free port. */
  port?: number;
}

export interface SmtpCapture {
  host: '127.0.0.1';
  port: number;
  /** Accepted messages in arrival order; the same array for the capture's lifetime. */
  messages: CapturedMessage[];
  /** Resolves with the messages once at least `count` were accepted; rejects after `timeoutMs`. */
  waitForMessages(count: number, timeoutMs?: number): Promise<CapturedMessage[]>;
  /** The next `count` transactions (not connections, not recipients) fail with `failure`. */
  failNext(count: number, failure: SmtpFailure): void;
  /** Forgets the captured messages and any failures still pending. */
  clear(): void;
  stop(): Promise<void>;
}

const host = '127.0.0.1';

function smtpError(failure: SmtpFailure): SMTPServerError {
  const error: SMTPServerError = new Error(failure.message ?? `Test failure ${failure.code}`);
  error.responseCode = failure.code;
  return error;
}

export async function startSmtpCapture(options: SmtpCaptureOptions = {}): Promise<SmtpCapture> {
  const messages: CapturedMessage[] = [];
  const pending: SmtpFailure[] = [];
  // Transactions already chosen to fail at RCPT: all their recipients are refused, counted once.
  const failingTransactions = new Map<string, SmtpFailure>();
  const waiters = new Set<() => void>();
  const transactionKey = (session: SMTPServerSession) => `${session.id}:${session.transaction}`;

  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    logger: false,
    // stop() must not wait for pooled client connections to say QUIT.
    closeTimeout: 200,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? 'anonymous' });
    },
    onRcptTo(_address, session, callback) {
      const key = transactionKey(session);
      let failure = failingTransactions.get(key);
      if (!failure && pending[0]?.stage === 'rcpt') {
        failure = pending.shift()!;
        failingTransactions.set(key, failure);
      }
      callback(failure ? smtpError(failure) : null);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (pending[0] && pending[0].stage !== 'rcpt') return callback(smtpError(pending.shift()!));
        const { mailFrom, rcptTo } = session.envelope;
        messages.push({
          envelope: { from: mailFrom ? mailFrom.address : '', to: rcptTo.map((r) => r.address) },
          raw: Buffer.concat(chunks),
          receivedAt: new Date(),
        });
        for (const wake of waiters) wake();
        callback(null);
      });
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Errors after start-up are a client misbehaving; the server keeps serving others.
  server.on('error', () => {});
  const { port } = server.server.address() as AddressInfo;

  return {
    host,
    port,
    messages,
    waitForMessages(count, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(messages.slice());
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`expected ${count} message(s) within ${timeoutMs} ms, got ${messages.length}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    failNext(count, failure) {
      for (let i = 0; i < count; i += 1) pending.push(failure);
    },
    clear() {
      messages.length = 0;
      pending.length = 0;
      failingTransactions.clear();
    },
    stop() {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
