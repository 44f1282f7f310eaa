import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueContact, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * Wrap-up disposition codes from the routing rules, over HTTP on a real Postgres: the interaction's list (its
 * queue's own, else `options.dispositions`), a close refused with 400 without a code or with one the list
 * lacks (nothing changes), and taken with one from it (the code is logged). With no list anywhere, a close
 * takes any code, or none, as before.
 */

const withDispositions = `
queues:
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax] }
  - name: billing
    strategy: longest-idle
    channels: [voice, email, chat, fax]
    dispositions:
      - { code: refund-issued, label: Refund issued }
      - { code: resolved }
rules:
  - { name: billing, when: { keywords: invoice }, queue: billing, priority: 10 }
  - { name: default, queue: general, priority: 0 }
capacity:
  chat: { max: 20 }
options:
  offerTimeoutSeconds: 600
  dispositions:
    - { code: resolved, label: Resolved }
    - { code: spam, label: Spam }
`;

const withoutDispositions = `
queues:
  - { name: general, strategy: longest-idle, channels: [voice, email, chat, fax] }
  - { name: billing, strategy: longest-idle, channels: [voice, email, chat, fax] }
rules:
  - { name: billing, when: { keywords: invoice }, queue: billing, priority: 10 }
  - { name: default, queue: general, priority: 0 }
capacity:
  chat: { max: 20 }
`;

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;
let cookie: string;
let agentId: string;

beforeAll(async () => {
  rules = writeRulesFolder(withDispositions);
  ctx = await createTestContext({ config: { routingRulesDir: rules.dir, routeOnIngest: false } });
  ({ cookie, agentId } = await ctx.loginAs('agent'));
});

afterAll(async () => {
  await ctx?.close();
  rules?.remove();
});

/** A chat assigned to the test's agent, in billing when `text` says invoice, else in general. */
async function myChat(text: string): Promise<string> {
  const id = await queueContact(ctx.services, 'chat', `${text} ${randomBytes(3).toString('hex')}`);
  await ctx.services.routing.move(id, 'assign', { agentId, role: 'supervisor' }, { agentId }, null);
  return id;
}

const get = (url: string) => ctx.app.inject({ method: 'GET', url, headers: { cookie } });
const close = (id: string, payload: object) =>
  ctx.app.inject({ method: 'POST', url: `/api/interactions/${id}/close`, headers: { cookie }, payload });
const statusOf = async (id: string) => (await ctx.services.repositories.interactions.findById(id))?.status;

describe('GET /api/interactions/:id/dispositions', () => {
  it('serves the queue’s own list, else the default list, labels defaulting to the code', async () => {
    const general = await get(`/api/interactions/${await myChat('hello')}/dispositions`);
    expect(general.statusCode, general.body).toBe(200);
    expect(general.json()).toEqual({
      queue: 'general',
      isRequired: true,
      dispositions: [
        { code: 'resolved', label: 'Resolved' },
        { code: 'spam', label: 'Spam' },
      ],
    });
    const billing = await get(`/api/interactions/${await myChat('my invoice')}/dispositions`);
    expect(billing.json()).toEqual({
      queue: 'billing',
      isRequired: true,
      dispositions: [
        { code: 'refund-issued', label: 'Refund issued' },
        { code: 'resolved', label: 'resolved' },
      ],
    });
  });

  it('answers 404 for an unknown interaction', async () => {
    const response = await get('/api/interactions/00000000-0000-4000-8000-000000000000/dispositions');
    expect(response.statusCode).toBe(404);
  });
});

describe('POST /api/interactions/:id/close with configured codes', () => {
  it('requires a code: 400 DISPOSITION_REQUIRED, the interaction stays open', async () => {
    const id = await myChat('hello');
    const response = await close(id, {});
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      error: {
        code: 'DISPOSITION_REQUIRED',
        message: 'Choose a disposition code to close this contact: resolved, spam.',
        details: { dispositions: ['resolved', 'spam'] },
      },
    });
    expect(await statusOf(id)).toBe('assigned');
  });

  it('refuses a code the interaction’s list lacks: 400 UNKNOWN_DISPOSITION, naming the codes', async () => {
    const id = await myChat('hello');
    // refund-issued belongs to billing's list, not to the default one.
    const response = await close(id, { disposition: 'refund-issued' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      error: {
        code: 'UNKNOWN_DISPOSITION',
        message: "'refund-issued' is not a disposition code for this contact; choose one of: resolved, spam.",
      },
    });
    expect(await statusOf(id)).toBe('assigned');
  });

  it('closes with a code from the list and logs it', async () => {
    const id = await myChat('my invoice');
    const response = await close(id, { disposition: 'refund-issued' });
    expect(response.statusCode, response.body).toBe(204);
    expect(await statusOf(id)).toBe('closed');
    const { events } = await ctx.services.interactions.detail(id);
    expect(events.find((e) => e.type === 'interaction.closed')?.payload).toMatchObject({
      disposition: 'refund-issued',
    });
  });
});

describe('without codes in the rules', () => {
  it('serves an empty list, and a close takes any code or none', async () => {
    writeFileSync(join(rules.dir, 'rules.yaml'), withoutDispositions);
    expect((await ctx.services.routing.rules.load()).status).toBe('loaded');
    try {
      const first = await myChat('hello');
      expect((await get(`/api/interactions/${first}/dispositions`)).json()).toEqual({
        queue: 'general',
        isRequired: false,
        dispositions: [],
      });
      expect((await close(first, {})).statusCode).toBe(204);
      const second = await myChat('my invoice');
      expect((await close(second, { disposition: 'anything-goes' })).statusCode).toBe(204);
      expect(await statusOf(second)).toBe('closed');
    } finally {
      writeFileSync(join(rules.dir, 'rules.yaml'), withDispositions);
      await ctx.services.routing.rules.load();
    }
  });
});
