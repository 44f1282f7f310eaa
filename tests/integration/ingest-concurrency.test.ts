import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundContact, IngestResult } from '../../src/interactions/inbound-contact.js';
import type { WorkerSummary } from '../support/ingest-worker.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

/*
 * Ingest under a real race: two separate Node processes, each with its own app and Postgres pool on this
 * file's schema, are released at the same instant and fire their contacts concurrently. What makes ingest
 * safe here lives in one place (switchboard_ingest's advisory locks and unique indexes); these tests prove it
 * from the outside.
 */

// Building the app in a fresh process takes seconds on a loaded 2-core machine; a round takes milliseconds.
const startTimeoutMs = 45_000;
const roundTimeoutMs = 15_000;
/** How far ahead the common start instant is set, so that both workers have read it by then. */
const startDelayMs = 100;

const startWorker = (config: TestContext['config']) =>
  startWorkerProcess(new URL('../support/ingest-worker.ts', import.meta.url), config, roundTimeoutMs);

let ctx: TestContext;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  // Routing on ingest is off: these tests count exactly the events ingest writes.
  ctx = await createTestContext({ config: { routeOnIngest: false } });
  workers = [startWorker(ctx.config), startWorker(ctx.config)];
  await Promise.all(workers.map((w) => w.expectLine('ready', startTimeoutMs)));
}, 2 * startTimeoutMs);

afterAll(async () => {
  try {
    await Promise.all(workers.map((w) => w.stop()));
  } finally {
    await ctx?.close();
  }
});

/** Loads one batch into each worker, releases them together, and collects their summaries. */
async function race(...batches: InboundContact[][]): Promise<WorkerSummary[]> {
  expect(batches).toHaveLength(workers.length);
  await Promise.all(
    workers.map((w, i) => {
      w.send(`load ${JSON.stringify(batches[i])}`);
      return w.expectLine('loaded');
    }),
  );
  const startAt = Date.now() + startDelayMs;
  for (const w of workers) w.send(`go ${startAt}`);
  const summaries = await Promise.all(
    workers.map(async (w) => JSON.parse(await w.expectLine('result')) as WorkerSummary),
  );
  for (const s of summaries) expect(s.errors).toEqual([]);
  expect(new Set(summaries.map((s) => s.pid)).size).toBe(workers.length);
  return summaries;
}

/** Both processes were ingesting at the same time: otherwise the test proved nothing about a race. */
function expectOverlap(summaries: WorkerSummary[]) {
  expect(summaries).toHaveLength(2);
  const [a, b] = summaries as [WorkerSummary, WorkerSummary];
  expect(a.startedAt).toBeLessThan(b.finishedAt);
  expect(b.startedAt).toBeLessThan(a.finishedAt);
}

const unique = () => randomBytes(4).toString('hex');
let phoneCount = 0;
/** A phone number no other test in this file (and schema) uses, as two providers write it, and in E.164. */
function brandNewPhone() {
  phoneCount += 1;
  const line = String(2000 + phoneCount);
  return { national: `(646) 555-${line}`, international: `+1 646-555-${line}`, e164: `+1646555${line}` };
}

async function count(table: 'customers' | 'interactions'): Promise<number> {
  const row = await ctx.services.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function identityOwners(kind: string, value: string): Promise<string[]> {
  const rows = await ctx.services.db
    .selectFrom('identities')
    .select('customer_id')
    .where('kind', '=', kind)
    .where('value', '=', value)
    .execute();
  return rows.map((r) => r.customer_id);
}

const perProcess = 25;

describe('ingest raced from two processes', () => {
  it('never creates a second interaction, event or customer when one external id arrives 50 times at once', async () => {
    const phone = brandNewPhone();
    const externalId = `CA${unique()}`;
    const contact = (phoneAsWritten: string): InboundContact => ({
      channel: 'voice',
      externalId,
      identities: [{ kind: 'phone', value: phoneAsWritten }],
      text: 'caller pressed 2',
    });
    const customersBefore = await count('customers');

    const summaries = await race(
      Array.from({ length: perProcess }, () => contact(phone.national)),
      Array.from({ length: perProcess }, () => contact(phone.international)),
    );
    expectOverlap(summaries);

    const results: IngestResult[] = summaries.flatMap((s) => s.results);
    expect(results).toHaveLength(2 * perProcess);
    expect(new Set(results.map((r) => r.interactionId)).size).toBe(1);
    expect(new Set(results.map((r) => r.customerId)).size).toBe(1);
    expect(new Set(results.map((r) => r.eventId)).size).toBe(1);
    expect(results.filter((r) => !r.isDuplicate)).toHaveLength(1);
    const [{ interactionId, customerId }] = results as [IngestResult];

    const interactions = await ctx.services.db
      .selectFrom('interactions')
      .select('id')
      .where('channel', '=', 'voice')
      .where('external_id', '=', externalId)
      .execute();
    expect(interactions.map((r) => r.id)).toEqual([interactionId]);
    const received = await ctx.services.db
      .selectFrom('interaction_events')
      .select('id')
      .where('channel', '=', 'voice')
      .where('external_id', '=', externalId)
      .where('type', '=', 'message.received')
      .execute();
    expect(received).toHaveLength(1);
    const { events } = await ctx.services.interactions.detail(interactionId);
    expect(events.map((e) => e.type)).toEqual(['interaction.created', 'message.received']);
    expect(await count('customers')).toBe(customersBefore + 1);
    expect(await identityOwners('phone', phone.e164)).toEqual([customerId]);
  });

  it('never splits a brand-new caller into two customers when 50 different contacts from the number arrive at once', async () => {
    const phone = brandNewPhone();
    const run = unique();
    const contacts = (worker: string, phoneAsWritten: string) =>
      Array.from({ length: perProcess }, (_, i): InboundContact => ({
        channel: 'voice',
        externalId: `CA${run}-${worker}-${i}`,
        identities: [{ kind: 'phone', value: phoneAsWritten }],
      }));
    const customersBefore = await count('customers');
    const interactionsBefore = await count('interactions');

    const summaries = await race(contacts('a', phone.national), contacts('b', phone.international));
    expectOverlap(summaries);

    const results = summaries.flatMap((s) => s.results);
    expect(results).toHaveLength(2 * perProcess);
    expect(results.every((r) => !r.isDuplicate && r.isNewInteraction)).toBe(true);
    expect(results.filter((r) => r.isNewCustomer)).toHaveLength(1);
    const customerIds = new Set(results.map((r) => r.customerId));
    expect(customerIds.size).toBe(1);
    const [customerId] = [...customerIds] as [string];
    expect(new Set(results.map((r) => r.interactionId)).size).toBe(2 * perProcess);

    expect(await count('customers')).toBe(customersBefore + 1);
    expect(await identityOwners('phone', phone.e164)).toEqual([customerId]);
    expect(await count('interactions')).toBe(interactionsBefore + 2 * perProcess);
    const interactions = await ctx.services.db
      .selectFrom('interactions')
      .select(['customer_id', 'thread_key'])
      .where('external_id', 'like', `CA${run}-%`)
      .execute();
    expect(interactions).toHaveLength(2 * perProcess);
    expect(interactions.every((r) => r.customer_id === customerId && r.thread_key === null)).toBe(true);
  });

  it('never opens two interactions for one new chat session when its 50 messages arrive at once', async () => {
    const visitor = `visitor-${unique()}`;
    const threadKey = `session-${unique()}`;
    const contacts = (worker: string) =>
      Array.from({ length: perProcess }, (_, i): InboundContact => ({
        channel: 'chat',
        externalId: `${threadKey}-${worker}-${i}`,
        threadKey,
        identities: [{ kind: 'chat_visitor', value: visitor }],
        text: `message ${worker}${i}`,
      }));
    const customersBefore = await count('customers');

    const summaries = await race(contacts('a'), contacts('b'));
    expectOverlap(summaries);

    const results = summaries.flatMap((s) => s.results);
    expect(results).toHaveLength(2 * perProcess);
    expect(new Set(results.map((r) => r.interactionId)).size).toBe(1);
    expect(results.filter((r) => r.isNewInteraction)).toHaveLength(1);
    expect(results.filter((r) => r.isNewCustomer)).toHaveLength(1);
    expect(new Set(results.map((r) => r.eventId)).size).toBe(2 * perProcess);
    const { events } = await ctx.services.interactions.detail(results[0]!.interactionId);
    expect(events.filter((e) => e.type === 'interaction.created')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'message.received')).toHaveLength(2 * perProcess);
    expect(await count('customers')).toBe(customersBefore + 1);
    expect(await identityOwners('chat_visitor', visitor)).toHaveLength(1);
  });
});
