import { describe, expect, it } from 'vitest';
import { pendingSuggestionsIn } from '../../src/answers/canned-replies.service.js';
import {
  firstNameOf,
  placeholderValues,
  placeholdersIn,
  renderPlaceholders,
  unknownPlaceholders,
} from '../../src/answers/placeholders.js';
import { matchReplies, wordsOf } from '../../src/answers/suggestion-matcher.js';

const values = placeholderValues({
  customerName: '  Ada  Lovelace ',
  agentName: 'Grace Hopper',
  ticketNumber: 1042,
});

describe('placeholders', () => {
  it('fills every placeholder of the catalogue, spaces inside the braces allowed', () => {
    const body =
      'Hi {{customer.firstName}} ({{ customer.name }}), this is {{agent.name}} / {{agent.firstName}} about {{ticket}}.';
    expect(renderPlaceholders(body, values)).toEqual({
      text: 'Hi Ada (Ada  Lovelace), this is Grace Hopper / Grace about #1042.',
      unresolved: [],
    });
  });

  it('leaves a placeholder without a value as written, and lists it once', () => {
    const none = placeholderValues({ customerName: null, agentName: '', ticketNumber: 7 });
    expect(
      renderPlaceholders('Dear {{customer.name}}, {{ customer.name }} {{agent.name}} {{ticket}}', none),
    ).toEqual({
      text: 'Dear {{customer.name}}, {{ customer.name }} {{agent.name}} #7',
      unresolved: ['{{customer.name}}', '{{agent.name}}'],
    });
  });

  it('leaves unknown placeholders visible and lists them', () => {
    expect(renderPlaceholders('{{order.id}} for {{customer.name}}', values)).toEqual({
      text: '{{order.id}} for Ada  Lovelace',
      unresolved: ['{{order.id}}'],
    });
  });

  it('inserts values literally: no second expansion, no replacement patterns', () => {
    const tricky = placeholderValues({
      customerName: "{{agent.name}} $& $1 $'",
      agentName: 'Grace',
      ticketNumber: 1,
    });
    expect(renderPlaceholders('{{customer.name}} / {{agent.name}}', tricky).text).toBe(
      "{{agent.name}} $& $1 $' / Grace",
    );
  });

  it('ignores what is not a placeholder', () => {
    const text = '{{}} {{ 1x }} {single} {{customer.name} }} {{{customer.firstName}}}';
    expect(placeholdersIn(text)).toEqual(['customer.firstName']);
    expect(renderPlaceholders(text, values).text).toBe('{{}} {{ 1x }} {single} {{customer.name} }} {Ada}');
  });

  it('names the unknown placeholders a text uses', () => {
    expect(unknownPlaceholders('{{ticket}} {{customer.nmae}} {{ foo }} {{customer.nmae}}')).toEqual([
      'customer.nmae',
      'foo',
    ]);
    expect(unknownPlaceholders('no placeholders')).toEqual([]);
  });

  it('takes the first word as the first name', () => {
    expect(firstNameOf('  Jean-Luc Picard')).toBe('Jean-Luc');
    expect(firstNameOf('   ')).toBeNull();
    expect(firstNameOf(null)).toBeNull();
  });
});

describe('matching a visitor message to suggestible replies', () => {
  const reply = (id: string, title: string, keywords: string[]) => ({ id, title, keywords });
  const replies = [
    reply('r1', 'Reset your password', ['password', 'reset password', 'login']),
    reply('r2', 'Refund policy', ['refund', 'money back']),
    reply('r3', 'Opening hours', ['hours', 'open']),
    reply('r4', 'TV setup', ['tv']),
  ];

  it('cuts text into lower-case words, accents kept', () => {
    expect(wordsOf('Héllo, WORLD! 42x—ok')).toEqual(['héllo', 'world', '42x', 'ok']);
  });

  it('ranks by the words of the keywords matched; phrases count more', () => {
    const matches = matchReplies('Hi! I need to RESET my password, the login fails', replies);
    expect(matches.map((m) => [m.reply.id, m.score, m.matched])).toEqual([['r1', 2, ['password', 'login']]]);
    const phrase = matchReplies('please reset password', replies);
    expect(phrase[0]).toMatchObject({ score: 3, matched: ['password', 'reset password'] });
  });

  it('matches a few letters of inflection on longer words, never inside short ones', () => {
    expect(matchReplies('Were my refunds sent?', replies).map((m) => m.reply.id)).toEqual(['r2']);
    expect(matchReplies('I was refunded', replies).map((m) => m.reply.id)).toEqual(['r2']);
    expect(matchReplies('refundability', replies)).toEqual([]);
    expect(matchReplies('my tvs', replies)).toEqual([]);
    expect(matchReplies('my TV is broken', replies).map((m) => m.reply.id)).toEqual(['r4']);
  });

  it('needs a phrase in a row', () => {
    expect(matchReplies('money? I want it back', replies)).toEqual([]);
    expect(matchReplies('I want my money back', replies).map((m) => m.matched)).toEqual([['money back']]);
  });

  it('keeps the best few, ties by title', () => {
    const matches = matchReplies('refund? open hours? password?', replies, 2);
    expect(matches.map((m) => m.reply.id)).toEqual(['r3', 'r2']);
    expect(matchReplies('', replies)).toEqual([]);
    expect(matchReplies('nothing relevant here', replies)).toEqual([]);
  });
});

describe('pending suggestions in a log', () => {
  const suggested = (id: string, replyId: string) => ({
    id,
    type: 'cannedReply.suggested',
    payload: { replies: [{ replyId, title: `T ${replyId}`, text: `X ${replyId}` }], matched: [] },
  });

  it('is the last offer nobody answered', () => {
    expect(pendingSuggestionsIn([])).toBeNull();
    expect(pendingSuggestionsIn([suggested('1', 'a')])).toEqual({
      eventId: '1',
      suggestions: [{ id: 'a', title: 'T a', text: 'X a' }],
    });
    const answered = { id: '2', type: 'cannedReply.declined', payload: {} };
    expect(pendingSuggestionsIn([suggested('1', 'a'), answered])).toBeNull();
    expect(pendingSuggestionsIn([suggested('1', 'a'), answered, suggested('3', 'b')])?.eventId).toBe('3');
  });
});
