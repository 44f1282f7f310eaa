import { describe, expect, it } from 'vitest';
import type { ActorType, InteractionEventPayloads, InteractionEventType } from '../../src/events.js';
import {
  buildContactFacts,
  unknownQueue,
  type AgentStateChange,
  type LogEvent,
} from '../../src/reports/contact-facts.js';
import {
  computeMetrics,
  type Metrics,
  type MetricsQuery,
  type QueueChannelFigures,
  type QueueTargets,
} from '../../src/reports/metrics.js';
import type { AgentState, Channel } from '../../src/routing/routing.types.js';

// Every expected figure below is worked out by hand in the comment beside it, from the event times.
// Times are UTC; `day` 1 is 2026-12-01.

const at = (hms: string, day = 1) => new Date(`2026-12-0${day}T${hms}Z`);

const targets = new Map<string, QueueTargets>([
  ['billing', { serviceLevelSeconds: 20, shortAbandonSeconds: 5 }],
  ['support', { serviceLevelSeconds: 30, shortAbandonSeconds: 0 }],
]);

function query(from: Date, to: Date, asOf = to): MetricsQuery {
  return { from, to, asOf, targets, defaultTargets: { serviceLevelSeconds: 20, shortAbandonSeconds: 0 } };
}

/** A hand-written log: each contact's events in order, as routing writes them. */
class Log {
  readonly events: LogEvent[] = [];
  readonly states: AgentStateChange[] = [];

  state(agentId: string, when: Date, state: AgentState, awayReason: string | null = null): void {
    this.states.push({ agentId, state, awayReason, at: when });
  }

  contact(interactionId: string, channel: Channel) {
    const push = <T extends InteractionEventType>(
      type: T,
      when: Date,
      payload: InteractionEventPayloads[T],
      actorType: ActorType = 'system',
      actorId: string | null = null,
    ) => {
      this.events.push({
        interactionId,
        channel,
        type,
        payload,
        actorType,
        actorId,
        occurredAt: when,
      } as LogEvent);
    };
    let offers = 0;
    const offerId = () => `${interactionId}-offer-${offers}`;
    return {
      queued(when: Date, queue: string, isQueueOpen = true) {
        push('routing.queued', when, {
          queue,
          priority: 0,
          rule: 'default',
          reason: 'test',
          isQueueOpen,
          openingReason: isQueueOpen ? 'open' : 'closed',
        });
      },
      offered(when: Date, agentId: string, queue: string) {
        offers += 1;
        push('offer.created', when, {
          offerId: offerId(),
          agentId,
          queue,
          strategy: 'longest-idle',
          reason: 'test',
          trigger: 'dispatch',
          passedOver: [],
          expiresAt: new Date(when.getTime() + 30_000).toISOString(),
        });
      },
      accepted(when: Date, agentId: string) {
        push('offer.accepted', when, { offerId: offerId(), agentId, missesInARow: 0 }, 'agent', agentId);
      },
      expired(when: Date, agentId: string) {
        push('offer.expired', when, { offerId: offerId(), agentId, missesInARow: 1 });
      },
      closed(when: Date, by: ActorType, wasWaiting = false) {
        push(
          'interaction.closed',
          when,
          { reason: `closed by ${by}`, ...(wasWaiting && { wasWaiting }) },
          by,
        );
      },
      transferred(when: Date, payload: InteractionEventPayloads['routing.transferred']) {
        push('routing.transferred', when, payload, 'agent', payload.byAgentId);
      },
      reopened(when: Date) {
        push('interaction.reopened', when, { reason: 'customer replied' });
        push('message.received', when, { text: 'one more thing' }, 'customer');
      },
      escalatedMoveTo(when: Date, fromQueue: string) {
        push('routing.escalated', when, {
          queue: fromQueue,
          step: 0,
          action: 'move-to',
          afterSeconds: 60,
          reason: 'test',
        });
      },
      cannedReplyAccepted(when: Date) {
        push(
          'cannedReply.accepted',
          when,
          { replyId: 'r1', title: 'Opening hours', suggestedEventId: '1' },
          'customer',
        );
      },
      afterHoursClose(when: Date, queue: string) {
        push('routing.afterHours', when, {
          queue,
          action: 'close-with-message',
          openingReason: 'closed',
          message: 'We are closed',
        });
      },
    };
  }

  metrics(q: MetricsQuery): Metrics {
    return computeMetrics(buildContactFacts(this.events, this.states), this.states, q);
  }
}

function row(metrics: Metrics, queue: string, channel: Channel): QueueChannelFigures {
  const found = metrics.byQueueChannel.find((r) => r.queue === queue && r.channel === channel);
  if (!found) throw new Error(`no row ${queue}/${channel}`);
  return found;
}

function agent(metrics: Metrics, agentId: string) {
  const found = metrics.byAgent.find((r) => r.agentId === agentId);
  if (!found) throw new Error(`no agent ${agentId}`);
  return found;
}

/** No NaN or Infinity anywhere in the figures: an empty divisor gives null. */
function expectOnlyFiniteNumbers(value: unknown): void {
  if (typeof value === 'number') expect(Number.isFinite(value)).toBe(true);
  else if (Array.isArray(value)) value.forEach(expectOnlyFiniteNumbers);
  else if (value !== null && typeof value === 'object' && !(value instanceof Date))
    Object.values(value).forEach(expectOnlyFiniteNumbers);
}

/**
 * One hour of the billing voice queue (service level 20 s, short abandon under 5 s), 09:00-10:00, and its two
 * agents. Ann answers c1 and c2 and goes to lunch; Bob misses c2's offer, is set away, answers c7 and is still
 * in wrap-up at 10:00.
 */
function billingHour(): Log {
  const log = new Log();
  const c1 = log.contact('c1', 'voice');
  c1.queued(at('09:00:00'), 'billing');
  c1.offered(at('09:00:05'), 'ann', 'billing');
  c1.accepted(at('09:00:20'), 'ann'); // waited 20 s: exactly the threshold, within
  c1.closed(at('09:05:20'), 'agent'); // talk 300 s

  const c2 = log.contact('c2', 'voice');
  c2.queued(at('09:10:00'), 'billing');
  c2.offered(at('09:10:01'), 'bob', 'billing');
  c2.expired(at('09:10:16'), 'bob');
  c2.offered(at('09:10:17'), 'ann', 'billing'); // re-offered
  c2.accepted(at('09:10:40'), 'ann'); // waited 40 s (to the accepted answer, not the first offer)
  c2.closed(at('09:12:40'), 'customer'); // talk 120 s; the caller hung up

  const c3 = log.contact('c3', 'voice');
  c3.queued(at('09:20:00'), 'billing');
  c3.closed(at('09:20:03'), 'customer', true); // left after 3 s < 5 s: short abandon

  const c4 = log.contact('c4', 'voice');
  c4.queued(at('09:30:00'), 'billing');
  c4.closed(at('09:30:15'), 'customer', true); // abandoned after 15 s <= 20 s: within the threshold

  const c5 = log.contact('c5', 'voice');
  c5.queued(at('09:40:00'), 'billing');
  c5.closed(at('09:41:00'), 'customer', true); // abandoned after 60 s > 20 s: after the threshold

  const c7 = log.contact('c7', 'voice');
  c7.queued(at('09:45:00'), 'billing');
  c7.offered(at('09:45:01'), 'bob', 'billing');
  c7.accepted(at('09:45:05'), 'bob'); // waited 5 s
  c7.closed(at('09:55:05'), 'agent'); // talk 600 s, then wrap-up until 10:01:05

  const c6 = log.contact('c6', 'voice');
  c6.queued(at('09:50:00'), 'billing'); // still waiting at 10:00

  log.state('ann', at('09:00:00'), 'available');
  log.state('ann', at('09:00:20'), 'on_contact');
  log.state('ann', at('09:05:20'), 'wrap_up');
  log.state('ann', at('09:06:20'), 'available'); // wrap-up of c1: 60 s
  log.state('ann', at('09:10:40'), 'on_contact');
  log.state('ann', at('09:12:40'), 'wrap_up');
  log.state('ann', at('09:13:10'), 'available'); // wrap-up of c2: 30 s
  log.state('ann', at('09:30:00'), 'away', 'lunch');
  log.state('ann', at('09:45:00'), 'available');

  log.state('bob', at('08:55:00'), 'available'); // before the window: its state carries in
  log.state('bob', at('09:10:16'), 'away', 'missed offers');
  log.state('bob', at('09:40:00'), 'available');
  log.state('bob', at('09:45:05'), 'on_contact');
  log.state('bob', at('09:55:05'), 'wrap_up');
  log.state('bob', at('10:01:05'), 'available'); // after the window
  return log;
}

describe('queue figures over a window', () => {
  it('counts offers, answers, abandons before and after the threshold, and short abandons', () => {
    const metrics = billingHour().metrics(query(at('09:00:00'), at('10:00:00')));
    const billing = row(metrics, 'billing', 'voice');

    // Entered 09:00-10:00: c1, c2, c3, c4, c5, c7, c6.
    expect(billing.offered).toBe(7);
    expect(billing.transferredIn).toBe(0);
    // Answered: c1 (20 s), c2 (40 s), c7 (5 s); within 20 s: c1 and c7.
    expect(billing.answered).toBe(3);
    expect(billing.answeredWithinThreshold).toBe(2);
    expect(billing.answeredWaitSeconds).toBe(65); // 20 + 40 + 5
    expect(billing.averageSpeedOfAnswerSeconds).toBeCloseTo(65 / 3, 9); // 21.67 s
    // Abandoned: c4 (15 s, within) and c5 (60 s, after); c3 (3 s) is a short abandon, counted apart.
    expect(billing.abandoned).toBe(2);
    expect(billing.abandonedWithinThreshold).toBe(1);
    expect(billing.shortAbandoned).toBe(1);
    // Service level: 2 answered within / 3 answered.
    expect(billing.serviceLevel).toBeCloseTo(2 / 3, 9);
    // With abandons: (2 answered within + 1 abandoned within) / (3 answered + 2 abandoned) = 3 / 5.
    expect(billing.serviceLevelWithAbandons).toBeCloseTo(0.6, 9);
    // Abandonment rate: 2 abandoned / (3 answered + 2 abandoned).
    expect(billing.abandonmentRate).toBeCloseTo(0.4, 9);
    // Live at 10:00: c6 waits, since 09:50:00 = 600 s.
    expect(billing.waitingNow).toBe(1);
    expect(billing.longestWaitSeconds).toBe(600);
    expect(billing.serviceLevelSeconds).toBe(20);
  });

  it('includes wrap-up in handle time, and counts a handling once its wrap-up ended', () => {
    const metrics = billingHour().metrics(query(at('09:00:00'), at('10:00:00')));
    const billing = row(metrics, 'billing', 'voice');
    // Completed in the window: c1 (talk 09:00:20-09:05:20 = 300, wrap 09:05:20-09:06:20 = 60) and c2 (talk
    // 09:10:40-09:12:40 = 120, wrap 09:12:40-09:13:10 = 30). c7's talk ended at 09:55:05 but Bob's wrap-up
    // runs until 10:01:05: it completes in the next window.
    expect(billing.handled).toBe(2);
    expect(billing.talkSeconds).toBe(420); // 300 + 120
    expect(billing.wrapUpSeconds).toBe(90); // 60 + 30
    expect(billing.averageHandleSeconds).toBe(255); // (420 + 90) / 2

    const next = billingHour().metrics(query(at('10:00:00'), at('11:00:00')));
    const later = row(next, 'billing', 'voice');
    // c7: talk 600 + wrap 09:55:05-10:01:05 = 360 s, counted at 10:01:05.
    expect(later.handled).toBe(1);
    expect(later.averageHandleSeconds).toBe(960);
    expect(later.offered).toBe(0);
    expect(later.serviceLevel).toBeNull();
    expect(agent(next, 'bob').handled).toBe(1);
  });

  it('gives live figures as of an instant inside the window, counting nothing after it', () => {
    // At 09:30:10: c4 has waited 10 s; entered so far: c1, c2, c3, c4.
    const metrics = billingHour().metrics(query(at('09:00:00'), at('10:00:00'), at('09:30:10')));
    const billing = row(metrics, 'billing', 'voice');
    expect(billing.waitingNow).toBe(1);
    expect(billing.longestWaitSeconds).toBe(10);
    expect(billing.offered).toBe(4);
    expect(billing.answered).toBe(2); // c1, c2
    expect(billing.abandoned).toBe(0); // c4 leaves at 09:30:15
    expect(billing.shortAbandoned).toBe(1); // c3
    // Ann went on lunch at 09:30:00: available 20 + 260 + 1010 = 1290 s, on contact 420, wrap-up 90, away 10.
    const ann = agent(metrics, 'ann');
    expect(ann.state).toBe('away');
    expect(ann.awayReason).toBe('lunch');
    expect(ann.stateSince).toEqual(at('09:30:00'));
    expect(ann.secondsIn).toEqual({ offline: 0, available: 1290, away: 10, on_contact: 420, wrap_up: 90 });
  });
});

describe('agent figures', () => {
  it('measures time in states, occupancy with wrap-up and idle time, and the live state', () => {
    const metrics = billingHour().metrics(query(at('09:00:00'), at('10:00:00')));

    const ann = agent(metrics, 'ann');
    // available: 09:00:00-09:00:20 (20) + 09:06:20-09:10:40 (260) + 09:13:10-09:30:00 (1010)
    //            + 09:45:00-10:00:00 (900) = 2190 s
    // on_contact: 300 + 120 = 420 s; wrap_up: 60 + 30 = 90 s; away: 09:30-09:45 = 900 s. Sum: 3600 s.
    expect(ann.secondsIn).toEqual({ offline: 0, available: 2190, away: 900, on_contact: 420, wrap_up: 90 });
    expect(ann.awaySecondsByReason).toEqual({ lunch: 900 });
    // Occupancy: (420 + 90) / (2190 + 420 + 90) = 510 / 2700.
    expect(ann.occupancy).toBeCloseTo(510 / 2700, 9);
    expect(ann.handled).toBe(2);
    expect(ann.talkSeconds).toBe(420);
    expect(ann.wrapUpSeconds).toBe(90);
    expect(ann.averageHandleSeconds).toBe(255);
    expect(ann.state).toBe('available');
    expect(ann.stateSince).toEqual(at('09:45:00'));
    expect(ann.openContacts).toBe(0);

    const bob = agent(metrics, 'bob');
    // available: 09:00:00-09:10:16 (616, the state set at 08:55 carries in) + 09:40:00-09:45:05 (305) = 921
    // away: 09:10:16-09:40:00 = 1784; on_contact: 09:45:05-09:55:05 = 600; wrap_up: 09:55:05-10:00:00 = 295.
    expect(bob.secondsIn).toEqual({ offline: 0, available: 921, away: 1784, on_contact: 600, wrap_up: 295 });
    expect(bob.awaySecondsByReason).toEqual({ 'missed offers': 1784 });
    expect(bob.occupancy).toBeCloseTo(895 / 1816, 9); // (600 + 295) / (921 + 600 + 295)
    expect(bob.state).toBe('wrap_up');
    expect(bob.stateSince).toEqual(at('09:55:05'));
    expect(bob.handled).toBe(0); // c7 is still in wrap-up
    expect(bob.averageHandleSeconds).toBeNull();
  });

  it('ties a wrap-up to the close that started it, not to an earlier close of concurrent work', () => {
    const log = new Log();
    const c50 = log.contact('c50', 'chat');
    const c51 = log.contact('c51', 'chat');
    c50.queued(at('10:00:00'), 'support');
    c50.offered(at('10:00:00'), 'fay', 'support');
    c50.accepted(at('10:00:00'), 'fay');
    c51.queued(at('10:01:00'), 'support');
    c51.offered(at('10:01:00'), 'fay', 'support');
    c51.accepted(at('10:01:00'), 'fay');
    c50.closed(at('10:05:00'), 'agent'); // Fay still holds c51: no wrap-up
    c51.closed(at('10:05:02'), 'agent'); // her last contact: wrap-up 30 s
    log.state('fay', at('10:00:00'), 'on_contact');
    log.state('fay', at('10:05:02'), 'wrap_up');
    log.state('fay', at('10:05:32'), 'available');

    const [f50, f51] = buildContactFacts(log.events, log.states);
    expect(f50!.handlings[0]!.wrapUpStartedAt).toBeNull();
    expect(f51!.handlings[0]!.wrapUpStartedAt).toEqual(at('10:05:02'));
    expect(f51!.handlings[0]!.wrapUpEndedAt).toEqual(at('10:05:32'));

    const fay = agent(log.metrics(query(at('10:00:00'), at('11:00:00'))), 'fay');
    expect(fay.handled).toBe(2);
    expect(fay.talkSeconds).toBe(542); // c50: 10:00:00-10:05:00 = 300; c51: 10:01:00-10:05:02 = 242
    expect(fay.wrapUpSeconds).toBe(30);
    expect(fay.averageHandleSeconds).toBe(286); // (542 + 30) / 2
    // Two chats at once: occupancy counts time in state, so it stays within 0..1.
    // on_contact 10:00:00-10:05:02 = 302, wrap_up 30, available 10:05:32-11:00:00 = 3268.
    expect(fay.occupancy).toBeCloseTo(332 / 3600, 9);
  });
});

describe('transfers', () => {
  // Rule: every queue a contact waits in counts it. The queue it leaves counts it answered (if an agent took it
  // there) or transferred out (if it left while waiting); the queue it enters counts it offered and
  // transferred in, its wait starting when it entered that queue. A transfer from agent to agent opens no
  // visit: the second agent's handling counts in the queue the contact was answered from.
  function transfers(): Log {
    const log = new Log();
    const c10 = log.contact('c10', 'chat');
    c10.queued(at('11:00:00'), 'billing');
    c10.transferred(at('11:01:00'), {
      kind: 'assign',
      byAgentId: 'sue',
      fromAgentId: null,
      fromQueue: 'billing',
      toQueue: 'support',
      note: null,
    }); // left billing while waiting (60 s): transferred out
    c10.offered(at('11:01:05'), 'cat', 'support');
    c10.accepted(at('11:01:25'), 'cat'); // 25 s in support (85 s since first queued)
    c10.transferred(at('11:05:25'), {
      kind: 'transfer',
      byAgentId: 'cat',
      fromAgentId: 'cat',
      fromQueue: 'support',
      toQueue: 'billing',
      note: 'needs a refund',
    }); // Cat's talk: 240 s, no wrap-up after a transfer
    c10.offered(at('11:05:30'), 'ann', 'billing');
    c10.accepted(at('11:05:40'), 'ann'); // 15 s in billing, second time
    c10.transferred(at('11:10:40'), {
      kind: 'transfer',
      byAgentId: 'ann',
      fromAgentId: 'ann',
      fromQueue: 'billing',
      toAgentId: 'dan',
      note: null,
    }); // Ann's talk: 300 s; Dan takes over
    c10.closed(at('11:20:40'), 'agent'); // Dan's talk: 600 s
    log.state('dan', at('11:10:40'), 'on_contact');
    log.state('dan', at('11:20:40'), 'wrap_up');
    log.state('dan', at('11:21:40'), 'available'); // Dan's wrap-up: 60 s
    return log;
  }

  it('counts the contact in every queue it waited in, each with its own wait', () => {
    const log = transfers();
    const [facts] = buildContactFacts(log.events, log.states);
    expect(facts!.visits.map((v) => [v.queue, v.entry, v.outcome])).toEqual([
      ['billing', 'new', 'transferred'],
      ['support', 'transfer', 'answered'],
      ['billing', 'transfer', 'answered'],
    ]);
    expect(facts!.handlings.map((h) => [h.agentId, h.queue, h.startedBy, h.endedBy])).toEqual([
      ['cat', 'support', 'offer', 'transfer'],
      ['ann', 'billing', 'offer', 'transfer'],
      ['dan', 'billing', 'transfer', 'close'],
    ]);

    const metrics = log.metrics(query(at('11:00:00'), at('12:00:00')));
    const billing = row(metrics, 'billing', 'chat');
    expect(billing.offered).toBe(2); // queued there, then transferred back in
    expect(billing.transferredIn).toBe(1);
    expect(billing.transferredOut).toBe(1);
    expect(billing.answered).toBe(1);
    expect(billing.averageSpeedOfAnswerSeconds).toBe(15); // 11:05:25 -> 11:05:40
    expect(billing.serviceLevel).toBe(1); // 15 <= 20
    expect(billing.abandonmentRate).toBe(0);
    // Ann 300 + 0 and Dan 600 + 60: 2 handlings, (900 + 60) / 2 = 480 s.
    expect(billing.handled).toBe(2);
    expect(billing.talkSeconds).toBe(900);
    expect(billing.wrapUpSeconds).toBe(60);
    expect(billing.averageHandleSeconds).toBe(480);

    const support = row(metrics, 'support', 'chat');
    expect(support.offered).toBe(1);
    expect(support.transferredIn).toBe(1);
    expect(support.answered).toBe(1);
    expect(support.averageSpeedOfAnswerSeconds).toBe(25); // 11:01:00 -> 11:01:25, not 85
    expect(support.serviceLevel).toBe(1); // 25 <= 30 (support's threshold)
    expect(support.averageHandleSeconds).toBe(240); // Cat

    // The channel sums its queues: 3 visits, 2 of them transferred in, so 3 - 2 = 1 contact arrived.
    const chat = metrics.byChannel.find((r) => r.channel === 'chat')!;
    expect(chat.offered).toBe(3);
    expect(chat.transferredIn).toBe(2);
    expect(chat.answered).toBe(2);
    expect(chat.averageSpeedOfAnswerSeconds).toBe(20); // (15 + 25) / 2
    expect(chat.handled).toBe(3);
    expect(metrics.total.offered - metrics.total.transferredIn).toBe(1);
    expect(agent(metrics, 'dan').averageHandleSeconds).toBe(660);
    expect(agent(metrics, 'cat').talkSeconds).toBe(240);
  });
});

describe('a contact that spans midnight', () => {
  function aroundMidnight(): Log {
    const log = new Log();
    const c20 = log.contact('c20', 'voice');
    c20.queued(at('23:59:00', 1), 'billing');
    c20.offered(at('23:59:05', 1), 'ann', 'billing');
    c20.accepted(at('00:00:30', 2), 'ann'); // waited 90 s across midnight
    c20.closed(at('00:04:30', 2), 'customer'); // talk 240 s
    const c21 = log.contact('c21', 'voice');
    c21.queued(at('23:58:00', 1), 'billing');
    c21.closed(at('00:00:10', 2), 'customer', true); // abandoned after 130 s
    log.state('ann', at('23:30:00', 1), 'available');
    log.state('ann', at('00:00:30', 2), 'on_contact');
    log.state('ann', at('00:04:30', 2), 'wrap_up');
    log.state('ann', at('00:05:00', 2), 'available'); // wrap-up 30 s
    log.state('ann', at('01:00:00', 2), 'offline');
    return log;
  }

  it('counts the arrival in the first day and the answer and abandon in the second', () => {
    const day1 = aroundMidnight().metrics(query(at('00:00:00', 1), at('00:00:00', 2)));
    const first = row(day1, 'billing', 'voice');
    expect(first.offered).toBe(2);
    expect(first.answered).toBe(0);
    expect(first.abandoned).toBe(0);
    // Nothing resolved yet: no ratio, not NaN.
    expect(first.serviceLevel).toBeNull();
    expect(first.serviceLevelWithAbandons).toBeNull();
    expect(first.averageSpeedOfAnswerSeconds).toBeNull();
    expect(first.abandonmentRate).toBeNull();
    expect(first.averageHandleSeconds).toBeNull();
    // Both wait at midnight; c21 since 23:58:00 = 120 s.
    expect(first.waitingNow).toBe(2);
    expect(first.longestWaitSeconds).toBe(120);
    const annDay1 = agent(day1, 'ann');
    expect(annDay1.secondsIn.available).toBe(1800); // 23:30-24:00
    expect(annDay1.occupancy).toBe(0);

    const day2 = aroundMidnight().metrics(query(at('00:00:00', 2), at('00:00:00', 3)));
    const second = row(day2, 'billing', 'voice');
    expect(second.offered).toBe(0);
    expect(second.answered).toBe(1);
    expect(second.averageSpeedOfAnswerSeconds).toBe(90); // 23:59:00 -> 00:00:30
    expect(second.serviceLevel).toBe(0); // 90 > 20
    expect(second.abandoned).toBe(1);
    expect(second.abandonedWithinThreshold).toBe(0); // 130 > 20
    expect(second.serviceLevelWithAbandons).toBe(0); // (0 + 0) / (1 + 1)
    expect(second.abandonmentRate).toBe(0.5); // 1 / (1 + 1)
    expect(second.handled).toBe(1);
    expect(second.averageHandleSeconds).toBe(270); // 240 + 30
    expect(second.waitingNow).toBe(0);
    expect(second.longestWaitSeconds).toBeNull();
    const annDay2 = agent(day2, 'ann');
    // available 00:00:00-00:00:30 (30) + 00:05:00-01:00:00 (3300) = 3330; on_contact 240; wrap_up 30;
    // offline 01:00:00-24:00:00 = 82800. Sum: 86400.
    expect(annDay2.secondsIn).toEqual({
      offline: 82_800,
      available: 3330,
      away: 0,
      on_contact: 240,
      wrap_up: 30,
    });
    expect(annDay2.occupancy).toBeCloseTo(270 / 3600, 9); // (240 + 30) / (3330 + 240 + 30)
  });
});

describe('other ways in and out of a queue', () => {
  it('counts a reopened interaction as a new offer to its queue', () => {
    const log = new Log();
    const c30 = log.contact('c30', 'email');
    c30.queued(at('08:00:00'), 'support');
    c30.offered(at('08:00:10'), 'eve', 'support');
    c30.accepted(at('08:02:00'), 'eve'); // waited 120 s
    c30.closed(at('08:10:00'), 'agent'); // talk 480 s
    c30.reopened(at('09:00:00'));
    c30.queued(at('09:00:00'), 'support');
    c30.offered(at('09:00:05'), 'eve', 'support');
    c30.accepted(at('09:00:25'), 'eve'); // waited 25 s
    c30.closed(at('09:05:25'), 'agent'); // talk 300 s
    log.state('eve', at('08:10:00'), 'wrap_up');
    log.state('eve', at('08:11:00'), 'available'); // wrap-up 60 s
    log.state('eve', at('09:05:25'), 'wrap_up');
    log.state('eve', at('09:05:55'), 'available'); // wrap-up 30 s

    const [facts] = buildContactFacts(log.events, log.states);
    expect(facts!.visits.map((v) => v.entry)).toEqual(['new', 'reopened']);
    const support = row(log.metrics(query(at('08:00:00'), at('10:00:00'))), 'support', 'email');
    expect(support.offered).toBe(2);
    expect(support.transferredIn).toBe(0);
    expect(support.answered).toBe(2);
    expect(support.answeredWithinThreshold).toBe(1); // 25 <= 30; 120 > 30
    expect(support.serviceLevel).toBe(0.5);
    expect(support.averageSpeedOfAnswerSeconds).toBe(72.5); // (120 + 25) / 2
    expect(support.handled).toBe(2);
    expect(support.averageHandleSeconds).toBe(435); // (480 + 60 + 300 + 30) / 2
  });

  it('does not count self-service or a close by the system as an abandon', () => {
    const log = new Log();
    const c40 = log.contact('c40', 'chat');
    c40.queued(at('12:00:00'), 'support');
    c40.cannedReplyAccepted(at('12:00:40'));
    c40.closed(at('12:00:40'), 'customer', true); // the suggested answer solved it
    const c41 = log.contact('c41', 'chat');
    c41.queued(at('12:10:00'), 'support', false); // after hours
    c41.afterHoursClose(at('12:10:00'), 'support');
    c41.closed(at('12:10:00'), 'system', true); // closed with the after-hours message

    const support = row(log.metrics(query(at('12:00:00'), at('13:00:00'))), 'support', 'chat');
    expect(support.offered).toBe(2);
    expect(support.offeredWhileClosed).toBe(1);
    expect(support.selfServed).toBe(1);
    expect(support.closedWhileWaiting).toBe(1);
    expect(support.abandoned).toBe(0);
    expect(support.abandonmentRate).toBeNull(); // nothing answered or abandoned
  });

  it('follows an escalation move-to into the queue the next offer names, else the unknown queue', () => {
    const log = new Log();
    const c42 = log.contact('c42', 'voice');
    c42.queued(at('14:00:00'), 'billing');
    c42.escalatedMoveTo(at('14:01:00'), 'billing');
    c42.offered(at('14:01:02'), 'ann', 'support'); // the first event that names the new queue
    c42.accepted(at('14:01:10'), 'ann'); // 10 s in support
    const c43 = log.contact('c43', 'voice');
    c43.queued(at('14:05:00'), 'billing');
    c43.escalatedMoveTo(at('14:06:00'), 'billing');
    c43.closed(at('14:06:30'), 'customer', true); // left before any event named the queue

    const metrics = log.metrics(query(at('14:00:00'), at('15:00:00')));
    const billing = row(metrics, 'billing', 'voice');
    expect(billing.offered).toBe(2);
    expect(billing.transferredOut).toBe(2);
    const support = row(metrics, 'support', 'voice');
    expect(support.transferredIn).toBe(1);
    expect(support.averageSpeedOfAnswerSeconds).toBe(10);
    const unknown = row(metrics, unknownQueue, 'voice');
    expect(unknown.abandoned).toBe(1);
    expect(unknown.abandonedWithinThreshold).toBe(0); // 30 s > the default 20 s
  });
});

describe('empty windows', () => {
  it('gives zero counts and null ratios, never NaN', () => {
    const empty = computeMetrics([], [], query(at('00:00:00'), at('00:00:00', 2)));
    expect(empty.byQueue).toEqual([]);
    expect(empty.byAgent).toEqual([]);
    expect(empty.total).toMatchObject({
      offered: 0,
      waitingNow: 0,
      longestWaitSeconds: null,
      serviceLevel: null,
      serviceLevelWithAbandons: null,
      averageSpeedOfAnswerSeconds: null,
      abandonmentRate: null,
      averageHandleSeconds: null,
    });
    expectOnlyFiniteNumbers(empty);
  });

  it('gives a quiet window of a busy log the same, with the live figures still live', () => {
    const log = billingHour();
    log.state('zed', at('08:00:00'), 'offline');
    const metrics = log.metrics(query(at('12:00:00'), at('13:00:00')));
    const billing = row(metrics, 'billing', 'voice');
    expect(billing.offered).toBe(0);
    expect(billing.handled).toBe(0);
    expect(billing.serviceLevel).toBeNull();
    expect(billing.averageHandleSeconds).toBeNull();
    // c6 has waited since 09:50:00: 3 h 10 min at 13:00.
    expect(billing.waitingNow).toBe(1);
    expect(billing.longestWaitSeconds).toBe(11_400);
    // Zed was offline all along: no time available or busy, so no occupancy.
    expect(agent(metrics, 'zed').occupancy).toBeNull();
    expect(agent(metrics, 'zed').secondsIn.offline).toBe(3600);
    expectOnlyFiniteNumbers(metrics);
  });
});
