import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSessionStore } from '../../src/agents/session.store.js';
import { readersOf } from '../../channels/email/imap-poller.js';
import type { InboundContact } from '../../src/interactions/inbound-contact.js';
import { buildMail, imapClient, mailboxFixture, uniqueMessageId } from '../support/email-fixtures.js';
import {
  openConsole,
  startNode,
  nodeLog,
  type FaultConsole,
  type FaultNode,
} from '../support/fault-cluster.js';
import {
  halfWrittenInteractions,
  offersOf,
  overlappingOffers,
  receivedCounts,
  report,
} from '../support/fault-log.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import type { IngestReport } from '../support/cluster-node.js';
import { createAgent, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { waitFor } from '../support/wait-for.js';

/*
 * kill -9 of a server process that holds live offers, agents' sockets and a mailbox's lease, with another
 * process up beside it. Agents reach the cluster through a proxy (the balancer) that moves to the survivor.
 * What must hold afterwards, read from the offers table and the event log:
 *   - every offer the dead process held expires (not before its time) and its contact is offered again, by
 *     the survivor;
 *   - no contact is ever offered to two agents at once;
 *   - every contact, those ingested before the kill and after it, ends assigned, its log whole;
 *   - the agents' sockets reconnect (to the survivor) and answer the new offers there;
 *   - the survivor takes over the mailbox; mail read before the kill is not read again, mail delivered
 *     after it is read once.
 */

const offerTimeoutSeconds = 6;
const offerSweepMs = 1000;
const origin = 'http://localhost:3000';
/** Generous: the machine is shared and loaded; what is checked is that it happens, not how fast. */
const settleMs = 120_000;

const rules = `
queues:
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax], wrapUpSeconds: 0 }
rules:
  - { name: default, queue: general, priority: 0 }
capacity:
  voice: { max: 1, exclusive: true }
  chat: { max: 1 }
  email: { max: 1 }
  fax: { max: 1 }
options:
  offerTimeoutSeconds: ${offerTimeoutSeconds}
  missesBeforeAway: 100
`;

let ctx: TestContext;
let folder: ReturnType<typeof writeRulesFolder>;
let redis: Redis;
let proxy: FaultProxy;
const nodes: FaultNode[] = [];
const consoles: FaultConsole[] = [];

beforeAll(async () => {
  folder = writeRulesFolder(rules);
  ctx = await createTestContext({ config: { routingRulesDir: folder.dir, routeOnIngest: true } });
  redis = new Redis(ctx.config.redisUrl!);
});

afterAll(async () => {
  for (const console of consoles) console.close();
  for (const node of nodes) await node.worker.stop().catch(() => undefined); // the killed one exits by signal
  await proxy?.stop();
  redis?.disconnect();
  await ctx?.close();
  folder?.remove();
});

const unique = () => randomBytes(5).toString('hex');
const chat = (): InboundContact => ({
  channel: 'chat',
  externalId: `chat-${unique()}`,
  identities: [{ kind: 'email', value: `visitor-${unique()}@example.com` }],
  text: 'hello',
});

async function ingestOn(node: FaultNode, contacts: InboundContact[]): Promise<void> {
  node.worker.send(`ingest ${JSON.stringify(contacts)}`);
  const report = JSON.parse(await node.worker.expectLine('ingested')) as IngestReport;
  expect(report.failed).toEqual([]);
}

describe('a server process killed outright', () => {
  it('re-offers what it held, reconnects its agents elsewhere and hands its mailbox on', async () => {
    const mailbox = mailboxFixture({
      imap: { host: inject('imapHost'), port: inject('imapPort') },
      pollSeconds: 1,
    });
    const config = {
      ...ctx.config,
      email: {
        mailboxesFile: mailbox.file,
        secrets: mailbox.secrets,
        tokenSecret: 'faults',
        isPolling: true,
      },
    };
    const start = {
      config: {
        publicBaseUrl: config.publicBaseUrl,
        email: config.email,
        routeOnIngest: true,
        offerSweepMs,
        // Agents reconnect well within the grace: they keep their state, and the dead process's offers are
        // settled by the timeout jobs and the sweep of the survivor (not withdrawn because agents left).
        presenceGraceMs: 60_000,
        presenceHeartbeatMs: 500,
        duplicateSweepMs: 600_000,
      },
      emailPoller: { leaseMs: 3000, leaseRetryMs: 200, backoff: { initialMs: 100, maxMs: 1000 } },
    };

    // A starts first and takes the mailbox; B joins once A reads it.
    const a = await startNode('a', config, start);
    nodes.push(a);
    const firstMail = uniqueMessageId('before-kill');
    const imap = await imapClient({
      host: inject('imapHost'),
      port: inject('imapPort'),
      user: mailbox.imapUser,
    });
    await imap.append(
      buildMail({
        from: 'early@customer.example',
        to: mailbox.address,
        subject: 'Before',
        messageId: firstMail,
      }),
    );
    await waitFor(
      async () => ((await receivedCounts(ctx.services.pool, 'email')).get(firstMail) ? true : undefined),
      settleMs,
    );
    expect(
      (await readersOf(redis, config.redisPrefix, mailbox.id)).map((r) => Number(r.split('/')[1])),
    ).toEqual([a.pid]);
    const b = await startNode('b', config, start);
    nodes.push(b);

    // Ten agents, their consoles on A through the balancer, available, ignoring offers for now. More agents
    // than contacts: a contact is never offered twice to one agent, so the agent whose offer expired cannot
    // take that contact back, and with one agent per contact the last one could be left waiting for good.
    proxy = await startFaultProxy(a.port);
    const sessions = createSessionStore(redis, config.redisPrefix, 3600);
    for (let i = 0; i < 10; i++) {
      const agentId = await createAgent(ctx.services);
      const cookie = `sb_session=${await sessions.create(agentId)}`;
      const console = openConsole(`http://127.0.0.1:${proxy.port}`, agentId, cookie, origin);
      consoles.push(console);
      await waitFor(() => (console.states.length > 0 ? true : undefined), settleMs);
      expect(await console.setState('available')).toBe(true);
    }

    // Four chats ingested by A; A offers them and the first mail to the agents.
    await ingestOn(a, [chat(), chat(), chat(), chat()]);
    const offersOfA = await waitFor(async () => {
      const live = (await offersOf(ctx.services.pool)).filter((o) => o.status === 'offered');
      const waiting = await ctx.services.pool.query('select id from interactions');
      return waiting.rowCount === 5 && live.length === 5 ? live : undefined;
    }, settleMs);

    a.kill();
    proxy.setTarget(b.port);
    const killedAt = new Date();
    const byA = a.offerIds();
    const heldByA = offersOfA.filter((o) => byA.has(o.id));
    expect(heldByA.length).toBeGreaterThan(0);
    // From now on agents accept what they are offered, except A's offers: those must expire.
    for (const console of consoles) console.acceptWhen((offer) => !byA.has(offer.offerId));

    // Two more chats, ingested after the kill on B, and a mail delivered after it.
    await ingestOn(b, [chat(), chat()]);
    const lateMail = uniqueMessageId('after-kill');
    await imap.append(
      buildMail({
        from: 'late@customer.example',
        to: mailbox.address,
        subject: 'After',
        messageId: lateMail,
      }),
    );
    await imap.close();

    // Everything ends assigned: the four re-offered, the two new ones and the two emails.
    const settled = await waitFor(async () => {
      const { rows } = await ctx.services.pool.query<{ id: string; status: string }>(
        'select id, status from interactions',
      );
      return rows.length === 8 && rows.every((r) => r.status === 'assigned') ? rows : undefined;
    }, settleMs).catch(async (error: unknown) => {
      const state = await ctx.services.pool.query(
        `select i.id, i.channel, i.status, array_agg(o.status || ' ' || o.agent_id order by o.offered_at) as offers
           from interactions i left join offers o on o.interaction_id = i.id group by i.id`,
      );
      const agents = await ctx.services.pool.query('select agent_id, state from agent_states');
      throw new Error(
        `${String(error)}\n${JSON.stringify(state.rows, null, 1)}\n${JSON.stringify(agents.rows)}\n` +
          `consoles: ${JSON.stringify(consoles.map((c) => ({ connects: c.connects(), offers: c.offers.length, accepted: c.accepted.size })))}\n` +
          `B's log:\n${nodeLog(b)}`,
      );
    });
    expect(settled).toHaveLength(8);

    const offers = await offersOf(ctx.services.pool);
    const byB = b.offerIds();
    for (const held of heldByA) {
      const row = offers.find((o) => o.id === held.id)!;
      expect(row.status).toBe('expired');
      expect(row.settledAt!.getTime()).toBeGreaterThanOrEqual(row.expiresAt.getTime());
      const again = offers.filter(
        (o) => o.interactionId === held.interactionId && o.offeredAt > row.offeredAt,
      );
      expect(again.length).toBeGreaterThan(0);
      expect(again.every((o) => byB.has(o.id))).toBe(true);
    }
    const lateness = heldByA.map((held) => {
      const row = offers.find((o) => o.id === held.id)!;
      return ((row.settledAt!.getTime() - row.expiresAt.getTime()) / 1000).toFixed(1);
    });
    report(
      `kill: ${heldByA.length} offers held by the killed process expired ${lateness.join(', ')} s after their expiry`,
    );
    // Nothing A held was accepted; nothing was offered twice at once; every log is whole.
    expect(offers.filter((o) => byA.has(o.id) && o.status === 'accepted' && o.offeredAt < killedAt)).toEqual(
      [],
    );
    expect(overlappingOffers(offers)).toEqual([]);
    expect(await halfWrittenInteractions(ctx.services.pool)).toEqual([]);

    // Every console came back (through the balancer, now B) and accepted work there.
    for (const console of consoles) expect(console.connects()).toBeGreaterThanOrEqual(2);
    // (An accept's acknowledgement may still be on its way when the row is there.)
    const accepted = offers.filter((o) => o.status === 'accepted').map((o) => o.id);
    await waitFor(() => {
      const acked = new Set(consoles.flatMap((c) => [...c.accepted]));
      return accepted.every((id) => acked.has(id)) ? true : undefined;
    }, settleMs);

    // B reads the mailbox now; each mail is in the log once.
    const readers = await waitFor(async () => {
      const now = await readersOf(redis, config.redisPrefix, mailbox.id);
      return now.length === 1 ? now : undefined;
    }, settleMs);
    expect(Number(readers[0]!.split('/')[1])).toBe(b.pid);
    const mail = await receivedCounts(ctx.services.pool, 'email');
    expect([mail.get(firstMail), mail.get(lateMail)]).toEqual([1, 1]);
  });
});
