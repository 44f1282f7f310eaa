import { describe, expect, it } from 'vitest';
import type { EventLogRow } from '../../src/db/repositories/event-log.repository.js';
import { EventLogLines } from '../../src/reports/event-log.js';

/*
 * The queue-log lines of hand-made contacts: every figure on a line (hold, ring, talk, wait) is worked out
 * here from the events' times.
 */

const t0 = Date.parse('2026-11-20T09:00:00.000Z');
let id = 0;
const event = (
  interactionId: string,
  seconds: number,
  type: string,
  payload: Record<string, unknown> = {},
  actor: { type: string; id?: string } = { type: 'system' },
): EventLogRow => ({
  id: String((id += 1)),
  interactionId,
  type,
  channel: 'chat',
  actorType: actor.type,
  actorId: actor.id ?? null,
  payload,
  occurredAt: new Date(t0 + seconds * 1000),
});

const at = (seconds: number) => ((t0 + seconds * 1000) / 1000).toFixed(3);

describe('the event-log lines', () => {
  it('writes an answered contact as ENTERQUEUE, RINGNOANSWER, CONNECT and COMPLETEAGENT with its figures', () => {
    const lines = new EventLogLines();
    const written = [
      event('i1', 0, 'interaction.created', {}, { type: 'customer' }),
      event(
        'i1',
        0,
        'message.received',
        { text: 'my card number is 4111 1111 1111 1111' },
        { type: 'customer' },
      ),
      event('i1', 0, 'routing.queued', { queue: 'billing', priority: 10, rule: 'billing-keywords' }),
      event('i1', 5, 'offer.created', { offerId: 'o1', agentId: 'a1' }),
      event('i1', 25, 'offer.expired', { offerId: 'o1', agentId: 'a1' }),
      event('i1', 30, 'offer.created', { offerId: 'o2', agentId: 'a2' }),
      event('i1', 32, 'offer.accepted', { offerId: 'o2', agentId: 'a2' }, { type: 'agent', id: 'a2' }),
      event('i1', 152, 'interaction.closed', { disposition: 'resolved' }, { type: 'agent', id: 'a2' }),
    ].map((e) => lines.line(e));
    expect(written).toEqual([
      `${at(0)}|i1|NONE|NONE|INTERACTION_CREATED|customer`,
      `${at(0)}|i1|NONE|NONE|MESSAGE_RECEIVED|customer`,
      `${at(0)}|i1|billing|NONE|ENTERQUEUE|chat|10|billing-keywords`,
      `${at(5)}|i1|billing|a1|OFFER_CREATED|system|o1`,
      // Offered at 5 s, expired at 25 s: rang 20,000 ms.
      `${at(25)}|i1|billing|a1|RINGNOANSWER|20000|o1`,
      `${at(30)}|i1|billing|a2|OFFER_CREATED|system|o2`,
      // Queued at 0, answered at 32: held 32 s; offered at 30: rang 2 s.
      `${at(32)}|i1|billing|a2|CONNECT|32|o2|2`,
      // Held 32 s; answered at 32, closed at 152: talked 120 s.
      `${at(152)}|i1|billing|a2|COMPLETEAGENT|32|120|resolved`,
    ]);
    // No customer content leaves in the file.
    expect(written.join('\n')).not.toContain('4111');
  });

  it('writes an abandon with its wait, and a transfer that moves the contact to another queue', () => {
    const lines = new EventLogLines();
    const abandoned = [
      event('i2', 10, 'routing.queued', { queue: 'support', priority: 0, rule: 'default' }),
      event('i2', 55, 'interaction.closed', { wasWaiting: true }, { type: 'customer' }),
    ].map((e) => lines.line(e));
    // Queued at 10, left at 55: waited 45 s.
    expect(abandoned[1]).toBe(`${at(55)}|i2|support|NONE|ABANDON|0|0|45`);

    const transferred = [
      event('i3', 0, 'routing.queued', { queue: 'support', priority: 0, rule: 'default' }),
      event('i3', 4, 'offer.accepted', { offerId: 'o3', agentId: 'a1' }, { type: 'agent', id: 'a1' }),
      event(
        'i3',
        64,
        'routing.transferred',
        {
          kind: 'transfer',
          byAgentId: 'a1',
          fromAgentId: 'a1',
          fromQueue: 'support',
          toQueue: 'billing|vip',
          note: null,
        },
        { type: 'agent', id: 'a1' },
      ),
      event('i3', 70, 'offer.accepted', { offerId: 'o4', agentId: 'a2' }, { type: 'agent', id: 'a2' }),
      event('i3', 100, 'interaction.closed', {}, { type: 'customer' }),
    ].map((e) => lines.line(e));
    // A separator inside a field is blanked, so every line keeps its columns.
    expect(transferred[2]).toBe(`${at(64)}|i3|support|a1|TRANSFER|billing vip|transfer|a1`);
    // In the new queue from 64 s, answered at 70: held 6 s, talked 30 s, closed by the customer.
    expect(transferred[3]).toBe(`${at(70)}|i3|billing vip|a2|CONNECT|6|o4|`);
    expect(transferred[4]).toBe(`${at(100)}|i3|billing vip|a2|COMPLETECALLER|6|30|`);
  });
});
