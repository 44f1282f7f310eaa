import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../src/db/repositories/interactions.repository.js';
import { AppError, type ErrorCode } from '../../src/errors.js';
import type { DomainEventMap } from '../../src/events.js';
import type { Channel, InboundContact } from '../../src/interactions/inbound-contact.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * The ingest pipeline on real Postgres and Redis: idempotency, identity resolution across channels,
 * threading, nothing lost, the append-only log, and the customer timeline with its keyset pagination.
 * Every test uses its own phone numbers, addresses and external ids, so tests in this file do not see
 * each other's customers.
 */

let ctx: TestContext;
const ingested: DomainEventMap['contact.ingested'][] = [];

beforeAll(async () => {
  // Routing on ingest is off: these tests count exactly the events ingest writes.
  ctx = await createTestContext({ config: { routeOnIngest: false } });
  ctx.services.events.subscribe('contact.ingested', (e) => ingested.push(e));
});
afterAll(() => ctx.close());

let sequence = 0;
/** A fresh US number, in national form and in E.164. */
function newPhone() {
  sequence += 1;
  const line = String(1000 + sequence);
  return { national: `(212) 555-${line}`, e164: `+1212555${line}` };
}
const uniqueId = (prefix: string) => `${prefix}-${(sequence += 1)}-${Date.now()}`;

async function interactionCount(channel: Channel, externalId: string): Promise<number> {
  const row = await ctx.services.db
    .selectFrom('interactions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('channel', '=', channel)
    .where('external_id', '=', externalId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function messageEventCount(channel: Channel, externalId: string): Promise<number> {
  const row = await ctx.services.db
    .selectFrom('interaction_events')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('channel', '=', channel)
    .where('external_id', '=', externalId)
    .where('type', '=', 'message.received')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function identitiesOf(customerId: string) {
  return ctx.services.db
    .selectFrom('identities')
    .select(['kind', 'value', 'raw_value'])
    .where('customer_id', '=', customerId)
    .orderBy('kind')
    .orderBy('value')
    .execute();
}

async function totalInteractions(): Promise<number> {
  const row = await ctx.services.db
    .selectFrom('interactions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function expectAppError(promise: Promise<unknown>, code: ErrorCode): Promise<AppError> {
  const error: unknown = await promise.then(
    () => new Error('expected a rejection, the promise resolved'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
  return error as AppError;
}

describe('idempotency on (channel, externalId)', () => {
  it('a provider retry never creates a second interaction, event or customer', async () => {
    const phone = newPhone();
    const externalId = uniqueId('CA');
    const before = ingested.length;
    const first = await ctx.services.ingest({
      channel: 'voice',
      externalId,
      identities: [{ kind: 'phone', value: phone.national }],
      text: 'first delivery',
    });
    const retry = await ctx.services.ingest({
      channel: 'voice',
      externalId,
      // A retry that differs (another identity, another text) still changes nothing.
      identities: [
        { kind: 'phone', value: phone.e164 },
        { kind: 'email', value: `${externalId.toLowerCase()}@example.org` },
      ],
      text: 'second delivery',
    });

    expect(first).toMatchObject({ isDuplicate: false, isNewInteraction: true, isNewCustomer: true });
    expect(retry).toMatchObject({
      isDuplicate: true,
      interactionId: first.interactionId,
      customerId: first.customerId,
      eventId: first.eventId,
    });
    expect(await interactionCount('voice', externalId)).toBe(1);
    expect(await messageEventCount('voice', externalId)).toBe(1);
    const { events } = await ctx.services.interactions.detail(first.interactionId);
    expect(events.map((e) => e.type)).toEqual(['interaction.created', 'message.received']);
    expect(events[1]?.payload.text).toBe('first delivery');
    expect(await identitiesOf(first.customerId)).toEqual([
      { kind: 'phone', value: phone.e164, raw_value: phone.national },
    ]);
    // The in-process event fires once: a retry must not be routed again.
    expect(ingested.slice(before).map((e) => e.interactionId)).toEqual([first.interactionId]);
  });

  it('reads an externalId with surrounding spaces as the same id', async () => {
    const externalId = `<${uniqueId('msg')}@mail.example.org>`;
    const identities = [{ kind: 'email' as const, value: `${uniqueId('ann')}@example.org` }];
    const first = await ctx.services.ingest({ channel: 'email', externalId, identities });
    const retry = await ctx.services.ingest({
      channel: 'email',
      externalId: `  ${externalId}\n`,
      identities,
    });
    expect(retry).toMatchObject({ isDuplicate: true, interactionId: first.interactionId });
    expect(await messageEventCount('email', externalId)).toBe(1);
  });

  it('never treats the same externalId on another channel as a retry', async () => {
    const externalId = uniqueId('shared');
    const identities = [{ kind: 'phone' as const, value: newPhone().national }];
    const voice = await ctx.services.ingest({ channel: 'voice', externalId, identities });
    const fax = await ctx.services.ingest({ channel: 'fax', externalId, identities });
    expect(voice.isDuplicate).toBe(false);
    expect(fax.isDuplicate).toBe(false);
    expect(fax.interactionId).not.toBe(voice.interactionId);
    expect(await interactionCount('voice', externalId)).toBe(1);
    expect(await interactionCount('fax', externalId)).toBe(1);
  });
});

describe('one customer across channels', () => {
  it('recognises a caller who later chats and emails, by phone in another format and email in another case', async () => {
    const phone = newPhone();
    const email = `${uniqueId('Ann.Smith')}@Example.ORG`;

    const call = await ctx.services.ingest({
      channel: 'voice',
      externalId: uniqueId('CA'),
      identities: [{ kind: 'phone', value: phone.national }],
    });
    const chat = await ctx.services.ingest({
      channel: 'chat',
      externalId: uniqueId('chat'),
      identities: [
        { kind: 'chat_visitor', value: uniqueId('visitor') },
        { kind: 'phone', value: `001 ${phone.e164.slice(2)}` },
        { kind: 'email', value: email },
      ],
    });
    const mail = await ctx.services.ingest({
      channel: 'email',
      externalId: `<${uniqueId('m')}@x>`,
      identities: [{ kind: 'email', value: `Ann Smith <${email.toUpperCase()}>` }],
    });

    expect(call.isNewCustomer).toBe(true);
    expect(chat).toMatchObject({ customerId: call.customerId, isNewCustomer: false, isNewInteraction: true });
    expect(chat.newIdentityIds).toHaveLength(2); // the visitor id and the email, not the phone again
    expect(mail).toMatchObject({ customerId: call.customerId, isNewCustomer: false, newIdentityIds: [] });
    const identities = await identitiesOf(call.customerId);
    expect(identities.map((i) => [i.kind, i.value])).toEqual([
      ['chat_visitor', expect.stringMatching(/^visitor-/)],
      ['email', email.toLowerCase()],
      ['phone', phone.e164],
    ]);
  });

  it('recognises a fax sender by the fax number written another way', async () => {
    const fax = newPhone();
    const first = await ctx.services.ingest({
      channel: 'fax',
      externalId: uniqueId('FX'),
      identities: [{ kind: 'fax', value: fax.national }],
    });
    const second = await ctx.services.ingest({
      channel: 'fax',
      externalId: uniqueId('FX'),
      identities: [{ kind: 'fax', value: `+1.${fax.e164.slice(2, 5)}.${fax.e164.slice(5)}` }],
    });
    expect(second).toMatchObject({ customerId: first.customerId, isNewCustomer: false, newIdentityIds: [] });
  });

  it('lets the first known identity decide and reports the other owner, never merging silently', async () => {
    const annPhone = newPhone();
    const bobEmail = `${uniqueId('bob')}@example.org`;
    const ann = await ctx.services.ingest({
      channel: 'voice',
      externalId: uniqueId('CA'),
      identities: [{ kind: 'phone', value: annPhone.national }],
    });
    const bob = await ctx.services.ingest({
      channel: 'email',
      externalId: uniqueId('mail'),
      identities: [{ kind: 'email', value: bobEmail }],
    });
    const both = await ctx.services.ingest({
      channel: 'chat',
      externalId: uniqueId('chat'),
      identities: [
        { kind: 'phone', value: annPhone.e164 },
        { kind: 'email', value: bobEmail },
      ],
    });
    expect(bob.customerId).not.toBe(ann.customerId);
    expect(both.customerId).toBe(ann.customerId);
    expect(both.otherCustomerIds).toEqual([bob.customerId]);
    // Bob keeps his address: nothing moves without a person confirming a merge.
    expect((await identitiesOf(bob.customerId)).map((i) => i.value)).toEqual([bobEmail]);
  });
});

describe('threading', () => {
  it('joins contacts with the same thread key into the open interaction', async () => {
    const visitor = uniqueId('visitor');
    const threadKey = uniqueId('session');
    const results = [];
    for (const text of ['hi', 'anyone there?', 'my order is late']) {
      results.push(
        await ctx.services.ingest({
          channel: 'chat',
          externalId: uniqueId('chatmsg'),
          threadKey,
          identities: [{ kind: 'chat_visitor', value: visitor }],
          text,
        }),
      );
    }
    const [first, ...rest] = results;
    expect(first?.isNewInteraction).toBe(true);
    for (const r of rest) {
      expect(r).toMatchObject({ interactionId: first?.interactionId, isNewInteraction: false });
    }
    const { events } = await ctx.services.interactions.detail(first!.interactionId);
    expect(events.map((e) => [e.type, e.payload.text])).toEqual([
      ['interaction.created', undefined],
      ['message.received', 'hi'],
      ['message.received', 'anyone there?'],
      ['message.received', 'my order is late'],
    ]);
  });

  it("never threads a contact into another customer's interaction, even with the same thread key", async () => {
    const threadKey = `<${uniqueId('thread')}@mail.example.org>`;
    const ann = await ctx.services.ingest({
      channel: 'email',
      externalId: uniqueId('mail'),
      threadKey,
      identities: [{ kind: 'email', value: `${uniqueId('ann')}@example.org` }],
    });
    const mallory = await ctx.services.ingest({
      channel: 'email',
      externalId: uniqueId('mail'),
      threadKey,
      identities: [{ kind: 'email', value: `${uniqueId('mallory')}@example.net` }],
    });
    expect(mallory.customerId).not.toBe(ann.customerId);
    expect(mallory.interactionId).not.toBe(ann.interactionId);
    expect(mallory.isNewInteraction).toBe(true);
    const { events } = await ctx.services.interactions.detail(ann.interactionId);
    expect(events.filter((e) => e.type === 'message.received')).toHaveLength(1);
  });

  it('never threads a contact into an interaction on another channel', async () => {
    const threadKey = uniqueId('key');
    const identities = [
      { kind: 'phone' as const, value: newPhone().national },
      { kind: 'email' as const, value: `${uniqueId('cy')}@example.org` },
    ];
    const email = await ctx.services.ingest({
      channel: 'email',
      externalId: uniqueId('mail'),
      threadKey,
      identities,
    });
    const chat = await ctx.services.ingest({
      channel: 'chat',
      externalId: uniqueId('chat'),
      threadKey,
      identities,
    });
    expect(chat.customerId).toBe(email.customerId);
    expect(chat.interactionId).not.toBe(email.interactionId);
    expect(chat.isNewInteraction).toBe(true);
  });

  it('never reopens a closed interaction by its thread key', async () => {
    const threadKey = uniqueId('thread');
    const identities = [{ kind: 'email' as const, value: `${uniqueId('dee')}@example.org` }];
    const first = await ctx.services.ingest({
      channel: 'email',
      externalId: uniqueId('mail'),
      threadKey,
      identities,
    });
    await ctx.services.db
      .updateTable('interactions')
      .set({ status: 'closed', closed_at: new Date() })
      .where('id', '=', first.interactionId)
      .execute();
    const later = await ctx.services.ingest({
      channel: 'email',
      externalId: uniqueId('mail'),
      threadKey,
      identities,
    });
    expect(later).toMatchObject({ customerId: first.customerId, isNewInteraction: true });
    expect(later.interactionId).not.toBe(first.interactionId);
  });

  describe("a channel's own threading (thread: the interaction it found)", () => {
    async function emailFrom(who: string, thread?: InboundContact['thread']) {
      return ctx.services.ingest({
        channel: 'email',
        externalId: `<${uniqueId('mail')}@example.org>`,
        identities: [{ kind: 'email', value: who }],
        text: `from ${who}`,
        ...(thread && { thread }),
      });
    }
    async function closeAt(interactionId: string, closedAt: Date) {
      await ctx.services.db
        .updateTable('interactions')
        .set({ status: 'closed', closed_at: closedAt, closed_reason: 'agent closed', disposition: 'solved' })
        .where('id', '=', interactionId)
        .execute();
    }

    it('joins the open interaction, even from a participant who is another customer, and says why', async () => {
      const first = await emailFrom(`${uniqueId('eve')}@example.org`);
      const colleague = await emailFrom(`${uniqueId('finn')}@example.org`, {
        interactionId: first.interactionId,
        reason: 'In-Reply-To names our reply',
        reopenWithinSeconds: 3600,
      });
      expect(colleague).toMatchObject({
        interactionId: first.interactionId,
        isNewInteraction: false,
        isReopened: false,
        threadOutcome: 'joined',
      });
      expect(colleague.customerId).not.toBe(first.customerId);
      const { events } = await ctx.services.interactions.detail(first.interactionId);
      expect(events.at(-1)).toMatchObject({
        type: 'message.received',
        actorId: colleague.customerId,
        payload: {
          threading: {
            outcome: 'joined',
            reason: 'In-Reply-To names our reply',
            threadInteractionId: first.interactionId,
          },
        },
      });
    });

    it('reopens a closed interaction within the window, clearing how it ended', async () => {
      const who = `${uniqueId('gil')}@example.org`;
      const first = await emailFrom(who);
      await closeAt(first.interactionId, new Date(Date.now() - 60_000));
      const reply = await emailFrom(who, {
        interactionId: first.interactionId,
        reason: 'subject token [#1]',
        reopenWithinSeconds: 3600,
      });
      expect(reply).toMatchObject({
        interactionId: first.interactionId,
        isReopened: true,
        threadOutcome: 'reopened',
      });
      expect(ingested.at(-1)).toMatchObject({ interactionId: first.interactionId, isReopened: true });
      const { interaction, events } = await ctx.services.interactions.detail(first.interactionId);
      expect(interaction).toMatchObject({ status: 'new', closedAt: null, assigneeId: null });
      expect(events.slice(-2).map((e) => e.type)).toEqual(['interaction.reopened', 'message.received']);
    });

    it('opens a new interaction linked to one that closed before the window', async () => {
      const who = `${uniqueId('hal')}@example.org`;
      const first = await emailFrom(who);
      await closeAt(first.interactionId, new Date(Date.now() - 2 * 3600_000));
      const reply = await emailFrom(who, {
        interactionId: first.interactionId,
        reason: 'reply token',
        reopenWithinSeconds: 3600,
      });
      expect(reply).toMatchObject({ isNewInteraction: true, isReopened: false, threadOutcome: 'linked' });
      expect(reply.interactionId).not.toBe(first.interactionId);
      const { events } = await ctx.services.interactions.detail(reply.interactionId);
      expect(events[0]).toMatchObject({
        type: 'interaction.created',
        payload: { linkedInteractionId: first.interactionId },
      });
      const old = await ctx.services.interactions.detail(first.interactionId);
      expect(old.interaction.status).toBe('closed');
    });

    it('opens a new interaction when the named one does not exist, and records that', async () => {
      const reply = await emailFrom(`${uniqueId('ida')}@example.org`, {
        interactionId: '0190a0a0-0000-7000-8000-000000000000',
        reason: 'reply token',
        reopenWithinSeconds: 60,
      });
      expect(reply).toMatchObject({ isNewInteraction: true, threadOutcome: 'not-found' });
    });

    it('refuses a thread that is not an interaction id', async () => {
      await expect(
        emailFrom(`${uniqueId('jo')}@example.org`, {
          interactionId: 'nope',
          reason: 'x',
          reopenWithinSeconds: 1,
        }),
      ).rejects.toMatchObject({ code: 'INVALID_CONTACT' });
    });
  });

  it('opens a new interaction for every contact without a thread key', async () => {
    const identities = [{ kind: 'phone' as const, value: newPhone().national }];
    const a = await ctx.services.ingest({ channel: 'voice', externalId: uniqueId('CA'), identities });
    const b = await ctx.services.ingest({ channel: 'voice', externalId: uniqueId('CA'), identities });
    expect(b.customerId).toBe(a.customerId);
    expect(b.interactionId).not.toBe(a.interactionId);
    expect(b.isNewInteraction).toBe(true);
  });
});

describe('nothing the customer sent is lost', () => {
  it('stores a contact whose only identity cannot be normalized, keeping the raw value in the event', async () => {
    const externalId = uniqueId('CA');
    const result = await ctx.services.ingest({
      channel: 'voice',
      externalId,
      identities: [{ kind: 'phone', value: 'anonymous' }],
      text: 'voicemail transcript',
    });
    expect(result).toMatchObject({ isDuplicate: false, isNewInteraction: true, isNewCustomer: true });
    expect(await interactionCount('voice', externalId)).toBe(1);
    const { events } = await ctx.services.interactions.detail(result.interactionId);
    expect(events.find((e) => e.type === 'message.received')?.payload).toEqual({
      text: 'voicemail transcript',
      identities: [],
      unusableIdentities: [{ kind: 'phone', value: 'anonymous' }],
    });
    expect(await identitiesOf(result.customerId)).toEqual([]);
  });

  it('resolves the customer by the usable identities and keeps the unusable ones raw', async () => {
    const email = `${uniqueId('eve')}@example.org`;
    const known = await ctx.services.ingest({
      channel: 'email',
      externalId: uniqueId('mail'),
      identities: [{ kind: 'email', value: email }],
    });
    const result = await ctx.services.ingest({
      channel: 'fax',
      externalId: uniqueId('FX'),
      identities: [
        { kind: 'fax', value: 'FAX MACHINE 3' },
        { kind: 'email', value: ` ${email.toUpperCase()} ` },
      ],
    });
    expect(result.customerId).toBe(known.customerId);
    const { events } = await ctx.services.interactions.detail(result.interactionId);
    expect(events.find((e) => e.type === 'message.received')?.payload).toMatchObject({
      identities: [{ kind: 'email', value: email }],
      unusableIdentities: [{ kind: 'fax', value: 'FAX MACHINE 3' }],
    });
  });

  it('records every attachment against the interaction and the event, once, even when retried', async () => {
    const externalId = `<${uniqueId('att')}@mail.example.org>`;
    const contact: InboundContact = {
      channel: 'email',
      externalId,
      identities: [{ kind: 'email', value: `${uniqueId('fay')}@example.org` }],
      subject: 'Invoice and photo',
      text: 'see attached',
      attachments: [
        {
          fileName: 'invoice.pdf',
          contentType: 'application/pdf',
          sizeBytes: 48_213,
          storageKey: `att/${externalId}/1`,
          sha256: 'a'.repeat(64),
        },
        { fileName: 'photo.jpg', contentType: 'image/jpeg', sizeBytes: 0, storageKey: `att/${externalId}/2` },
      ],
    };
    const result = await ctx.services.ingest(contact);
    await ctx.services.ingest(contact);

    const rows = await ctx.services.db
      .selectFrom('attachments')
      .select([
        'interaction_id',
        'event_id',
        'file_name',
        'content_type',
        'size_bytes',
        'storage_key',
        'sha256',
      ])
      .where('interaction_id', '=', result.interactionId)
      .orderBy('file_name')
      .execute();
    expect(rows.map((r) => ({ ...r, size_bytes: Number(r.size_bytes) }))).toEqual([
      {
        interaction_id: result.interactionId,
        event_id: result.eventId,
        file_name: 'invoice.pdf',
        content_type: 'application/pdf',
        size_bytes: 48_213,
        storage_key: `att/${externalId}/1`,
        sha256: 'a'.repeat(64),
      },
      {
        interaction_id: result.interactionId,
        event_id: result.eventId,
        file_name: 'photo.jpg',
        content_type: 'image/jpeg',
        size_bytes: 0,
        storage_key: `att/${externalId}/2`,
        sha256: null,
      },
    ]);
    const { events } = await ctx.services.interactions.detail(result.interactionId);
    expect(events.find((e) => e.id === result.eventId)?.payload.attachments).toEqual([
      { fileName: 'invoice.pdf', contentType: 'application/pdf', sizeBytes: 48_213 },
      { fileName: 'photo.jpg', contentType: 'image/jpeg', sizeBytes: 0 },
    ]);
  });
});

describe('the event log is append-only', () => {
  it('refuses an UPDATE or DELETE of a logged event, through Kysely or raw SQL', async () => {
    const result = await ctx.services.ingest({
      channel: 'chat',
      externalId: uniqueId('chat'),
      identities: [{ kind: 'chat_visitor', value: uniqueId('visitor') }],
      text: 'original words',
    });
    const { db } = ctx.services;
    await expect(
      db
        .updateTable('interaction_events')
        .set({ payload: JSON.stringify({ text: 'rewritten' }) })
        .where('id', '=', result.eventId)
        .execute(),
    ).rejects.toThrow(/append-only \(UPDATE refused\)/);
    await expect(
      db.deleteFrom('interaction_events').where('id', '=', result.eventId).execute(),
    ).rejects.toThrow(/append-only \(DELETE refused\)/);
    await expect(
      sql`update interaction_events set type = 'note.added' where interaction_id = ${result.interactionId}`.execute(
        db,
      ),
    ).rejects.toThrow(/append-only/);
    await expect(
      sql`delete from interaction_events where interaction_id = ${result.interactionId}`.execute(db),
    ).rejects.toThrow(/append-only/);

    const { events } = await ctx.services.interactions.detail(result.interactionId);
    expect(events.map((e) => [e.type, e.payload.text])).toEqual([
      ['interaction.created', undefined],
      ['message.received', 'original words'],
    ]);
  });
});

describe('validation', () => {
  const identities = [{ kind: 'email' as const, value: 'valid@example.org' }];
  it.each<[string, InboundContact]>([
    ['an empty externalId', { channel: 'email', externalId: '', identities }],
    ['a blank externalId', { channel: 'email', externalId: '   ', identities }],
    ['an externalId over 500 characters', { channel: 'email', externalId: 'x'.repeat(501), identities }],
    ['an unknown channel', { channel: 'sms' as Channel, externalId: 'sms-1', identities }],
    [
      'a text over a million characters',
      { channel: 'email', externalId: 'big-1', identities, text: 'x'.repeat(1_000_001) },
    ],
  ])('refuses %s with INVALID_CONTACT and stores nothing', async (_what, contact) => {
    const before = await totalInteractions();
    const error = await expectAppError(ctx.services.ingest(contact), 'INVALID_CONTACT');
    expect(error.status).toBe(400);
    expect(await totalInteractions()).toBe(before);
  });
});

describe('customer timeline', () => {
  const base = Date.parse('2026-11-23T09:00:00.000Z');
  const at = (minutes: number) => new Date(base + minutes * 60_000);
  let customerId: string;
  /** Every event of the customer, in the order the timeline must give them. */
  let expected: { occurredAt: string; channel: Channel; type: string }[];
  let cookie: string;

  beforeAll(async () => {
    const phone = newPhone();
    const email = `${uniqueId('tia')}@example.org`;
    const visitor = uniqueId('visitor');
    const chatThread = uniqueId('chat-session');
    const mailThread = `<${uniqueId('thread')}@mail.example.org>`;
    const other = [{ kind: 'phone' as const, value: newPhone().national }];

    // Inserted out of time order on purpose; another customer's contacts are interleaved.
    const contacts: InboundContact[] = [
      {
        channel: 'email',
        externalId: uniqueId('mail'),
        threadKey: mailThread,
        identities: [
          { kind: 'email', value: email },
          { kind: 'phone', value: phone.national },
        ],
        occurredAt: at(180),
      },
      { channel: 'voice', externalId: uniqueId('CA'), identities: other, occurredAt: at(200) },
      {
        channel: 'voice',
        externalId: uniqueId('CA'),
        identities: [{ kind: 'phone', value: phone.e164 }],
        occurredAt: at(0),
      },
      {
        channel: 'chat',
        externalId: uniqueId('chat'),
        threadKey: chatThread,
        identities: [
          { kind: 'chat_visitor', value: visitor },
          { kind: 'email', value: email.toUpperCase() },
        ],
        occurredAt: at(300),
      },
      {
        channel: 'fax',
        externalId: uniqueId('FX'),
        identities: [
          { kind: 'fax', value: newPhone().national },
          { kind: 'phone', value: phone.national },
        ],
        occurredAt: at(60),
      },
      { channel: 'voice', externalId: uniqueId('CA'), identities: other, occurredAt: at(30) },
      // Joins the chat session, though stamped before the session's first message.
      {
        channel: 'chat',
        externalId: uniqueId('chat'),
        threadKey: chatThread,
        identities: [{ kind: 'chat_visitor', value: visitor }],
        occurredAt: at(240),
      },
      // A reply in the email thread.
      {
        channel: 'email',
        externalId: uniqueId('mail'),
        threadKey: mailThread,
        identities: [{ kind: 'email', value: email }],
        occurredAt: at(120),
      },
    ];
    const customers = new Set<string>();
    for (const contact of contacts) {
      const r = await ctx.services.ingest(contact);
      if (contact.identities !== other) customers.add(r.customerId);
    }
    expect(customers.size).toBe(1);
    customerId = [...customers][0]!;

    // At one instant, the interaction.created event precedes its first message (lower id): newest first
    // puts the message first.
    const row = (minutes: number, channel: Channel, type: string) => ({
      occurredAt: at(minutes).toISOString(),
      channel,
      type,
    });
    expected = [
      row(300, 'chat', 'message.received'),
      row(300, 'chat', 'interaction.created'),
      row(240, 'chat', 'message.received'),
      row(180, 'email', 'message.received'),
      row(180, 'email', 'interaction.created'),
      row(120, 'email', 'message.received'),
      row(60, 'fax', 'message.received'),
      row(60, 'fax', 'interaction.created'),
      row(0, 'voice', 'message.received'),
      row(0, 'voice', 'interaction.created'),
    ];
    ({ cookie } = await ctx.loginAs('agent'));
  });

  const shape = (events: LoggedEvent[]) =>
    events.map((e) => ({ occurredAt: e.occurredAt, channel: e.channel, type: e.type }));

  function expectNewestFirst(events: LoggedEvent[]) {
    for (let i = 1; i < events.length; i += 1) {
      const newer = events[i - 1]!;
      const older = events[i]!;
      const byTime = Date.parse(newer.occurredAt) - Date.parse(older.occurredAt);
      expect(byTime > 0 || (byTime === 0 && BigInt(newer.id) > BigInt(older.id))).toBe(true);
    }
  }

  async function getTimeline(query: string) {
    const response = await ctx.app.inject({
      method: 'GET',
      url: `/api/customers/${customerId}/timeline${query}`,
      headers: { cookie },
    });
    expect(response.statusCode).toBe(200);
    return response.json<{ events: LoggedEvent[]; nextCursor: string | null }>();
  }

  it('interleaves voice, email, chat and fax events newest first, from the service', async () => {
    const { events, nextCursor } = await ctx.services.customers.timeline(customerId, 50);
    expect(shape(events)).toEqual(expected);
    expectNewestFirst(events);
    expect(nextCursor).toBeNull();
  });

  it('gives the same timeline over HTTP to a logged-in agent', async () => {
    const { events, nextCursor } = await getTimeline('?limit=50');
    expect(shape(events)).toEqual(expected);
    expectNewestFirst(events);
    expect(nextCursor).toBeNull();
    const fromService = await ctx.services.customers.timeline(customerId, 50);
    expect(events).toEqual(fromService.events);
  });

  it('refuses the timeline to a request without a session', async () => {
    const response = await ctx.app.inject({ method: 'GET', url: `/api/customers/${customerId}/timeline` });
    expect(response.statusCode).toBe(401);
  });

  it('refuses a forged cursor with 400 INVALID_CURSOR', async () => {
    const response = await ctx.app.inject({
      method: 'GET',
      url: `/api/customers/${customerId}/timeline?limit=2&cursor=${Buffer.from('soon|1').toString('base64url')}`,
      headers: { cookie },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ error: { code: string } }>().error.code).toBe('INVALID_CURSOR');
  });

  /** Follows nextCursor to the end; returns the pages. */
  async function walk(
    fetchPage: (cursor: string | undefined) => Promise<{ events: LoggedEvent[]; nextCursor: string | null }>,
  ) {
    const pages: LoggedEvent[][] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await fetchPage(cursor);
      pages.push(page.events);
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
      expect(pages.length).toBeLessThan(100); // a cursor that never advances must not hang the test
    }
    return pages;
  }

  function expectEveryEventOnce(pages: LoggedEvent[][], limit: number, all: LoggedEvent[]) {
    const walked = pages.flat();
    expect(walked.map((e) => e.id)).toEqual(all.map((e) => e.id));
    expect(new Set(walked.map((e) => e.id)).size).toBe(walked.length);
    // Full pages until the last; the last is never empty (no dangling cursor on an exact multiple).
    expect(pages.map((p) => p.length)).toEqual(
      Array.from({ length: Math.ceil(all.length / limit) }, (_, i) =>
        Math.min(limit, all.length - i * limit),
      ),
    );
  }

  it.each([1, 2, 3, 4, 5, 9, 10, 11])(
    'walks every event exactly once with limit %i, ending with nextCursor null (service)',
    async (limit) => {
      const pages = await walk((cursor) => ctx.services.customers.timeline(customerId, limit, cursor));
      expect(shape(pages.flat())).toEqual(expected);
      const { events: all } = await ctx.services.customers.timeline(customerId, 50);
      expectEveryEventOnce(pages, limit, all);
    },
  );

  it.each([1, 3, 5])(
    'walks every event exactly once with limit %i, ending with nextCursor null (HTTP)',
    async (limit) => {
      const pages = await walk((cursor) =>
        getTimeline(`?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
      );
      expect(shape(pages.flat())).toEqual(expected);
      const { events: all } = await getTimeline('?limit=50');
      expectEveryEventOnce(pages, limit, all);
    },
  );

  it('never skips events stamped by the database clock (microsecond timestamps) when paginating', async () => {
    // No occurredAt: Postgres stamps now(), with microseconds; the interaction.created event and the
    // message share that instant. A cursor that rounds the instant to milliseconds loses the older one.
    const identities = [{ kind: 'phone' as const, value: newPhone().national }];
    let id = '';
    for (let i = 0; i < 3; i += 1) {
      ({ customerId: id } = await ctx.services.ingest({
        channel: 'voice',
        externalId: uniqueId('CA'),
        identities,
      }));
    }
    const { events: all } = await ctx.services.customers.timeline(id, 50);
    expect(all).toHaveLength(6);
    const pages = await walk((cursor) => ctx.services.customers.timeline(id, 1, cursor));
    expectEveryEventOnce(pages, 1, all);
  });
});
