import { describe, expect, it } from 'vitest';
import type { ActorType, InteractionEventPayloads, InteractionEventType } from '../../src/events.js';
import { buildContactFacts, type LogEvent } from '../../src/reports/contact-facts.js';
import {
  computeMetrics,
  openWorkByAgent,
  type Metrics,
  type QueueChannelFigures,
} from '../../src/reports/metrics.js';
import type { Channel } from '../../src/routing/routing.types.js';

// First response, resolution, IVR containment and open work by agent, from hand-written logs. Every expected
// figure is worked out by hand in the comment beside it from the event times. Times are UTC; day 1 is
// 2026-12-01.

const at = (hms: string, day = 1) => new Date(`2026-12-0${day}T${hms}Z`);

/** A hand-written log: each contact's events in log order. */
class Log {
  readonly events: LogEvent[] = [];

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
    const self = {
      created(when: Date, direction: 'inbound' | 'outbound' = 'inbound') {
        push('interaction.created', when, { direction, threadKey: null, subject: null }, 'customer');
        if (direction === 'inbound') push('message.received', when, { text: 'help' }, 'customer');
        return self;
      },
      queued(when: Date, queue: string) {
        push('routing.queued', when, {
          queue,
          priority: 0,
          rule: 'default',
          reason: 'test',
          isQueueOpen: true,
          openingReason: 'open',
        });
        return self;
      },
      accepted(when: Date, agentId: string) {
        offers += 1;
        push(
          'offer.accepted',
          when,
          { offerId: `${interactionId}-${offers}`, agentId, missesInARow: 0 },
          'agent',
          agentId,
        );
        return self;
      },
      replied(when: Date, agentId: string) {
        push('message.sent', when, { text: 'answer', agentId, agentName: agentId }, 'agent', agentId);
        return self;
      },
      acknowledged(when: Date) {
        push('message.sent', when, { text: 'we got your mail', automatic: 'acknowledgment' });
        return self;
      },
      closed(when: Date, by: ActorType, extra: Record<string, unknown> = {}) {
        push('interaction.closed', when, { reason: `closed by ${by}`, ...extra }, by);
        return self;
      },
      reopened(when: Date) {
        push('interaction.reopened', when, { reason: 'customer replied' });
        push('message.received', when, { text: 'still broken' }, 'customer');
        return self;
      },
      transferredTo(when: Date, fromAgentId: string, toAgentId: string) {
        push(
          'routing.transferred',
          when,
          { kind: 'transfer', byAgentId: fromAgentId, fromAgentId, fromQueue: null, toAgentId, note: null },
          'agent',
          fromAgentId,
        );
        return self;
      },
      escalatedMoveTo(when: Date, fromQueue: string, movedTo: string) {
        push('routing.escalated', when, {
          queue: fromQueue,
          step: 0,
          action: 'move-to',
          afterSeconds: 60,
          reason: 'test',
          movedTo,
        });
        return self;
      },
      step(when: Date, step: string, kind: InteractionEventPayloads['ivr.step']['kind'], outcome: string) {
        push('ivr.step', when, { flow: 'main', step, kind, outcome, language: 'en-US' }, 'customer');
        return self;
      },
      handedOff(when: Date, to: 'agent' | 'callback' | 'voicemail') {
        push(
          'ivr.handedOff',
          when,
          { flow: 'main', step: 'menu', to, reason: 'caller chose', hints: {} },
          'customer',
        );
        return self;
      },
    };
    return self;
  }

  metrics(from: Date, to: Date, asOf = to): Metrics {
    return computeMetrics(buildContactFacts(this.events, []), [], {
      from,
      to,
      asOf,
      targets: new Map(),
      defaultTargets: { serviceLevelSeconds: 20, shortAbandonSeconds: 0 },
    });
  }
}

function row(metrics: Metrics, queue: string, channel: Channel): QueueChannelFigures {
  const found = metrics.byQueueChannel.find((r) => r.queue === queue && r.channel === channel);
  if (!found) throw new Error(`no row ${queue}/${channel}`);
  return found;
}

describe('first response and resolution', () => {
  const log = new Log();
  // An email answered after 2 h: created 09:00, taken 10:30, first reply 11:00 (7,200 s), closed 11:05
  // (resolution 7,500 s). The automatic acknowledgment at 09:00:05 is not a response.
  log
    .contact('mail-2h', 'email')
    .created(at('09:00:00'))
    .acknowledged(at('09:00:05'))
    .queued(at('09:00:00'), 'support')
    .accepted(at('10:30:00'), 'ann')
    .replied(at('11:00:00'), 'ann')
    .replied(at('11:02:00'), 'ann')
    .closed(at('11:05:00'), 'agent');
  // A chat answered in 40 s: created 09:10:00, taken 09:10:20, reply 09:10:40; closed 09:15:00 (300 s).
  log
    .contact('chat-40s', 'chat')
    .created(at('09:10:00'))
    .queued(at('09:10:00'), 'support')
    .accepted(at('09:10:20'), 'bob')
    .replied(at('09:10:40'), 'bob')
    .closed(at('09:15:00'), 'agent');
  // An email never answered: created 09:30, waiting all morning. No first response, no resolution.
  log.contact('mail-unanswered', 'email').created(at('09:30:00')).queued(at('09:30:00'), 'support');
  // An outbound email an agent started: no customer waited for a first response.
  log.contact('mail-outbound', 'email').created(at('09:40:00'), 'outbound').replied(at('09:40:00'), 'ann');
  // A call: voice is measured by speed of answer, not first response.
  log
    .contact('call', 'voice')
    .created(at('09:00:00'))
    .queued(at('09:00:00'), 'support')
    .accepted(at('09:00:10'), 'bob')
    .closed(at('09:05:00'), 'agent');
  // Reopened: created 08:00, taken 08:10, reply 08:20 (first response 1,200 s, in the 08:00 hour), closed
  // 08:30 (resolution 1,800 s); reopened 09:40, taken 09:45 by bob, reply 09:50 (not a first response),
  // closed 10:00 by bob: resolution 7,200 s from creation, after a reopen.
  log
    .contact('mail-reopened', 'email')
    .created(at('08:00:00'))
    .queued(at('08:00:00'), 'billing')
    .accepted(at('08:10:00'), 'ann')
    .replied(at('08:20:00'), 'ann')
    .closed(at('08:30:00'), 'agent')
    .reopened(at('09:40:00'))
    .queued(at('09:40:00'), 'billing')
    .accepted(at('09:45:00'), 'bob')
    .replied(at('09:50:00'), 'bob')
    .closed(at('10:00:00'), 'agent', { agentId: 'bob' });
  // An abandoned chat: the visitor left while waiting. An abandon, not a resolution.
  log
    .contact('chat-left', 'chat')
    .created(at('09:20:00'))
    .queued(at('09:20:00'), 'support')
    .closed(at('09:21:00'), 'customer', { wasWaiting: true });

  it('counts each first reply once, in the window of the reply, from the creation', () => {
    const morning = log.metrics(at('09:00:00'), at('12:00:00'));
    // support/email: mail-2h only (7,200 s); the unanswered one and the outbound one are not counted.
    expect(row(morning, 'support', 'email')).toMatchObject({
      firstResponses: 1,
      firstResponseSeconds: 7200,
      averageFirstResponseSeconds: 7200,
      resolved: 1,
      resolutionSeconds: 7500,
      averageResolutionSeconds: 7500,
      resolvedAfterReopen: 0,
    });
    // support/chat: 40 s to the first reply; resolved in 300 s; the abandoned chat is not resolved.
    expect(row(morning, 'support', 'chat')).toMatchObject({
      firstResponses: 1,
      firstResponseSeconds: 40,
      resolved: 1,
      resolutionSeconds: 300,
      abandoned: 1,
    });
    // Voice: none of either.
    expect(row(morning, 'support', 'voice')).toMatchObject({ firstResponses: 0, resolved: 0, handled: 1 });
    // billing/email: the reopened one's first reply was at 08:20, before the window; its final close at
    // 10:00 is in it, 7,200 s from creation, counted after a reopen.
    expect(row(morning, 'billing', 'email')).toMatchObject({
      firstResponses: 0,
      averageFirstResponseSeconds: null,
      resolved: 1,
      resolvedAfterReopen: 1,
      resolutionSeconds: 7200,
    });
    // In total: first responses 7,200 + 40 over 2 = 3,620 s; resolutions 7,500 + 300 + 7,200 over 3 = 5,000 s.
    expect(morning.total).toMatchObject({
      firstResponses: 2,
      averageFirstResponseSeconds: 3620,
      resolved: 3,
      averageResolutionSeconds: 5000,
    });
  });

  it("counts the reopened contact's first close in its own hour", () => {
    const early = log.metrics(at('08:00:00'), at('09:00:00'));
    expect(row(early, 'billing', 'email')).toMatchObject({
      firstResponses: 1,
      firstResponseSeconds: 1200,
      resolved: 1,
      resolvedAfterReopen: 0,
      resolutionSeconds: 1800,
    });
  });

  it('counts a contact spanning midnight on the day the clock stopped', () => {
    const night = new Log();
    // Created 23:00 on day 1, taken 00:30 on day 2, first reply 01:00 on day 2: 7,200 s, on day 2.
    night
      .contact('mail-night', 'email')
      .created(at('23:00:00', 1))
      .queued(at('23:00:00', 1), 'support')
      .accepted(at('00:30:00', 2), 'ann')
      .replied(at('01:00:00', 2), 'ann')
      .closed(at('01:30:00', 2), 'agent');
    const day1 = night.metrics(at('00:00:00', 1), at('00:00:00', 2));
    const day2 = night.metrics(at('00:00:00', 2), at('00:00:00', 3));
    expect(row(day1, 'support', 'email')).toMatchObject({ offered: 1, firstResponses: 0, resolved: 0 });
    expect(row(day2, 'support', 'email')).toMatchObject({
      offered: 0,
      answered: 1,
      firstResponses: 1,
      firstResponseSeconds: 7200,
      resolved: 1,
      // 23:00 to 01:30: 9,000 s.
      resolutionSeconds: 9000,
    });
  });

  it('puts a reply in the queue the contact was answered from, and an escalation in the queue it names', () => {
    const moved = new Log();
    // Waits in billing from 09:00, moved to support by escalation at 09:02, taken 09:03, replied 09:04.
    moved
      .contact('mail-moved', 'email')
      .created(at('09:00:00'))
      .queued(at('09:00:00'), 'billing')
      .escalatedMoveTo(at('09:02:00'), 'billing', 'support')
      .accepted(at('09:03:00'), 'ann')
      .replied(at('09:04:00'), 'ann');
    const metrics = moved.metrics(at('09:00:00'), at('10:00:00'));
    expect(row(metrics, 'billing', 'email')).toMatchObject({ offered: 1, transferredOut: 1 });
    // 60 s in support; the first reply 240 s after creation.
    expect(row(metrics, 'support', 'email')).toMatchObject({
      offered: 1,
      transferredIn: 1,
      answered: 1,
      answeredWaitSeconds: 60,
      firstResponses: 1,
      firstResponseSeconds: 240,
    });
  });
});

describe('IVR containment', () => {
  const log = new Log();
  // A: a lookup answered the caller, who then hung up mid-menu: self-served, left at 09:02:00. Its steps
  // reach the log after the close (the step log is batched), with the turn's times.
  log
    .contact('call-a', 'voice')
    .created(at('09:00:00'))
    .closed(at('09:02:00'), 'customer', { reason: 'caller hung up in the IVR' })
    .step(at('09:00:00'), 'greeting', 'say', 'said')
    .step(at('09:00:01'), 'order', 'lookup', 'answered')
    .step(at('09:00:02'), 'anything-else', 'menu', 'prompted');
  // B: the flow ended in a hangup step: self-served at 09:10:00.
  log
    .contact('call-b', 'voice')
    .created(at('09:09:00'))
    .step(at('09:09:00'), 'menu', 'menu', 'prompted')
    .closed(at('09:10:00'), 'customer', { reason: 'self-served in the IVR' })
    .step(at('09:10:00'), 'goodbye', 'hangup', 'self-served');
  // C: asked for an agent at 09:20:30; queued and answered: not contained.
  log
    .contact('call-c', 'voice')
    .created(at('09:20:00'))
    .step(at('09:20:00'), 'menu', 'menu', 'prompted')
    .step(at('09:20:30'), 'menu', 'menu', 'matched')
    .handedOff(at('09:20:30'), 'agent')
    .queued(at('09:20:30'), 'billing')
    .accepted(at('09:21:00'), 'ann')
    .closed(at('09:25:00'), 'customer');
  // D: hung up on the menu at 09:31:00: abandoned in the IVR (not contained, not a queue abandon).
  log
    .contact('call-d', 'voice')
    .created(at('09:30:00'))
    .step(at('09:30:00'), 'menu', 'menu', 'prompted')
    .closed(at('09:31:00'), 'customer', { reason: 'caller hung up in the IVR' });
  // E: asked for a callback at 09:40:00.
  log
    .contact('call-e', 'voice')
    .created(at('09:39:00'))
    .step(at('09:39:00'), 'menu', 'menu', 'prompted')
    .handedOff(at('09:40:00'), 'callback');
  // F: still in the menu at 10:00 (entered 09:58:00).
  log.contact('call-f', 'voice').created(at('09:58:00')).step(at('09:58:00'), 'menu', 'menu', 'prompted');
  // G: a call without an IVR (routed straight away): not an IVR call.
  log
    .contact('call-g', 'voice')
    .created(at('09:50:00'))
    .queued(at('09:50:00'), 'billing')
    .closed(at('09:51:00'), 'customer', { wasWaiting: true });

  it('counts how calls left the IVR, and the containment rate', () => {
    const metrics = log.metrics(at('09:00:00'), at('10:00:00'));
    // Five calls left the IVR: A and B self-served, C to an agent, D hung up, E to a callback.
    // Containment 2 / 5; IVR abandonment 1 / 5. F is in the IVR at 10:00.
    expect(metrics.ivr).toEqual({
      inIvrNow: 1,
      ivrCalls: 5,
      selfServed: 2,
      abandoned: 1,
      toAgent: 1,
      toCallback: 1,
      toVoicemail: 0,
      closed: 0,
      containmentRate: 0.4,
      abandonmentRate: 0.2,
    });
    expect(metrics.ivrByFlow.map((r) => r.flow)).toEqual(['main']);
    // D hung up in the IVR, not in a queue: billing's only abandon is G.
    expect(row(metrics, 'billing', 'voice')).toMatchObject({ offered: 2, answered: 1, abandoned: 1 });
  });

  it('counts each call in the window it left the IVR', () => {
    // 09:00-09:15: A and B only (both contained); 09:15-10:00: C, D, E (none).
    expect(log.metrics(at('09:00:00'), at('09:15:00')).ivr).toMatchObject({
      ivrCalls: 2,
      selfServed: 2,
      containmentRate: 1,
    });
    expect(log.metrics(at('09:15:00'), at('10:00:00')).ivr).toMatchObject({
      ivrCalls: 3,
      selfServed: 0,
      containmentRate: 0,
    });
    // Live at 09:09:30: B is in the IVR (entered 09:09:00, left 09:10:00); nothing left yet in 09:05-09:09:30.
    expect(log.metrics(at('09:05:00'), at('09:09:30')).ivr).toMatchObject({
      inIvrNow: 1,
      ivrCalls: 0,
      containmentRate: null,
    });
  });
});

describe('open work by agent', () => {
  const log = new Log();
  // ann takes email x (created 08:00) at 09:00 and chat y (created 09:20) at 09:30; y is closed at 10:00.
  log
    .contact('x', 'email')
    .created(at('08:00:00'))
    .queued(at('08:00:00'), 'support')
    .accepted(at('09:00:00'), 'ann');
  log
    .contact('y', 'chat')
    .created(at('09:20:00'))
    .queued(at('09:20:00'), 'support')
    .accepted(at('09:30:00'), 'ann')
    .closed(at('10:00:00'), 'agent');
  // bob takes email z (created 09:05) at 09:10 and transfers it to ann at 10:15.
  log
    .contact('z', 'email')
    .created(at('09:05:00'))
    .queued(at('09:05:00'), 'support')
    .accepted(at('09:10:00'), 'bob')
    .transferredTo(at('10:15:00'), 'bob', 'ann');
  const facts = () => buildContactFacts(log.events, []);

  it('before the close: every contact held at the instant', () => {
    expect(openWorkByAgent(facts(), at('09:45:00'))).toEqual([
      {
        agentId: 'ann',
        open: 2,
        byChannel: { email: 1, chat: 1 },
        // x: 09:45 - 08:00 = 6,300 s old; held since 09:00: 2,700 s (y: 900 s).
        oldestInteractionId: 'x',
        oldestCreatedAt: at('08:00:00'),
        oldestAgeSeconds: 6300,
        longestHeldSeconds: 2700,
      },
      {
        agentId: 'bob',
        open: 1,
        byChannel: { email: 1 },
        // z: 09:45 - 09:05 = 2,400 s old; held since 09:10: 2,100 s.
        oldestInteractionId: 'z',
        oldestCreatedAt: at('09:05:00'),
        oldestAgeSeconds: 2400,
        longestHeldSeconds: 2100,
      },
    ]);
  });

  it('at and after the close, and after a transfer', () => {
    // At 10:00 y is closed (an event at the instant has happened by it): ann holds x only.
    const atClose = openWorkByAgent(facts(), at('10:00:00'));
    expect(atClose.map((w) => [w.agentId, w.open, w.longestHeldSeconds])).toEqual([
      ['ann', 1, 3600],
      ['bob', 1, 3000],
    ]);
    // At 10:30 z is ann's (taken 10:15: held 900 s); bob holds nothing and is left out. x is the oldest
    // (9,000 s) and the longest held (5,400 s).
    expect(openWorkByAgent(facts(), at('10:30:00'))).toEqual([
      {
        agentId: 'ann',
        open: 2,
        byChannel: { email: 2 },
        oldestInteractionId: 'x',
        oldestCreatedAt: at('08:00:00'),
        oldestAgeSeconds: 9000,
        longestHeldSeconds: 5400,
      },
    ]);
    // Before anything was taken: nobody.
    expect(openWorkByAgent(facts(), at('08:30:00'))).toEqual([]);
  });

  it('gives the same open work as the live metrics', () => {
    const metrics = log.metrics(at('09:00:00'), at('11:00:00'), at('09:45:00'));
    expect(metrics.byAgent.map((a) => [a.agentId, a.openContacts])).toEqual([
      ['ann', 2],
      ['bob', 1],
    ]);
    // Held in support at 09:45: x, y and z; none waits.
    expect(metrics.byQueue[0]).toMatchObject({ queue: 'support', heldNow: 3, waitingNow: 0 });
  });
});
