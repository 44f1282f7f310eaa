/*
 * What the fault suite reads back from the log after a fault (tests/faults/): the offers history, the
 * interactions and their events, and the checks every case makes on them. Each check returns the
 * offending rows, so that a failure prints what went wrong rather than a bare `false`.
 */
import type pg from 'pg';

export interface OfferRow {
  id: string;
  interactionId: string;
  agentId: string;
  status: string;
  offeredAt: Date;
  expiresAt: Date;
  settledAt: Date | null;
}

export async function offersOf(pool: pg.Pool): Promise<OfferRow[]> {
  const { rows } = await pool.query<{
    id: string;
    interaction_id: string;
    agent_id: string;
    status: string;
    offered_at: Date;
    expires_at: Date;
    settled_at: Date | null;
  }>(
    `select id, interaction_id, agent_id, status, offered_at, expires_at, settled_at
       from offers order by offered_at, id`,
  );
  return rows.map((r) => ({
    id: r.id,
    interactionId: r.interaction_id,
    agentId: r.agent_id,
    status: r.status,
    offeredAt: r.offered_at,
    expiresAt: r.expires_at,
    settledAt: r.settled_at,
  }));
}

export async function interactionStatuses(pool: pg.Pool): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ id: string; status: string }>('select id, status from interactions');
  return new Map(rows.map((r) => [r.id, r.status]));
}

/** Two offers of one contact live at the same time (each offer's life: offered_at to settled_at or now). */
export function overlappingOffers(offers: OfferRow[]): [OfferRow, OfferRow][] {
  const byInteraction = new Map<string, OfferRow[]>();
  for (const offer of offers) {
    const list = byInteraction.get(offer.interactionId) ?? [];
    list.push(offer);
    byInteraction.set(offer.interactionId, list);
  }
  const overlaps: [OfferRow, OfferRow][] = [];
  for (const list of byInteraction.values()) {
    list.sort((a, b) => a.offeredAt.getTime() - b.offeredAt.getTime());
    for (let i = 1; i < list.length; i++) {
      const before = list[i - 1]!;
      const after = list[i]!;
      if (before.settledAt === null || before.settledAt > after.offeredAt) overlaps.push([before, after]);
    }
  }
  return overlaps;
}

/**
 * Interactions whose log is not whole: no `interaction.created` event, or more than one, or (`assigned`)
 * not exactly one accepted offer, or an `accepted` offer whose interaction is not assigned or closed.
 */
export async function halfWrittenInteractions(pool: pg.Pool): Promise<Record<string, unknown>[]> {
  const { rows } = await pool.query<Record<string, unknown>>(`
    select i.id, i.status, i.channel,
           (select count(*)::int from interaction_events e
             where e.interaction_id = i.id and e.type = 'interaction.created') as created_events,
           (select count(*)::int from offers o where o.interaction_id = i.id and o.status = 'accepted') as accepted
      from interactions i`);
  return rows.filter(
    (r) =>
      r.created_events !== 1 ||
      (r.status === 'assigned' && r.accepted !== 1) ||
      (r.status !== 'assigned' && r.status !== 'closed' && r.accepted !== 0),
  );
}

/** How many times each external id (a provider's id: Message-ID, CallSid...) was logged as received. */
export async function receivedCounts(pool: pg.Pool, channel: string): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ external_id: string; n: number }>(
    `select external_id, count(*)::int as n from interaction_events
      where channel = $1 and type = 'message.received' and external_id is not null
      group by external_id`,
    [channel],
  );
  return new Map(rows.map((r) => [r.external_id, r.n]));
}

/** One line of what a fault case saw (not asserted: timings on a shared machine), in the run's output. */
export function report(line: string): void {
  process.stdout.write(`[faults] ${line}\n`);
}
