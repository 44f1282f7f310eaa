import { describe, expect, it } from 'vitest';
import { transferRefusalOf } from '../../src/interactions/transfer.service.js';
import type { Candidate, RoutableContact } from '../../src/routing/routing.types.js';

/*
 * Whether a colleague can take a transferred interaction, as a table: the lasting reason is named first
 * (not working, then not eligible), then being full for now (at capacity, or on a call).
 */

const chatForBilling: RoutableContact = {
  interactionId: 'i1',
  queueId: 'billing',
  channel: 'chat',
  requiredSkills: [{ skill: 'billing', minLevel: 2 }],
  customerId: 'c1',
  accountOwnerId: null,
  recentAgents: [],
  priority: 0,
  enqueuedAtMs: 0,
};

const colleague = (overrides: Partial<Candidate> = {}): Candidate => ({
  agentId: 'a1',
  state: 'available',
  skills: { billing: 3 },
  load: {},
  capacity: { voice: 1, chat: 3, email: 5, fax: 5 },
  idleSinceMs: 0,
  ...overrides,
});

describe('transferRefusalOf', () => {
  it.each([
    ['available, skilled, with room', colleague(), null, null],
    ['on a contact with room', colleague({ state: 'on_contact', load: { chat: 2 } }), null, null],
    [
      'away, with the reason',
      colleague({ state: 'away' }),
      'Lunch',
      { code: 'AGENT_NOT_WORKING', reason: 'is away (Lunch)' },
    ],
    ['offline', colleague({ state: 'offline' }), null, { code: 'AGENT_NOT_WORKING', reason: 'is offline' }],
    [
      'in wrap-up',
      colleague({ state: 'wrap_up' }),
      null,
      { code: 'AGENT_NOT_WORKING', reason: 'is in wrap-up' },
    ],
    [
      'away and unskilled: not working is named first',
      colleague({ state: 'away', skills: {} }),
      null,
      { code: 'AGENT_NOT_WORKING', reason: 'is away' },
    ],
    [
      'missing the skill',
      colleague({ skills: {} }),
      null,
      { code: 'AGENT_NOT_ELIGIBLE', reason: 'lacks skill billing' },
    ],
    [
      'below the level',
      colleague({ skills: { billing: 1 } }),
      null,
      { code: 'AGENT_NOT_ELIGIBLE', reason: 'has billing at level 1, below the required 2' },
    ],
    [
      'taking no chats',
      colleague({ capacity: { chat: 0 } }),
      null,
      { code: 'AGENT_NOT_ELIGIBLE', reason: 'takes no chat contacts' },
    ],
    [
      'unskilled and full: not eligible is named first',
      colleague({ skills: {}, state: 'on_contact', load: { chat: 3 } }),
      null,
      { code: 'AGENT_NOT_ELIGIBLE', reason: 'lacks skill billing' },
    ],
    [
      'at chat capacity',
      colleague({ state: 'on_contact', load: { chat: 3 } }),
      null,
      { code: 'AGENT_AT_CAPACITY', reason: 'is at chat capacity (3/3)' },
    ],
    [
      'on a call',
      colleague({ state: 'on_contact', load: { voice: 1 } }),
      null,
      { code: 'AGENT_AT_CAPACITY', reason: 'is busy on voice, which takes nothing else meanwhile' },
    ],
  ])('%s', (_case, candidate, awayReason, expected) => {
    expect(transferRefusalOf(candidate, awayReason, chatForBilling)).toEqual(expected);
  });
});
