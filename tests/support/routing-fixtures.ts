/*
 * Helpers for the routing integration tests: a small rule set in a temporary folder, agents and waiting
 * contacts created straight through the repositories (no password hashing, no HTTP), and readers of the
 * offers history.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Services } from '../../src/app.js';
import type { Channel } from '../../src/interactions/inbound-contact.js';

/** One queue per strategy, rules on keywords, small capacities, a long offer timeout (tests expire by hand). */
export const testRules = `
queues:
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax] }
  - { name: rotation, strategy: round-robin, channels: [voice, email, chat, fax] }
  - { name: billing, strategy: skills, skills: { billing: 2 }, channels: [voice, email, chat, fax] }
  - { name: quick, strategy: longest-idle, channels: [voice, email, chat, fax], offerTimeoutSeconds: 1 }
rules:
  - { name: urgent, when: { keywords: urgent }, queue: general, priority: 50 }
  - { name: rotation, when: { keywords: rotate }, queue: rotation, priority: 0 }
  - { name: billing, when: { keywords: invoice }, queue: billing, priority: 10 }
  - { name: quick, when: { keywords: quick }, queue: quick, priority: 0 }
  - { name: default, queue: general, priority: 0 }
capacity:
  voice: { max: 1, exclusive: true }
  chat: { max: 2 }
  email: { max: 3 }
  fax: { max: 1 }
options:
  offerTimeoutSeconds: 600
  missesBeforeAway: 2
`;

/** Writes `text` as the only rule file of a fresh folder; returns the folder and a remover. */
export function writeRulesFolder(text: string = testRules): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-rules-'));
  writeFileSync(join(dir, 'rules.yaml'), text);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const unique = () => randomBytes(5).toString('hex');

export async function createAgent(
  services: Services,
  options: {
    skills?: Record<string, number>;
    capacity?: Partial<Record<Channel, number>>;
    name?: string;
  } = {},
): Promise<string> {
  const name = options.name ?? `agent-${unique()}`;
  const agent = await services.repositories.agents.create({
    email: `${name}@routing.test`,
    displayName: name,
    role: 'agent',
    passwordHash: 'not-a-real-hash',
    skills: options.skills ?? {},
    capacity: options.capacity ?? {},
  });
  return agent.id;
}

/** Ingests one new contact and returns its interaction id (status 'new'). */
export async function createContact(services: Services, channel: Channel, text = 'hello'): Promise<string> {
  const result = await services.ingest({
    channel,
    externalId: `ext-${unique()}`,
    identities: [{ kind: 'email', value: `customer-${unique()}@example.com` }],
    text,
  });
  return result.interactionId;
}

/** Ingests and enqueues a contact. */
export async function queueContact(services: Services, channel: Channel, text = 'hello'): Promise<string> {
  const id = await createContact(services, channel, text);
  const outcome = await services.routing.queueing.enqueue(id);
  if (!outcome.isQueued) throw new Error(`not queued: ${outcome.status}`);
  return id;
}

export interface OfferHistoryRow {
  id: string;
  interactionId: string;
  agentId: string;
  channel: string;
  status: string;
  /** Microseconds since the epoch, as Postgres recorded them (full precision). */
  offeredUs: number;
  settledUs: number | null;
  loadAfter: number;
  capacity: number;
}

export async function offerHistory(services: Services): Promise<OfferHistoryRow[]> {
  const { rows } = await services.pool.query<{
    id: string;
    interaction_id: string;
    agent_id: string;
    channel: string;
    status: string;
    offered_us: string;
    settled_us: string | null;
    load_after: number;
    capacity: number;
  }>(`select id, interaction_id, agent_id, channel, status,
        (extract(epoch from offered_at) * 1000000)::bigint as offered_us,
        (extract(epoch from settled_at) * 1000000)::bigint as settled_us,
        load_after, capacity
      from offers order by offered_at, id`);
  return rows.map((r) => ({
    id: r.id,
    interactionId: r.interaction_id,
    agentId: r.agent_id,
    channel: r.channel,
    status: r.status,
    offeredUs: Number(r.offered_us),
    settledUs: r.settled_us === null ? null : Number(r.settled_us),
    loadAfter: r.load_after,
    capacity: r.capacity,
  }));
}

/** Loads per agent and channel as stored. */
export async function storedLoads(services: Services): Promise<Map<string, number>> {
  const { rows } = await services.pool.query<{ agent_id: string; channel: string; load: number }>(
    'select agent_id, channel, load from agent_loads',
  );
  return new Map(rows.filter((r) => r.load !== 0).map((r) => [`${r.agent_id}/${r.channel}`, r.load]));
}

/** Takes every agent offline and every waiting or offered contact out of routing, for a clean next test. */
export async function resetRouting(services: Services): Promise<void> {
  await services.pool.query(`
    update offers set status = 'cancelled', settled_at = clock_timestamp() where status = 'offered';
    update interactions set status = 'closed', closed_at = now() where status in ('new', 'queued', 'offered', 'assigned');
    update agent_states set state = 'offline', away_reason = null, missed_in_a_row = 0;
    delete from agent_loads;
    delete from routing_rotations;
  `);
}
