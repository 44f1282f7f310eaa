import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Channel, InboundContact, IngestResult } from '../../src/interactions/inbound-contact.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Many distinct contacts arriving in the same instant go to Postgres as one batch, written with multi-row
 * inserts (migrations/2026-11-23_faster_ingest.ts). Whatever the batch holds (new and returning customers,
 * several identities, threads, attachments), each contact must end exactly where it would alone: its own
 * interaction or its thread's, its own customer, its own events with its own content, and the ids in each
 * result pointing at its rows, never a neighbour's.
 */

let ctx: TestContext;
const run = Date.now().toString(36);

beforeAll(async () => {
  ctx = await createTestContext({ config: { routeOnIngest: false } });
});
afterAll(() => ctx.close());

const channels: Channel[] = ['voice', 'email', 'chat', 'fax'];
const phone = (n: number) => `+1646${String(3000000 + n).padStart(7, '0')}`;

/** A returning customer per index below `returning`, made one by one before the batch. */
async function seedReturning(count: number): Promise<Map<number, string>> {
  const owners = new Map<number, string>();
  for (let n = 0; n < count; n++) {
    const result = await ctx.services.ingest({
      channel: 'email',
      externalId: `seed-${run}-${n}`,
      identities: [{ kind: 'email', value: `returning-${run}-${n}@example.com` }],
      displayName: `Returning ${n}`,
      text: 'first contact',
    });
    owners.set(n, result.customerId);
  }
  return owners;
}

function contactFor(n: number, returning: number): InboundContact {
  const channel = channels[n % channels.length]!;
  const isReturning = n < returning;
  const email = isReturning ? `returning-${run}-${n}@example.com` : `new-${run}-${n}@example.com`;
  const identities: InboundContact['identities'] =
    channel === 'email'
      ? [{ kind: 'email', value: email }]
      : channel === 'chat'
        ? // One visitor per chat session: several messages of a session arrive in the batch.
          [{ kind: 'chat_visitor', value: `visitor-${run}-${n % 7}` }]
        : [
            { kind: channel === 'fax' ? 'fax' : 'phone', value: phone(n) },
            ...(isReturning ? [{ kind: 'email' as const, value: email }] : []),
          ];
  return {
    channel,
    externalId: `batch-${run}-${n}`,
    identities,
    displayName: `Person ${n}`,
    text: `message number ${n}`,
    ...(channel === 'chat' && { threadKey: `thread-${run}-${n % 7}` }),
    ...(channel === 'fax' && {
      attachments: [
        {
          fileName: `fax-${n}.pdf`,
          contentType: 'application/pdf',
          sizeBytes: 1000 + n,
          storageKey: `fax/${run}/${n}.pdf`,
        },
      ],
    }),
  };
}

describe('a batch of distinct contacts arriving at once', () => {
  it('puts every contact on its own customer, interaction and events, exactly as alone', async () => {
    const returning = 40;
    const owners = await seedReturning(returning);
    const count = 160;
    const contacts = Array.from({ length: count }, (_, n) => contactFor(n, returning));
    // All in one turn of the event loop: the repository sends them to Postgres together.
    const results: IngestResult[] = await Promise.all(contacts.map((c) => ctx.services.ingest(c)));

    const { rows: events } = await ctx.services.pool.query<{
      id: string;
      interaction_id: string;
      type: string;
      text: string | null;
      external_id: string | null;
    }>(
      `select e.id::text, e.interaction_id, e.type, e.payload->>'text' as text, e.external_id
       from interaction_events e join interactions i on i.id = e.interaction_id
       where i.external_id like $1 or e.external_id like $1`,
      [`batch-${run}-%`],
    );
    const byEventId = new Map(events.map((e) => [e.id, e]));
    const customerOfInteraction = new Map(
      (
        await ctx.services.pool.query<{ id: string; customer_id: string; thread_key: string | null }>(
          'select id, customer_id, thread_key from interactions',
        )
      ).rows.map((r) => [r.id, r]),
    );

    const threadInteraction = new Map<string, string>();
    for (const [n, result] of results.entries()) {
      const contact = contacts[n]!;
      expect(result.isDuplicate).toBe(false);
      // The result's event is this contact's message, with this contact's text.
      const event = byEventId.get(result.eventId);
      expect(event, `event of contact ${n}`).toMatchObject({
        interaction_id: result.interactionId,
        type: 'message.received',
        text: `message number ${n}`,
      });
      // The interaction belongs to the result's customer; chats share their thread's interaction.
      expect(customerOfInteraction.get(result.interactionId)?.customer_id).toBe(result.customerId);
      if (contact.threadKey) {
        const first = threadInteraction.get(contact.threadKey);
        if (first) expect(result.interactionId).toBe(first);
        else threadInteraction.set(contact.threadKey, result.interactionId);
      }
      // Returning customers are found by their email; new ones are new.
      if (n < returning && contact.channel !== 'chat') {
        expect(result.customerId).toBe(owners.get(n));
        expect(result.isNewCustomer).toBe(false);
      }
      // Every identity the contact carried now belongs to the result's customer.
      for (const identity of contact.identities) {
        const { rows } = await ctx.services.pool.query<{ customer_id: string }>(
          'select customer_id from identities where kind = $1 and value = $2',
          [identity.kind, identity.value],
        );
        expect(rows, `${identity.kind} ${identity.value}`).toHaveLength(1);
      }
    }
    // Contacts of one chat thread share an interaction; everyone else got their own.
    const interactions = new Set(results.map((r) => r.interactionId));
    const threads = new Set(contacts.filter((c) => c.threadKey).map((c) => c.threadKey));
    const unthreaded = contacts.filter((c) => !c.threadKey).length;
    expect(interactions.size).toBe(unthreaded + threads.size);
    // Exactly one message.received per contact, and attachments on the fax contacts' events.
    const messages = events.filter((e) => e.type === 'message.received');
    expect(messages).toHaveLength(count);
    const { rows: attachments } = await ctx.services.pool.query<{ file_name: string; event_id: string }>(
      `select a.file_name, a.event_id::text from attachments a where a.file_name like 'fax-%'`,
    );
    const faxes = results.filter((_, n) => contacts[n]!.channel === 'fax');
    expect(attachments).toHaveLength(faxes.length);
    for (const attachment of attachments) {
      const n = Number(/fax-(\d+)\.pdf/.exec(attachment.file_name)![1]);
      expect(attachment.event_id).toBe(results[n]!.eventId);
    }

    // The same batch again: every contact is a provider retry, answered with the same ids.
    const again = await Promise.all(contacts.map((c) => ctx.services.ingest(c)));
    expect(again.map((r) => [r.isDuplicate, r.interactionId, r.eventId])).toEqual(
      results.map((r) => [true, r.interactionId, r.eventId]),
    );
  });
});
