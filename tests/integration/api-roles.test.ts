import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/db/repositories/agents.repository.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Role × route: every /api route, called by nobody, an agent, a supervisor and an admin, with a valid request.
 * Anonymous gets 401, a role the route does not allow gets 403 and changes nothing, an allowed role succeeds.
 * The table must list exactly the routes the app registers: a new route without a row fails here.
 */

type Caller = 'anonymous' | Role;
const callers: Caller[] = ['anonymous', 'agent', 'supervisor', 'admin'];
const password = 'correct horse battery';

let ctx: TestContext;
const cookies: Partial<Record<Caller, string>> = {};
const emails: Partial<Record<Role, string>> = {};
let adminId: string;
const agentIds: Partial<Record<Role, string>> = {};
let customerId: string;
let interactionId: string;
let patchableAgentId: string;
/** Holds the offers and assignments set up for anonymous callers, who have no agent of their own. */
let spareAgentId: string;

beforeAll(async () => {
  // Routing on ingest is off: the routing rows set up each offer and assignment themselves.
  ctx = await createTestContext({ config: { routeOnIngest: false } });
  for (const role of ['agent', 'supervisor', 'admin'] as const) {
    emails[role] = `${role}-roles@test.switchboard`;
    const { cookie, agentId } = await ctx.loginAs(role, { email: emails[role] });
    cookies[role] = cookie;
    agentIds[role] = agentId;
    if (role === 'admin') adminId = agentId;
  }
  // Replies need a channel that can send: a sender that takes every email (delivery is tested elsewhere).
  ctx.services.outboundRegistry.register('email', { isImmediate: true, send: async () => ({}) });
  spareAgentId = (
    await ctx.services.agents.create(
      {
        email: 'spare@test.switchboard',
        displayName: 'Spare',
        role: 'agent',
        password,
        capacity: { email: 50 },
      },
      null,
    )
  ).id;
  const contact = await ctx.services.ingest({
    channel: 'email',
    externalId: `<${randomUUID()}@roles>`,
    identities: [{ kind: 'email', value: 'roles@roles.example' }],
    displayName: 'Rolf Roles',
    text: 'hello',
  });
  customerId = contact.customerId;
  interactionId = contact.interactionId;
  patchableAgentId = (
    await ctx.services.agents.create(
      { email: 'patch-me@test.switchboard', displayName: 'Patch Me', role: 'agent', password },
      null,
    )
  ).id;
});
afterAll(() => ctx.close());

async function newCustomer(): Promise<string> {
  const result = await ctx.services.ingest({
    channel: 'email',
    externalId: `<${randomUUID()}@roles>`,
    identities: [{ kind: 'email', value: `${randomUUID()}@roles.example` }],
  });
  return result.customerId;
}

async function isMerged(id: string): Promise<boolean> {
  return !!(await ctx.services.repositories.customers.findById(id))?.mergedIntoId;
}

/** A new contact waiting in its queue (the demo rules' default queue, support, needs no skills). */
async function waitingContact(): Promise<string> {
  const contact = await ctx.services.ingest({
    channel: 'email',
    externalId: `<${randomUUID()}@roles>`,
    identities: [{ kind: 'email', value: `${randomUUID()}@roles.example` }],
    text: 'hello',
  });
  await ctx.services.routing.queueing.enqueue(contact.interactionId);
  return contact.interactionId;
}

/** A live offer of a new contact to `agentId` (or to the spare agent), claimed directly. */
async function offerTo(agentId: string | undefined): Promise<{ offerId: string; interactionId: string }> {
  const agent = agentId ?? spareAgentId;
  await ctx.services.pool.query(
    `insert into agent_states (agent_id, state) values ($1, 'available')
     on conflict (agent_id) do update set state = 'available', away_reason = null`,
    [agent],
  );
  const interactionId = await waitingContact();
  const result = await ctx.services.repositories.routing.claim({
    agentId: agent,
    interactionId,
    channel: 'email',
    capacity: 50,
    exclusiveChannels: ['voice'],
    queue: 'support',
    strategy: 'round-robin',
    reason: 'roles test',
    timeoutSeconds: 600,
    rotationQueue: null,
    eventPayload: {
      agentId: agent,
      queue: 'support',
      strategy: 'round-robin',
      reason: 'roles test',
      trigger: 'dispatch',
      passedOver: [],
    },
  });
  if (result.status !== 'claimed') throw new Error(`claim refused: ${result.status}`);
  return { offerId: result.offerId, interactionId };
}

/** A contact assigned to `agentId` (or the spare agent). */
async function assignedTo(agentId: string | undefined): Promise<string> {
  const { offerId, interactionId } = await offerTo(agentId);
  await ctx.services.routing.offers.accept(offerId, agentId ?? spareAgentId);
  return interactionId;
}

/** A new standard answer, written straight through the service (as the admin). */
async function cannedReply(): Promise<{ id: string }> {
  const admin = await ctx.services.agents.get(adminId);
  return ctx.services.cannedReplies.create(
    { title: `Roles ${randomUUID()}`, body: 'Hi {{customer.name}}' },
    admin,
  );
}

/** An attachment whose bytes the core keeps, on a new email (as a web chat image is kept). */
async function storedAttachment(): Promise<string> {
  const id = randomUUID();
  const content = Buffer.from('%PDF-1.7\n');
  await ctx.services.db.insertInto('attachment_contents').values({ storage_key: id, content }).execute();
  await ctx.services.ingest({
    channel: 'email',
    externalId: `<${randomUUID()}@roles>`,
    identities: [{ kind: 'email', value: 'roles@roles.example' }],
    attachments: [
      { id, storageKey: id, fileName: 'scan.pdf', contentType: 'application/pdf', sizeBytes: content.length },
    ],
  });
  return id;
}

const callerId = (caller: Caller) => (caller === 'anonymous' ? undefined : agentIds[caller]);
const interactionStatus = async (id: string) =>
  (await ctx.services.repositories.interactions.findById(id))?.status;

interface Call {
  url: string;
  payload?: Record<string, unknown>;
  /** A body that is not JSON (a multipart upload), with its content type. */
  raw?: { body: Buffer; contentType: string };
  /** Replaces the caller's cookie (logout ends the session it is given). */
  cookie?: string;
  /** Whether the call changed anything: true after an allowed call, false after a refused one. */
  hasEffect?: () => Promise<boolean>;
}

interface RouteRow {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** As registered, with :params. */
  path: string;
  access: 'public' | readonly Role[];
  /** Status of an allowed call. */
  success: number;
  call(caller: Caller): Promise<Call>;
}

const anyAgent = ['agent', 'supervisor', 'admin'] as const;
const supervisors = ['supervisor', 'admin'] as const;
const admins = ['admin'] as const;

const table: RouteRow[] = [
  {
    method: 'POST',
    path: '/api/auth/login',
    access: 'public',
    success: 200,
    call: async () => ({ url: '/api/auth/login', payload: { email: emails.agent, password } }),
  },
  {
    method: 'POST',
    path: '/api/auth/logout',
    access: anyAgent,
    success: 204,
    call: async (caller) => {
      if (caller === 'anonymous') return { url: '/api/auth/logout' };
      const login = await ctx.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { email: emails[caller], password },
      });
      const cookie = `sb_session=${login.cookies.find((c) => c.name === 'sb_session')!.value}`;
      return {
        url: '/api/auth/logout',
        cookie,
        hasEffect: async () =>
          (await ctx.app.inject({ method: 'GET', url: '/api/auth/me', headers: { cookie } })).statusCode ===
          401,
      };
    },
  },
  {
    method: 'GET',
    path: '/api/auth/me',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: '/api/auth/me' }),
  },
  {
    method: 'GET',
    path: '/api/agents',
    access: supervisors,
    success: 200,
    call: async () => ({ url: '/api/agents' }),
  },
  {
    method: 'POST',
    path: '/api/agents',
    access: admins,
    success: 201,
    call: async () => {
      const email = `new-${randomUUID()}@test.switchboard`;
      return {
        url: '/api/agents',
        payload: { email, displayName: 'New Agent', role: 'agent', password },
        hasEffect: async () => !!(await ctx.services.repositories.agents.findCredentials(email)),
      };
    },
  },
  {
    method: 'PATCH',
    path: '/api/agents/:id',
    access: admins,
    success: 200,
    call: async () => {
      const displayName = `Renamed ${randomUUID()}`;
      return {
        url: `/api/agents/${patchableAgentId}`,
        payload: { displayName },
        hasEffect: async () => (await ctx.services.agents.get(patchableAgentId)).displayName === displayName,
      };
    },
  },
  {
    method: 'GET',
    path: '/api/customers',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: '/api/customers?q=rolf' }),
  },
  {
    method: 'GET',
    path: '/api/customers/:id',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: `/api/customers/${customerId}` }),
  },
  {
    method: 'GET',
    path: '/api/customers/:id/timeline',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: `/api/customers/${customerId}/timeline?limit=10` }),
  },
  {
    method: 'GET',
    path: '/api/customers/:id/duplicate-suggestions',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: `/api/customers/${customerId}/duplicate-suggestions` }),
  },
  {
    method: 'GET',
    path: '/api/duplicate-suggestions',
    access: supervisors,
    success: 200,
    call: async () => ({ url: '/api/duplicate-suggestions?status=open' }),
  },
  {
    method: 'POST',
    path: '/api/duplicate-suggestions/:id/dismiss',
    access: supervisors,
    success: 204,
    call: async () => {
      const [a, b] = [await newCustomer(), await newCustomer()];
      await ctx.services.duplicateDetector.detectFor(a, [b]);
      const [suggestion] = await ctx.services.repositories.duplicates.forCustomer(a);
      return {
        url: `/api/duplicate-suggestions/${suggestion!.id}/dismiss`,
        hasEffect: async () =>
          (await ctx.services.repositories.duplicates.findById(suggestion!.id))?.status === 'dismissed',
      };
    },
  },
  {
    method: 'POST',
    path: '/api/customers/:id/merge',
    access: supervisors,
    success: 200,
    call: async () => {
      const [target, source] = [await newCustomer(), await newCustomer()];
      return {
        url: `/api/customers/${target}/merge`,
        payload: { sourceCustomerId: source },
        hasEffect: () => isMerged(source),
      };
    },
  },
  {
    method: 'POST',
    path: '/api/merges/:auditId/undo',
    access: supervisors,
    success: 200,
    call: async () => {
      const [target, source] = [await newCustomer(), await newCustomer()];
      const { auditId } = await ctx.services.customers.merge(source, target, adminId);
      return { url: `/api/merges/${auditId}/undo`, hasEffect: async () => !(await isMerged(source)) };
    },
  },
  {
    method: 'GET',
    path: '/api/interactions/:id',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: `/api/interactions/${interactionId}` }),
  },
  {
    method: 'POST',
    path: '/api/interactions/:id/notes',
    access: anyAgent,
    success: 201,
    call: async () => {
      const text = `note ${randomUUID()}`;
      return {
        url: `/api/interactions/${interactionId}/notes`,
        payload: { text },
        hasEffect: async () =>
          (await ctx.services.interactions.detail(interactionId)).events.some((e) => e.payload.text === text),
      };
    },
  },
  {
    method: 'GET',
    path: '/api/me/status',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: '/api/me/status' }),
  },
  {
    method: 'GET',
    path: '/api/me/worklist',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: '/api/me/worklist' }),
  },
  {
    method: 'POST',
    path: '/api/me/state',
    access: anyAgent,
    success: 200,
    call: async (caller) => {
      const reason = `roles ${randomUUID()}`;
      const id = callerId(caller);
      return {
        url: '/api/me/state',
        payload: { state: 'away', reason },
        ...(id && {
          hasEffect: async () => (await ctx.services.agentStates.status(id))?.awayReason === reason,
        }),
      };
    },
  },
  {
    method: 'POST',
    path: '/api/me/ready',
    access: anyAgent,
    success: 200,
    call: async (caller) => {
      const id = callerId(caller);
      if (id)
        await ctx.services.pool.query(
          `insert into agent_states (agent_id, state) values ($1, 'wrap_up')
           on conflict (agent_id) do update set state = 'wrap_up', away_reason = null`,
          [id],
        );
      return { url: '/api/me/ready' };
    },
  },
  {
    method: 'POST',
    path: '/api/offers/:id/accept',
    access: anyAgent,
    success: 200,
    call: async (caller) => {
      const { offerId, interactionId: id } = await offerTo(callerId(caller));
      return {
        url: `/api/offers/${offerId}/accept`,
        ...(caller !== 'anonymous' && {
          hasEffect: async () => (await interactionStatus(id)) === 'assigned',
        }),
      };
    },
  },
  {
    method: 'POST',
    path: '/api/offers/:id/reject',
    access: anyAgent,
    success: 204,
    call: async (caller) => {
      const { offerId } = await offerTo(callerId(caller));
      return {
        url: `/api/offers/${offerId}/reject`,
        payload: { reason: 'busy' },
        hasEffect: async () =>
          (await ctx.services.repositories.routing.findOffer(offerId))?.status === 'rejected',
      };
    },
  },
  {
    method: 'POST',
    path: '/api/interactions/:id/close',
    access: anyAgent,
    success: 204,
    call: async (caller) => {
      const id = await assignedTo(callerId(caller));
      return {
        url: `/api/interactions/${id}/close`,
        payload: { disposition: 'resolved' },
        hasEffect: async () => (await interactionStatus(id)) === 'closed',
      };
    },
  },
  {
    method: 'POST',
    path: '/api/interactions/:id/assign',
    access: supervisors,
    success: 204,
    call: async () => {
      const id = await waitingContact();
      return {
        url: `/api/interactions/${id}/assign`,
        payload: { agentId: patchableAgentId, note: 'roles test' },
        hasEffect: async () => (await interactionStatus(id)) === 'assigned',
      };
    },
  },
  {
    method: 'POST',
    path: '/api/agents/:id/state',
    access: supervisors,
    success: 200,
    call: async () => {
      const reason = `supervisor ${randomUUID()}`;
      return {
        url: `/api/agents/${patchableAgentId}/state`,
        payload: { state: 'away', reason },
        hasEffect: async () =>
          (await ctx.services.agentStates.status(patchableAgentId))?.awayReason === reason,
      };
    },
  },
  {
    method: 'POST',
    path: '/api/interactions/:id/transfer',
    access: anyAgent,
    success: 204,
    call: async (caller) => {
      const id = await assignedTo(callerId(caller));
      return {
        url: `/api/interactions/${id}/transfer`,
        payload: { queue: 'billing', note: 'for billing' },
        hasEffect: async () => (await interactionStatus(id)) === 'queued',
      };
    },
  },
  {
    method: 'GET',
    path: '/api/interactions/:id/transfer-targets',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: `/api/interactions/${interactionId}/transfer-targets` }),
  },
  {
    method: 'GET',
    path: '/api/interactions/:id/dispositions',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: `/api/interactions/${interactionId}/dispositions` }),
  },
  {
    method: 'GET',
    path: '/api/interactions/:id/sla',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: `/api/interactions/${interactionId}/sla` }),
  },
  {
    method: 'POST',
    path: '/api/interactions/:id/pull',
    access: anyAgent,
    success: 204,
    call: async () => {
      const id = await waitingContact();
      return {
        url: `/api/interactions/${id}/pull`,
        hasEffect: async () => (await interactionStatus(id)) === 'assigned',
      };
    },
  },
  {
    method: 'POST',
    path: '/api/interactions/:id/messages',
    access: anyAgent,
    success: 201,
    call: async (caller) => {
      const id = await assignedTo(callerId(caller));
      const text = `reply ${randomUUID()}`;
      return {
        url: `/api/interactions/${id}/messages`,
        payload: { text },
        hasEffect: async () =>
          (await ctx.services.interactions.detail(id)).events.some(
            (e) => e.type === 'message.sent' && e.payload.text === text,
          ),
      };
    },
  },
  {
    method: 'GET',
    path: '/api/interactions/:id/routing',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: `/api/interactions/${interactionId}/routing` }),
  },
  {
    method: 'POST',
    path: '/api/interactions/:id/attachments',
    access: anyAgent,
    success: 201,
    call: async (caller) => {
      const id = await assignedTo(callerId(caller));
      const boundary = `roles-${randomUUID()}`;
      const body = Buffer.from(
        [
          `--${boundary}`,
          'Content-Disposition: form-data; name="file"; filename="notes.txt"',
          'Content-Type: text/plain',
          '',
          'attached for a reply',
          `--${boundary}--`,
          '',
        ].join('\r\n'),
      );
      return {
        url: `/api/interactions/${id}/attachments`,
        raw: { body, contentType: `multipart/form-data; boundary=${boundary}` },
        hasEffect: async () =>
          (await ctx.services.db
            .selectFrom('attachments')
            .select('id')
            .where('interaction_id', '=', id)
            .where('file_name', '=', 'notes.txt')
            .executeTakeFirst()) !== undefined,
      };
    },
  },
  {
    method: 'GET',
    path: '/api/attachments/:id',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: `/api/attachments/${await storedAttachment()}` }),
  },
  {
    method: 'GET',
    path: '/api/routing/rules',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: '/api/routing/rules' }),
  },
  {
    method: 'POST',
    path: '/api/routing/rules/reload',
    access: admins,
    success: 200,
    call: async () => ({ url: '/api/routing/rules/reload' }),
  },
  {
    method: 'GET',
    path: '/api/canned-replies',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: '/api/canned-replies?q=roles' }),
  },
  {
    method: 'GET',
    path: '/api/canned-replies/:id',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: `/api/canned-replies/${(await cannedReply()).id}` }),
  },
  {
    method: 'POST',
    path: '/api/canned-replies',
    access: supervisors,
    success: 201,
    call: async () => {
      const title = `Roles ${randomUUID()}`;
      return {
        url: '/api/canned-replies',
        payload: { title, body: 'Hello {{customer.name}}' },
        hasEffect: async () =>
          (await ctx.services.cannedReplies.search({ q: title })).some((r) => r.title === title),
      };
    },
  },
  {
    method: 'PATCH',
    path: '/api/canned-replies/:id',
    access: supervisors,
    success: 200,
    call: async () => {
      const { id } = await cannedReply();
      const title = `Renamed ${randomUUID()}`;
      return {
        url: `/api/canned-replies/${id}`,
        payload: { title },
        hasEffect: async () => (await ctx.services.cannedReplies.get(id)).title === title,
      };
    },
  },
  {
    method: 'DELETE',
    path: '/api/canned-replies/:id',
    access: supervisors,
    success: 204,
    call: async () => {
      const { id } = await cannedReply();
      return {
        url: `/api/canned-replies/${id}`,
        hasEffect: () =>
          ctx.services.cannedReplies.get(id).then(
            () => false,
            () => true,
          ),
      };
    },
  },
  {
    method: 'GET',
    path: '/api/interactions/:id/canned-replies/:replyId/render',
    access: anyAgent,
    success: 200,
    call: async () => ({
      url: `/api/interactions/${interactionId}/canned-replies/${(await cannedReply()).id}/render`,
    }),
  },
  {
    method: 'GET',
    path: '/api/phone/token',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: '/api/phone/token' }),
  },
  {
    method: 'PUT',
    path: '/api/phone/device',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: '/api/phone/device', payload: { phoneNumber: null } }),
  },
  {
    method: 'GET',
    path: '/api/phone/calls/:interactionId',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: `/api/phone/calls/${interactionId}` }),
  },
  {
    method: 'POST',
    path: '/api/phone/calls/:interactionId/hold',
    access: anyAgent,
    // Allowed, then refused for want of a call of the caller's in progress (no call is live here).
    success: 409,
    call: async () => ({ url: `/api/phone/calls/${interactionId}/hold`, payload: { isOnHold: true } }),
  },
  {
    method: 'POST',
    path: '/api/phone/calls',
    access: anyAgent,
    // Allowed, then refused: no such contact (placing a real call needs Twilio; tests/integration/phone).
    success: 404,
    call: async () => ({
      url: '/api/phone/calls',
      payload: { interactionId: '00000000-0000-4000-8000-000000000000', to: '+14155550100' },
    }),
  },
  {
    method: 'POST',
    path: '/api/phone/callbacks',
    access: anyAgent,
    success: 201,
    call: async () => ({
      url: '/api/phone/callbacks',
      payload: { number: '+14155550100', at: new Date(Date.now() + 86_400_000).toISOString() },
    }),
  },
  {
    method: 'GET',
    path: '/api/faxes/search',
    access: anyAgent,
    success: 200,
    call: async () => ({ url: '/api/faxes/search?q=invoice' }),
  },
  {
    method: 'GET',
    path: '/api/queues/:queue/waiting',
    access: supervisors,
    success: 200,
    call: async () => ({ url: '/api/queues/general/waiting' }),
  },
  {
    method: 'GET',
    path: '/api/reports/contacts',
    access: supervisors,
    success: 200,
    call: async () => ({ url: '/api/reports/contacts?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z' }),
  },
  {
    method: 'GET',
    path: '/api/reports/agents',
    access: supervisors,
    success: 200,
    call: async () => ({ url: '/api/reports/agents?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z' }),
  },
  {
    method: 'GET',
    path: '/api/reports/ivr',
    access: supervisors,
    success: 200,
    call: async () => ({ url: '/api/reports/ivr?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z' }),
  },
  {
    method: 'GET',
    path: '/api/reports/daily-summary',
    access: supervisors,
    success: 200,
    call: async () => ({ url: '/api/reports/daily-summary?date=2026-11-01' }),
  },
  {
    method: 'GET',
    path: '/api/reports/open-by-agent',
    access: supervisors,
    success: 200,
    call: async () => ({ url: '/api/reports/open-by-agent' }),
  },
  {
    method: 'GET',
    path: '/api/reports/event-log',
    access: supervisors,
    success: 200,
    call: async () => ({ url: '/api/reports/event-log?from=2026-01-01T00:00:00Z' }),
  },
  {
    method: 'GET',
    path: '/api/audit',
    access: admins,
    success: 200,
    call: async () => ({ url: '/api/audit?limit=10' }),
  },
];

function expectedStatus(row: RouteRow, caller: Caller): number {
  if (row.access === 'public') return row.success;
  if (caller === 'anonymous') return 401;
  return row.access.includes(caller) ? row.success : 403;
}

describe.each(table)('$method $path', (row) => {
  it.each(callers)('as %s', async (caller) => {
    const call = await row.call(caller);
    const cookie = call.cookie ?? cookies[caller];
    const headers = {
      ...(cookie && { cookie }),
      ...(call.raw && { 'content-type': call.raw.contentType }),
    };
    const response = await ctx.app.inject({
      method: row.method,
      url: call.url,
      headers,
      ...(call.payload && { payload: call.payload }),
      ...(call.raw && { payload: call.raw.body }),
    });
    const expected = expectedStatus(row, caller);
    expect(response.statusCode, response.body).toBe(expected);
    if (expected === 401) expect(response.json()).toMatchObject({ error: { code: 'NOT_AUTHENTICATED' } });
    if (expected === 403) expect(response.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    if (call.hasEffect) expect(await call.hasEffect()).toBe(expected === row.success);

    // Fastify answers HEAD for every GET route: the same guard must apply.
    if (row.method === 'GET') {
      const head = await ctx.app.inject({ method: 'HEAD', url: call.url, headers });
      expect(head.statusCode).toBe(expected);
    }
  });
});

describe('the table covers every /api route', () => {
  const tableKeys = () => table.map((r) => `${r.method} ${r.path}`).sort();

  it('equals the /api operations in the OpenAPI document', async () => {
    const response = await ctx.app.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const paths = response.json<{ paths: Record<string, Record<string, unknown>> }>().paths;
    const documented = Object.entries(paths)
      .filter(([path]) => path.startsWith('/api/'))
      .flatMap(([path, operations]) =>
        Object.keys(operations).map(
          (method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`,
        ),
      )
      .sort();
    expect(documented).toEqual(tableKeys());
  });

  it('equals the /api routes the router holds (hidden ones included)', () => {
    // printRoutes draws a tree: four characters of indentation per level, each node a path segment to append
    // to its parent's, followed by its methods.
    const tree = ctx.app.printRoutes({ commonPrefix: false });
    const registered: string[] = [];
    const prefixes: string[] = [];
    for (const line of tree.split('\n')) {
      const match = /^((?:[│ ] {3})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/u.exec(line);
      if (!match) continue;
      const depth = match[1]!.length / 4;
      prefixes.length = depth;
      const path = (prefixes[depth - 1] ?? '') + match[2]!;
      prefixes[depth] = path;
      for (const method of (match[3] ?? '').split(', ').filter(Boolean)) {
        if (method !== 'HEAD' && path.startsWith('/api/')) registered.push(`${method} ${path}`);
      }
    }
    expect(registered.length).toBeGreaterThan(0);
    expect(registered.sort()).toEqual(tableKeys());
  });
});
