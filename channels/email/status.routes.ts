import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { Type } from 'typebox';
import { roles } from '../../src/api/auth.guard.js';
import type { EmailRepository } from '../../src/db/repositories/email.repository.js';
import { readersOf, statusKey } from './imap-poller.js';
import type { Mailbox } from './mailboxes.js';

/*
 * GET /api/email/mailboxes: is mail flowing? For each mailbox, cluster-wide: which process reads it now
 * (none while a reader takes over, never two), what it is doing, when it last read, its last error, and
 * where its cursor stands. Read from Redis and Postgres, so any process answers for all.
 */
const MailboxStatus = Type.Object({
  id: Type.String(),
  address: Type.String(),
  folder: Type.String(),
  readers: Type.Array(Type.String()),
  state: Type.Union([Type.String(), Type.Null()]),
  lastReadAt: Type.Union([Type.String(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  lastErrorAt: Type.Union([Type.String(), Type.Null()]),
  cursor: Type.Union([Type.Object({ uidValidity: Type.String(), lastUid: Type.Integer() }), Type.Null()]),
});

export function emailStatusRoutes(
  base: FastifyInstance,
  deps: { mailboxes: Mailbox[]; redis: Redis; prefix: string; email: Pick<EmailRepository, 'cursorOf'> },
) {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/api/email/mailboxes',
    {
      config: { access: roles.supervisor },
      schema: {
        tags: ['email'],
        summary: 'The mailboxes and their readers: who reads each, when it last read, its last error',
        response: { 200: Type.Object({ mailboxes: Type.Array(MailboxStatus) }) },
      },
    },
    async () => ({
      mailboxes: await Promise.all(
        deps.mailboxes.map(async (m) => {
          const [readers, status, cursor] = await Promise.all([
            readersOf(deps.redis, deps.prefix, m.id),
            deps.redis.hgetall(statusKey(deps.prefix, m.id)),
            deps.email.cursorOf(m.id),
          ]);
          return {
            id: m.id,
            address: m.address,
            folder: m.imap.folder,
            readers,
            state: readers.length > 0 ? (status.state ?? null) : null,
            lastReadAt: status.lastReadAt ?? null,
            lastError: status.lastError ?? null,
            lastErrorAt: status.lastErrorAt ?? null,
            cursor: cursor ? { uidValidity: cursor.uidValidity.toString(), lastUid: cursor.lastUid } : null,
          };
        }),
      ),
    }),
  );
}
