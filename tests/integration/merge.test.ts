import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundContact } from '../../src/interactions/inbound-contact.js';
import { createTestContext, type TestContext } from '../support/test-context.js';
import type { AuditEntry } from '../../src/db/repositories/audit.repository.js';

/*
 * Customer merges through the HTTP API on real Postgres: what moves, what must never change (the append-only
 * log), the audit trail, undo, and the refusals. Each test builds its own pair of customers.
 */

let ctx: TestContext;
let supervisor: string;
let supervisorId: string;
let admin: string;
beforeAll(async () => {
  // Routing on ingest is off: these tests compare the event log before and after, event for event.
  ctx = await createTestContext({ config: { routeOnIngest: false } });
  ({ cookie: supervisor, agentId: supervisorId } = await ctx.loginAs('supervisor'));
  admin = (await ctx.loginAs('admin')).cookie;
});
afterAll(() => ctx.close());

let numberSeq = 4000;
const nextNumber = () => `+1 312 767 ${++numberSeq}`;

async function ingest(contact: Omit<InboundContact, 'externalId'>) {
  return ctx.services.ingest({ externalId: `ext-${randomUUID()}`, ...contact });
}

interface Pair {
  target: string;
  source: string;
  sourcePhone: string;
  suggestionId: string;
}

/**
 * Two customers who are the same person: the target wrote three emails and has no name yet, the source
 * calls and faxes under a name. A suggestion for the pair is open.
 */
async function samePersonTwice(): Promise<Pair> {
  const tag = randomUUID().slice(0, 8);
  const email = `person-${tag}@merge.example`;
  const first = await ingest({
    channel: 'email',
    identities: [{ kind: 'email', value: email }],
    text: 'one',
  });
  await ingest({
    channel: 'email',
    identities: [{ kind: 'email', value: email }],
    text: 'reply',
    threadKey: `thread-${tag}`,
  });
  await ingest({ channel: 'email', identities: [{ kind: 'email', value: email }], text: 'another topic' });

  const sourcePhone = nextNumber();
  const call = await ingest({
    channel: 'voice',
    identities: [{ kind: 'phone', value: sourcePhone }],
    displayName: `Caller ${tag}`,
  });
  await ingest({
    channel: 'fax',
    identities: [
      { kind: 'fax', value: nextNumber() },
      { kind: 'phone', value: sourcePhone },
    ],
  });
  await ingest({ channel: 'voice', identities: [{ kind: 'phone', value: sourcePhone }], text: 'voicemail' });
  expect(first.customerId).not.toBe(call.customerId);

  await ctx.services.duplicateDetector.detectFor(first.customerId, [call.customerId]);
  const [suggestion] = await ctx.services.repositories.duplicates.forCustomer(call.customerId);
  expect(suggestion).toBeDefined();
  return { target: first.customerId, source: call.customerId, sourcePhone, suggestionId: suggestion!.id };
}

async function ownership(customerIds: string[]) {
  const identities = await ctx.services.db
    .selectFrom('identities')
    .select(['id', 'customer_id'])
    .where('customer_id', 'in', customerIds)
    .orderBy('id')
    .execute();
  const interactions = await ctx.services.db
    .selectFrom('interactions')
    .select(['id', 'customer_id'])
    .where('customer_id', 'in', customerIds)
    .orderBy('id')
    .execute();
  return { identities, interactions };
}

const idsOf = (rows: { id: string; customer_id: string }[], customerId: string) =>
  rows
    .filter((r) => r.customer_id === customerId)
    .map((r) => r.id)
    .sort();

const allEvents = () => ctx.services.db.selectFrom('interaction_events').selectAll().orderBy('id').execute();

const merge = (target: string, source: string, cookie = supervisor) =>
  ctx.app.inject({
    method: 'POST',
    url: `/api/customers/${target}/merge`,
    headers: { cookie },
    payload: { sourceCustomerId: source },
  });

const undo = (auditId: string, cookie = supervisor) =>
  ctx.app.inject({ method: 'POST', url: `/api/merges/${auditId}/undo`, headers: { cookie } });

async function customer(id: string) {
  const response = await ctx.app.inject({
    method: 'GET',
    url: `/api/customers/${id}`,
    headers: { cookie: supervisor },
  });
  expect(response.statusCode).toBe(200);
  return response.json<{
    customer: { id: string; displayName: string | null; mergedIntoId: string | null };
    suggestions: { id: string; status: string }[];
  }>();
}

async function suggestionStatus(id: string) {
  return (await ctx.services.repositories.duplicates.findById(id))?.status;
}

async function auditEntries(): Promise<AuditEntry[]> {
  const response = await ctx.app.inject({
    method: 'GET',
    url: '/api/audit?limit=500',
    headers: { cookie: admin },
  });
  expect(response.statusCode).toBe(200);
  return response.json<{ entries: AuditEntry[] }>().entries;
}

/** The backend waiting for a lock on this schema's audit_log table, if any. */
async function auditLogWaiter(): Promise<number | undefined> {
  const { rows } = await ctx.services.pool.query<{ pid: number }>(
    `select pid from pg_locks where not granted and relation = 'audit_log'::regclass limit 1`,
  );
  return rows[0]?.pid;
}

/** How many backends wait for a lock that backend `pid` holds. */
async function blockedBy(pid: number): Promise<number> {
  const { rows } = await ctx.services.pool.query<{ n: string }>(
    'select count(*) as n from pg_stat_activity where $1::int = any(pg_blocking_pids(pid))',
    [pid],
  );
  return Number(rows[0]?.n ?? 0);
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the interleaving');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface MergeResult {
  auditId: string;
  sourceCustomerId: string;
  targetCustomerId: string;
  identityIds: string[];
  interactionIds: string[];
}

describe('merging customers', () => {
  it('moves identities and interactions, rewrites no history, and is audited', async () => {
    const { target, source, suggestionId } = await samePersonTwice();
    const before = await ownership([target, source]);
    const eventsBefore = await allEvents();
    const sourceIdentities = idsOf(before.identities, source);
    const sourceInteractions = idsOf(before.interactions, source);
    const targetInteractions = idsOf(before.interactions, target);
    expect(sourceIdentities).toHaveLength(2);
    expect(sourceInteractions).toHaveLength(3);

    const response = await merge(target, source);
    expect(response.statusCode).toBe(200);
    const result = response.json<MergeResult>();
    expect(result).toMatchObject({ sourceCustomerId: source, targetCustomerId: target });
    expect([...result.identityIds].sort()).toEqual(sourceIdentities);
    expect([...result.interactionIds].sort()).toEqual(sourceInteractions);

    const after = await ownership([target, source]);
    expect(idsOf(after.identities, source)).toEqual([]);
    expect(idsOf(after.interactions, source)).toEqual([]);
    expect(idsOf(after.identities, target)).toEqual(before.identities.map((r) => r.id).sort());
    expect(idsOf(after.interactions, target)).toEqual([...sourceInteractions, ...targetInteractions].sort());

    // The log is append-only: every row that existed before is still there, byte for byte.
    const eventsAfter = await allEvents();
    const afterById = new Map(eventsAfter.map((e) => [e.id, e]));
    for (const row of eventsBefore) expect(afterById.get(row.id)).toEqual(row);

    // The target's timeline holds both customers' events.
    const timeline = await ctx.app.inject({
      method: 'GET',
      url: `/api/customers/${target}/timeline?limit=200`,
      headers: { cookie: supervisor },
    });
    expect(timeline.statusCode).toBe(200);
    const timelineIds = timeline
      .json<{ events: { id: string; interactionId: string }[] }>()
      .events.map((e) => e.id)
      .sort();
    const expectedIds = eventsBefore
      .filter((e) => [...sourceInteractions, ...targetInteractions].includes(e.interaction_id))
      .map((e) => e.id)
      .sort();
    expect(timelineIds).toEqual(expectedIds);
    expect(expectedIds.length).toBeGreaterThanOrEqual(9);

    const merged = await customer(source);
    expect(merged.customer.mergedIntoId).toBe(target);
    expect((await customer(target)).customer.mergedIntoId).toBeNull();
    expect(await suggestionStatus(suggestionId)).toBe('merged');

    const entry = (await auditEntries()).find((e) => e.id === result.auditId);
    expect(entry).toMatchObject({ action: 'customer.merged', subjectType: 'customer', subjectId: target });
    expect(entry!.actorId).toBe(supervisorId);
    expect(entry!.details).toMatchObject({ sourceCustomerId: source, targetCustomerId: target });
    expect([...(entry!.details.identityIds as string[])].sort()).toEqual(sourceIdentities);
    expect([...(entry!.details.interactionIds as string[])].sort()).toEqual(sourceInteractions);
  });

  it("a new contact from the source's identity after the merge lands on the target", async () => {
    const { target, source, sourcePhone } = await samePersonTwice();
    expect((await merge(target, source)).statusCode).toBe(200);

    const call = await ingest({ channel: 'voice', identities: [{ kind: 'phone', value: sourcePhone }] });
    expect(call).toMatchObject({ customerId: target, isNewCustomer: false, newIdentityIds: [] });
    const search = await ctx.services.customers.search(sourcePhone);
    expect(search.map((c) => c.id)).toEqual([target]);
  });

  it('undo restores exactly the previous ownership, reopens the suggestion and is audited', async () => {
    const { target, source, suggestionId } = await samePersonTwice();
    const before = await ownership([target, source]);
    const namesBefore = [
      (await customer(target)).customer.displayName,
      (await customer(source)).customer.displayName,
    ];
    expect(namesBefore[0]).toBeNull();
    const eventsBefore = await allEvents();

    const merged = await merge(target, source);
    expect(merged.statusCode).toBe(200);
    const { auditId } = merged.json<MergeResult>();
    // The merge filled the target's missing name from the source.
    expect((await customer(target)).customer.displayName).toBe(namesBefore[1]);

    const undone = await undo(auditId);
    expect(undone.statusCode).toBe(200);
    const undoResult = undone.json<MergeResult>();
    expect(undoResult).toMatchObject({ sourceCustomerId: source, targetCustomerId: target });
    expect(undoResult.auditId).not.toBe(auditId);

    expect(await ownership([target, source])).toEqual(before);
    expect((await customer(source)).customer.mergedIntoId).toBeNull();
    expect([
      (await customer(target)).customer.displayName,
      (await customer(source)).customer.displayName,
    ]).toEqual(namesBefore);
    expect(await suggestionStatus(suggestionId)).toBe('open');
    expect((await customer(source)).suggestions.map((s) => s.id)).toContain(suggestionId);
    expect(await allEvents()).toEqual(eventsBefore);

    const entry = (await auditEntries()).find((e) => e.id === undoResult.auditId);
    expect(entry).toMatchObject({ action: 'customer.unmerged', subjectType: 'customer', subjectId: source });
    expect(entry!.details).toMatchObject({ mergeAuditId: auditId });

    // The undone pair can be merged again.
    expect((await merge(target, source)).statusCode).toBe(200);
  });

  it('undo twice is refused with 409 MERGE_ALREADY_UNDONE', async () => {
    const { target, source } = await samePersonTwice();
    const { auditId } = (await merge(target, source)).json<MergeResult>();
    expect((await undo(auditId)).statusCode).toBe(200);
    const afterFirstUndo = await ownership([target, source]);

    const again = await undo(auditId);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'MERGE_ALREADY_UNDONE' } });
    expect(await ownership([target, source])).toEqual(afterFirstUndo);

    // Still refused after the pair was merged again by a later merge.
    expect((await merge(target, source)).statusCode).toBe(200);
    const stale = await undo(auditId);
    expect(stale.statusCode).toBe(409);
    expect(stale.json()).toMatchObject({ error: { code: 'MERGE_ALREADY_UNDONE' } });
    expect((await customer(source)).customer.mergedIntoId).toBe(target);
  });

  it('an unknown merge cannot be undone', async () => {
    const response = await undo('999999999');
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: { code: 'MERGE_NOT_FOUND' } });
  });

  it('a customer cannot be merged into itself', async () => {
    const { target } = await samePersonTwice();
    const before = await ownership([target]);
    const response = await merge(target, target);
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ error: { code: 'MERGE_SAME_CUSTOMER' } });
    expect((await customer(target)).customer.mergedIntoId).toBeNull();
    expect(await ownership([target])).toEqual(before);
  });

  it('an already merged customer cannot be merged again, as source or as target', async () => {
    const { target, source } = await samePersonTwice();
    const third = (await samePersonTwice()).target;
    expect((await merge(target, source)).statusCode).toBe(200);
    const before = await ownership([target, source, third]);

    const asSource = await merge(third, source);
    expect(asSource.statusCode).toBe(409);
    expect(asSource.json()).toMatchObject({ error: { code: 'CUSTOMER_ALREADY_MERGED' } });
    const asTarget = await merge(source, third);
    expect(asTarget.statusCode).toBe(409);
    expect(asTarget.json()).toMatchObject({ error: { code: 'CUSTOMER_ALREADY_MERGED' } });

    expect(await ownership([target, source, third])).toEqual(before);
    expect((await customer(source)).customer.mergedIntoId).toBe(target);
    expect((await customer(third)).customer.mergedIntoId).toBeNull();
  });

  it('undoing a merge that a later merge built on is refused (MERGE_SUPERSEDED)', async () => {
    const { target, source } = await samePersonTwice();
    const outer = (await samePersonTwice()).target;
    const { auditId } = (await merge(target, source)).json<MergeResult>();
    expect((await merge(outer, target)).statusCode).toBe(200);
    const before = await ownership([outer, target, source]);

    const response = await undo(auditId);
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ error: { code: 'MERGE_SUPERSEDED' } });
    expect(await ownership([outer, target, source])).toEqual(before);
  });

  it("a contact from the source's identity that arrives while the merge runs ends up with the target", async () => {
    const { target, source, sourcePhone } = await samePersonTwice();
    // Deterministic interleaving: hold the merge just before it commits (its audit insert waits for this
    // lock), let the contact arrive, then let the merge commit.
    const blocker = await ctx.services.pool.connect();
    let callCustomerId: string | undefined;
    try {
      await blocker.query('begin');
      await blocker.query('lock table audit_log in exclusive mode');
      const merging = merge(target, source);
      let mergePid: number | undefined;
      await waitUntil(async () => (mergePid = await auditLogWaiter()) !== undefined);

      let isIngested = false;
      // The source's phone plus an address nobody owns yet: the new identity must not land on the source.
      const calling = ingest({
        channel: 'email',
        identities: [
          { kind: 'phone', value: sourcePhone },
          { kind: 'email', value: `during-merge-${randomUUID()}@merge.example` },
        ],
        text: 'written while the merge ran',
      }).then((result) => {
        isIngested = true;
        return result;
      });
      // Either the contact waits for the merge (a lock) or it was taken before the merge committed.
      await waitUntil(async () => isIngested || (await blockedBy(mergePid!)) > 0);
      await blocker.query('commit');

      expect((await merging).statusCode).toBe(200);
      callCustomerId = (await calling).customerId;
    } finally {
      await blocker.query('rollback').catch(() => undefined);
      blocker.release();
    }
    // The contact belongs to the target, and nothing stays with (or is added to) the merged customer: its
    // history would vanish from every timeline and its identities would keep feeding a dead record.
    expect({ callCustomerId, leftWithSource: await ownership([source]) }).toEqual({
      callCustomerId: target,
      leftWithSource: { identities: [], interactions: [] },
    });
  });

  it('two concurrent opposite merges of one pair never both succeed and leave a consistent state', async () => {
    for (let round = 0; round < 4; round += 1) {
      const { target: a, source: b, suggestionId } = await samePersonTwice();
      const before = await ownership([a, b]);

      const responses = await Promise.all([merge(a, b), merge(b, a)]);
      const statuses = responses.map((r) => r.statusCode).sort();
      expect(statuses).toEqual([200, 409]);
      const loser = responses.find((r) => r.statusCode === 409)!;
      expect(loser.json()).toMatchObject({ error: { code: 'CUSTOMER_ALREADY_MERGED' } });
      const won = responses.find((r) => r.statusCode === 200)!.json<MergeResult>();
      const winner = won.targetCustomerId;
      const merged = won.sourceCustomerId;

      expect((await customer(winner)).customer.mergedIntoId).toBeNull();
      expect((await customer(merged)).customer.mergedIntoId).toBe(winner);
      const after = await ownership([a, b]);
      expect(idsOf(after.identities, winner)).toEqual(before.identities.map((r) => r.id).sort());
      expect(idsOf(after.interactions, winner)).toEqual(before.interactions.map((r) => r.id).sort());
      expect(await suggestionStatus(suggestionId)).toBe('merged');
      const mergesOfPair = (await auditEntries()).filter(
        (e) => e.action === 'customer.merged' && [a, b].includes(e.subjectId),
      );
      expect(mergesOfPair.map((e) => e.id)).toEqual([won.auditId]);
    }
  });
});
