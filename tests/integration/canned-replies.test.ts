import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Standard answers over HTTP on a real Postgres: supervisors and admins write them (each write in the audit
 * log), agents read, search and render them and may not write (403, nothing changed); placeholders are
 * checked on save and rendered for an interaction; search ranks the way the composer's picker needs.
 */

let ctx: TestContext;
const cookies = { agent: '', supervisor: '', admin: '' };
let supervisorId: string;
let agentName: string;
let emailInteractionId: string;
let ticketNumber: number;

beforeAll(async () => {
  ctx = await createTestContext({ config: { routeOnIngest: false } });
  const agent = await ctx.loginAs('agent');
  cookies.agent = agent.cookie;
  agentName = (await ctx.services.agents.get(agent.agentId)).displayName;
  const supervisor = await ctx.loginAs('supervisor');
  cookies.supervisor = supervisor.cookie;
  supervisorId = supervisor.agentId;
  cookies.admin = (await ctx.loginAs('admin')).cookie;
  const contact = await ctx.services.ingest({
    channel: 'email',
    externalId: `<${randomUUID()}@canned>`,
    identities: [{ kind: 'email', value: 'ada@canned.example' }],
    displayName: 'Ada Lovelace',
    subject: 'Where is my parcel?',
    text: 'hello',
  });
  emailInteractionId = contact.interactionId;
  ticketNumber = (await ctx.services.interactions.detail(emailInteractionId)).interaction.ticketNumber;
});
afterAll(() => ctx.close());

type Caller = keyof typeof cookies;

async function call(
  caller: Caller,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  payload?: Record<string, unknown>,
) {
  return ctx.app.inject({ method, url, headers: { cookie: cookies[caller] }, ...(payload && { payload }) });
}

async function create(payload: Record<string, unknown>, caller: Caller = 'supervisor') {
  const response = await call(caller, 'POST', '/api/canned-replies', payload);
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ reply: { id: string } & Record<string, unknown> }>().reply;
}

const titles = async (q: string, extra = '') =>
  (await call('agent', 'GET', `/api/canned-replies?q=${encodeURIComponent(q)}${extra}`))
    .json<{ replies: { title: string }[] }>()
    .replies.map((r) => r.title);

describe('writing', () => {
  it('creates, changes and deletes as a supervisor, each step in the audit log', async () => {
    const created = await create({
      title: '  Parcel delayed ',
      body: 'Hello {{customer.firstName}}, your parcel ({{ticket}}) is on its way.',
      shortcut: '/Parcel',
      keywords: [' Delivery ', 'PARCEL', 'parcel', 'where is my order'],
      channels: ['email', 'chat', 'email'],
    });
    expect(created).toMatchObject({
      title: 'Parcel delayed',
      shortcut: 'parcel',
      keywords: ['delivery', 'parcel', 'where is my order'],
      channels: ['email', 'chat'],
      isVisitorSuggestible: false,
      createdBy: supervisorId,
      updatedBy: null,
    });

    const changed = await call('supervisor', 'PATCH', `/api/canned-replies/${created.id}`, {
      title: 'Parcel delayed (carrier)',
      isVisitorSuggestible: true,
    });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({
      reply: { title: 'Parcel delayed (carrier)', isVisitorSuggestible: true, updatedBy: supervisorId },
    });

    const read = await call('agent', 'GET', `/api/canned-replies/${created.id}`);
    expect(read.json()).toMatchObject({ reply: { id: created.id, body: created.body } });

    expect((await call('admin', 'DELETE', `/api/canned-replies/${created.id}`)).statusCode).toBe(204);
    expect((await call('agent', 'GET', `/api/canned-replies/${created.id}`)).json()).toMatchObject({
      error: { code: 'CANNED_REPLY_NOT_FOUND' },
    });
    expect((await call('admin', 'DELETE', `/api/canned-replies/${created.id}`)).statusCode).toBe(404);

    const audit = (await call('admin', 'GET', '/api/audit?limit=50')).json<{
      entries: { action: string; subjectId: string; actorId: string; details: Record<string, unknown> }[];
    }>();
    const mine = audit.entries.filter((e) => e.subjectId === created.id).reverse();
    expect(mine.map((e) => e.action)).toEqual([
      'cannedReply.created',
      'cannedReply.updated',
      'cannedReply.deleted',
    ]);
    expect(mine[0]).toMatchObject({ actorId: supervisorId, details: { title: 'Parcel delayed' } });
    expect(mine[1]?.details).toMatchObject({ changed: { isVisitorSuggestible: true } });
    // The deleted reply can be read back from its audit entry.
    expect(mine[2]?.details).toMatchObject({ reply: { body: created.body, shortcut: 'parcel' } });
  });

  it('refuses agents (403) and anonymous callers (401), changing nothing', async () => {
    const reply = await create({ title: 'Not for agents to change', body: 'Body' });
    const attempts = [
      await call('agent', 'POST', '/api/canned-replies', { title: 'Sneaky', body: 'x' }),
      await call('agent', 'PATCH', `/api/canned-replies/${reply.id}`, { title: 'Changed' }),
      await call('agent', 'DELETE', `/api/canned-replies/${reply.id}`),
    ];
    for (const response of attempts) {
      expect(response.statusCode).toBe(403);
      expect(response.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    }
    const anonymous = await ctx.app.inject({ method: 'GET', url: '/api/canned-replies' });
    expect(anonymous.statusCode).toBe(401);
    expect(await titles('sneaky')).toEqual([]);
    expect((await call('agent', 'GET', `/api/canned-replies/${reply.id}`)).json()).toMatchObject({
      reply: { title: 'Not for agents to change' },
    });
  });

  it('refuses unknown placeholders, a taken shortcut and malformed input', async () => {
    const unknown = await call('supervisor', 'POST', '/api/canned-replies', {
      title: 'Typo',
      body: 'Hi {{customer.nmae}} and {{ order }}',
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({
      error: {
        code: 'UNKNOWN_PLACEHOLDER',
        details: { unknown: ['customer.nmae', 'order'] },
      },
    });
    expect(unknown.json<{ error: { message: string } }>().error.message).toContain('{{customer.nmae}}');

    const first = await create({ title: 'Hours', body: 'We are open 9 to 5.', shortcut: 'hours' });
    const taken = await call('supervisor', 'POST', '/api/canned-replies', {
      title: 'Hours again',
      body: 'x',
      shortcut: 'HOURS',
    });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ error: { code: 'CANNED_REPLY_SHORTCUT_TAKEN' } });
    const other = await create({ title: 'Other', body: 'x' });
    const patchTaken = await call('supervisor', 'PATCH', `/api/canned-replies/${other.id}`, {
      shortcut: '/hours',
    });
    expect(patchTaken.json()).toMatchObject({ error: { code: 'CANNED_REPLY_SHORTCUT_TAKEN' } });
    const patchUnknown = await call('supervisor', 'PATCH', `/api/canned-replies/${first.id}`, {
      body: '{{nope}}',
    });
    expect(patchUnknown.json()).toMatchObject({ error: { code: 'UNKNOWN_PLACEHOLDER' } });

    for (const payload of [
      { title: ' ', body: 'x' },
      { title: 'x', body: 'x', shortcut: 'two words' },
      { title: 'x', body: 'x', channels: ['pigeon'] },
      { title: 'x', body: 'x', extra: true },
    ]) {
      const response = await call('supervisor', 'POST', '/api/canned-replies', payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect((await call('supervisor', 'PATCH', `/api/canned-replies/${first.id}`, {})).statusCode).toBe(400);
    expect(
      (await call('supervisor', 'PATCH', `/api/canned-replies/${randomUUID()}`, { title: 'x' })).json(),
    ).toMatchObject({ error: { code: 'CANNED_REPLY_NOT_FOUND' } });
  });
});

describe('search', () => {
  beforeAll(async () => {
    await create({ title: 'Refund policy', body: 'Refunds take 5 days.', shortcut: 'refund' });
    await create({ title: 'Refund for a damaged item', body: 'Send us a photo of the damage.' });
    await create({ title: 'Shipping times', body: 'We ship within a day; refunds are separate.' });
    await create({ title: 'Cancel an order', body: 'Cancel within 1 hour.', keywords: ['refund'] });
    await create({ title: 'Phone only', body: 'Call us back.', channels: ['voice'] });
    await create({ title: '100% sure_thing', body: 'Literal wildcards.' });
  });

  it('matches title, shortcut, keywords and body, case-insensitively, best first', async () => {
    expect(await titles('REFUND')).toEqual([
      'Refund policy', // the shortcut, exactly
      'Refund for a damaged item', // title prefix
      'Cancel an order', // a keyword
      'Shipping times', // the body
    ]);
    expect(await titles('/refund')).toEqual(await titles('refund'));
    expect(await titles('damaged refund')).toEqual(['Refund for a damaged item']);
    expect(await titles('  dAMAGE  ')).toEqual(['Refund for a damaged item']);
    expect(await titles('nothing like this')).toEqual([]);
  });

  it('treats LIKE wildcards as text', async () => {
    expect(await titles('100%')).toEqual(['100% sure_thing']);
    expect(await titles('e_t')).toEqual(['100% sure_thing']);
    expect(await titles('%')).toEqual(['100% sure_thing']);
  });

  it('keeps to a channel when asked, lists everything by title without a query, and pages', async () => {
    expect(await titles('call')).toEqual(['Phone only']);
    expect(await titles('call', '&channel=email')).toEqual([]);
    expect(await titles('call', '&channel=voice')).toEqual(['Phone only']);
    const all = await titles('');
    expect(all).toEqual([...all].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));
    expect(all.length).toBeGreaterThanOrEqual(6);
    expect(await titles('', '&limit=2')).toEqual(all.slice(0, 2));
  });

  it('is served by the trigram index where pg_trgm exists', async () => {
    const { rows } = await ctx.services.pool.query<{ indexname: string }>(
      `select indexname from pg_indexes where tablename = 'canned_replies' and schemaname = current_schema()`,
    );
    const { rows: available } = await ctx.services.pool.query(
      `select 1 from pg_available_extensions where name = 'pg_trgm'`,
    );
    if (available.length > 0) expect(rows.map((r) => r.indexname)).toContain('canned_replies_search_idx');
  });
});

describe('rendering for an interaction', () => {
  it('fills the customer, the agent and the ticket token, and leaves what has no value', async () => {
    const reply = await create({
      title: 'Greeting',
      body: 'Hello {{customer.firstName}} ({{customer.name}}), {{agent.firstName}} here about {{ticket}}.',
    });
    const response = await call(
      'agent',
      'GET',
      `/api/interactions/${emailInteractionId}/canned-replies/${reply.id}/render`,
    );
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({
      reply: { id: reply.id, title: 'Greeting' },
      text: `Hello Ada (Ada Lovelace), ${agentName.split(' ')[0]} here about #${ticketNumber}.`,
      unresolved: [],
    });

    const nameless = await ctx.services.ingest({
      channel: 'email',
      externalId: `<${randomUUID()}@canned>`,
      identities: [{ kind: 'email', value: `${randomUUID()}@canned.example` }],
      text: 'hi',
    });
    const namelessTicket = (await ctx.services.interactions.detail(nameless.interactionId)).interaction
      .ticketNumber;
    const unresolved = await call(
      'agent',
      'GET',
      `/api/interactions/${nameless.interactionId}/canned-replies/${reply.id}/render`,
    );
    expect(unresolved.json()).toMatchObject({
      text: `Hello {{customer.firstName}} ({{customer.name}}), ${agentName.split(' ')[0]} here about #${namelessTicket}.`,
      unresolved: ['{{customer.firstName}}', '{{customer.name}}'],
    });
  });

  it('refuses a reply meant for another channel, and unknown ids', async () => {
    const voiceOnly = await create({
      title: 'Voice script',
      body: 'Thanks for calling.',
      channels: ['voice'],
    });
    const wrong = await call(
      'agent',
      'GET',
      `/api/interactions/${emailInteractionId}/canned-replies/${voiceOnly.id}/render`,
    );
    expect(wrong.statusCode).toBe(409);
    expect(wrong.json()).toMatchObject({ error: { code: 'CANNED_REPLY_WRONG_CHANNEL' } });
    expect(
      (
        await call('agent', 'GET', `/api/interactions/${randomUUID()}/canned-replies/${voiceOnly.id}/render`)
      ).json(),
    ).toMatchObject({ error: { code: 'INTERACTION_NOT_FOUND' } });
    expect(
      (
        await call(
          'agent',
          'GET',
          `/api/interactions/${emailInteractionId}/canned-replies/${randomUUID()}/render`,
        )
      ).json(),
    ).toMatchObject({ error: { code: 'CANNED_REPLY_NOT_FOUND' } });
  });
});
