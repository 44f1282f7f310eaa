import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulationRepository } from '../../src/db/repositories/simulation.repository.js';
import { RulesStore } from '../../src/routing/rules/rules.loader.js';
import type { RuleSet } from '../../src/routing/rules/rules.schema.js';
import type {
  ArrivalLine,
  ArrivalsLine,
  SimulationEvent,
} from '../../src/routing/simulate/arrivals.schema.js';
import { ArrivalsReader } from '../../src/routing/simulate/arrivals.schema.js';
import { exportArrivals } from '../../src/routing/simulate/export-arrivals.command.js';
import { replay } from '../../src/routing/simulate/simulation.engine.js';
import type { Channel } from '../../src/interactions/inbound-contact.js';
import { createAgent, createContact, writeRulesFolder } from '../support/routing-fixtures.js';
import { createTestContext, type TestContext } from '../support/test-context.js';

/*
 * From the log to a replay: real routing on Postgres makes some history (offers accepted and rejected, a
 * customer who gave up, agents going away), export-arrivals writes it, the file reads back without a bad line,
 * and the simulator replays it against the same rules. Then the two commands as a user runs them, as child
 * processes, and the shipped sample against the shipped rules.
 */

const execFileAsync = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

let ctx: TestContext;
let rules: ReturnType<typeof writeRulesFolder>;
let ruleSet: RuleSet;
let workDir: string;
/** Agents and interactions made in beforeAll, and who took what. */
const ids = {} as Record<
  'early' | 'a1' | 'a2' | 'chat' | 'chatAgent' | 'email' | 'rejectedBy' | 'acceptedBy' | 'call',
  string
>;
let windowStart: Date;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Ingests a contact and routes it as the live engine does (enqueue by the rules, then dispatch). */
async function arrive(channel: Channel, text: string): Promise<string> {
  const id = await createContact(ctx.services, channel, text);
  await ctx.services.routing.route(id);
  return id;
}

async function liveOfferOf(interactionId: string) {
  const offers = await ctx.services.repositories.routing.offersOf(interactionId);
  const live = offers.find((o) => o.status === 'offered');
  if (!live) throw new Error(`no live offer for ${interactionId}`);
  return live;
}

beforeAll(async () => {
  rules = writeRulesFolder();
  workDir = mkdtempSync(join(tmpdir(), 'switchboard-export-'));
  // Routing is driven by hand here (route, accept, reject, close), not by the ingest listener.
  ctx = await createTestContext({ config: { routingRulesDir: rules.dir, routeOnIngest: false } });
  const loaded = await new RulesStore(rules.dir).load();
  if (loaded.status === 'refused') throw new Error('test rules refused');
  ruleSet = loaded.rules;
  const routing = ctx.services.routing;
  const states = ctx.services.agentStates;

  // Agents as they were before the window: 'early' is available, then goes offline before it starts.
  ids.early = await createAgent(ctx.services, { name: 'early' });
  await states.setState(ids.early, 'available');
  await states.setState(ids.early, 'offline');
  ids.a1 = await createAgent(ctx.services, { name: 'a1', skills: { billing: 3 } });
  ids.a2 = await createAgent(ctx.services, { name: 'a2', skills: { billing: 2 }, capacity: { chat: 1 } });
  await states.setState(ids.a1, 'available');
  await pause(5);
  windowStart = new Date();
  await pause(5);
  await states.setState(ids.a2, 'available');

  // A chat, accepted by whoever the strategy picks (closed later).
  ids.chat = await arrive('chat', 'hello there');
  const chatOffer = await liveOfferOf(ids.chat);
  ids.chatAgent = chatOffer.agentId;
  await routing.offers.accept(chatOffer.id, chatOffer.agentId);

  // A billing email: the first pick rejects it, the other accepts.
  ids.email = await arrive('email', 'About my invoice');
  const first = await liveOfferOf(ids.email);
  ids.rejectedBy = first.agentId;
  await routing.offers.reject(first.id, first.agentId, 'not now');
  const second = await liveOfferOf(ids.email);
  ids.acceptedBy = second.agentId;
  await routing.offers.accept(second.id, second.agentId);

  // The chat ends (its agent may go to wrap-up, which the export writes as presence 'available').
  await pause(20);
  await routing.endContact(ids.chat, { actor: { type: 'agent', id: ids.chatAgent }, reason: 'agent closed' });

  // Everybody away: a call waits, and the caller hangs up.
  await states.setState(ids.a1, 'away', 'lunch');
  await states.setState(ids.a2, 'away', 'lunch');
  ids.call = await arrive('voice', 'hello');
  await pause(30);
  await routing.endContact(ids.call, { actor: { type: 'customer', id: null }, reason: 'caller hung up' });
  await states.setState(ids.a1, 'available');
}, 60_000);

afterAll(async () => {
  await ctx?.close();
  rules?.remove();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

async function exportLines(window: { from: Date | null; to: Date | null }) {
  const lines: ArrivalsLine[] = [];
  const progress: number[] = [];
  const counts = await exportArrivals(
    createSimulationRepository(ctx.services.db),
    window,
    async (line) => {
      lines.push(line);
    },
    { pageSize: 2, onProgress: ({ done, total }) => progress.push(Math.round((100 * done) / total)) },
  );
  return { lines, counts, progress };
}

/** Reads the lines back as the simulator does: every one must be accepted. */
function readBack(lines: readonly ArrivalsLine[]): SimulationEvent[] {
  const reader = new ArrivalsReader();
  return lines.map((line, i) => {
    const outcome = reader.read(JSON.stringify(line), i + 1);
    if (outcome.status !== 'event') throw new Error(`line ${i + 1} refused: ${JSON.stringify(outcome)}`);
    return outcome.event;
  });
}

describe('export-arrivals', () => {
  it('writes routed interactions with their facts, real offers and outcome, in time order', async () => {
    const { lines, counts, progress } = await exportLines({ from: null, to: null });
    expect(counts.arrivals).toBe(3);
    expect(progress.at(-1)).toBe(100);
    const times = lines.map((l) => Date.parse(l.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));

    const arrivals = new Map(
      lines.filter((l): l is ArrivalLine => l.type === 'arrival').map((l) => [l.interactionId, l]),
    );
    const chat = arrivals.get(ids.chat);
    expect(chat).toMatchObject({
      channel: 'chat',
      facts: { text: 'hello there' },
      offers: [{ agentId: ids.chatAgent, outcome: 'accepted' }],
      actual: { queue: 'general', agentId: ids.chatAgent, abandoned: false },
    });
    expect(chat!.handleSeconds).toBeGreaterThanOrEqual(0.02);
    expect(chat!.actual!.waitSeconds).toBeGreaterThanOrEqual(0);
    expect(chat!.patienceSeconds).toBeUndefined();

    const email = arrivals.get(ids.email);
    expect(email).toMatchObject({
      channel: 'email',
      facts: { text: 'About my invoice' },
      offers: [
        { agentId: ids.rejectedBy, outcome: 'rejected' },
        { agentId: ids.acceptedBy, outcome: 'accepted' },
      ],
      actual: { queue: 'billing', agentId: ids.acceptedBy, abandoned: false },
    });
    expect(email!.handleSeconds).toBeUndefined(); // Still open.

    const call = arrivals.get(ids.call);
    expect(call).toMatchObject({
      channel: 'voice',
      actual: { queue: 'general', waitSeconds: null, agentId: null, abandoned: true },
    });
    expect(call!.patienceSeconds).toBeGreaterThanOrEqual(0.03);
    expect(call!.offers).toBeUndefined();

    // Agents: presence only (on_contact and wrap_up are not written), skills and capacity on each agent's first
    // line. The first line is the state row made when the agent's state was first stored (offline).
    const agentLines = lines.filter((l) => l.type === 'agent');
    const of = (agentId: string) => agentLines.filter((l) => l.agentId === agentId).map((l) => l.state);
    expect(of(ids.a1)).toEqual(['offline', 'available', 'away', 'available']);
    expect(of(ids.a2)).toEqual(['offline', 'available', 'away']);
    expect(of(ids.early)).toEqual(['offline', 'available', 'offline']);
    expect(agentLines.find((l) => l.agentId === ids.a2)).toMatchObject({
      skills: { billing: 2 },
      capacity: { chat: 1 },
    });
    expect(agentLines.filter((l) => l.agentId === ids.a2 && 'skills' in l)).toHaveLength(1);

    expect(readBack(lines)).toHaveLength(lines.length);
  });

  it('with --from, opens with each agent’s state at that moment and leaves out what came before', async () => {
    const { lines } = await exportLines({ from: windowStart, to: null });
    const opening = lines.filter((l) => l.at === windowStart.toISOString());
    expect(opening).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          type: 'agent',
          agentId: ids.a1,
          state: 'available',
          skills: { billing: 3 },
        }),
        expect.objectContaining({ type: 'agent', agentId: ids.early, state: 'offline' }),
      ]),
    );
    expect(lines.filter((l) => l.type === 'agent' && l.agentId === ids.early)).toHaveLength(1);
    expect(lines.filter((l) => l.type === 'arrival')).toHaveLength(3);

    const { lines: none } = await exportLines({ from: new Date(Date.now() + 60_000), to: null });
    expect(none.filter((l) => l.type === 'arrival')).toEqual([]);
  });

  it('replays the export against the same rules', async () => {
    const { lines } = await exportLines({ from: null, to: null });
    const { report, contacts } = replay(ruleSet, readBack(lines), { answerSeconds: 0 });
    expect(report.input).toEqual({ arrivals: 3, agentEvents: lines.length - 3 });
    expect(report.difference).toMatchObject({ compared: 3, differentQueue: 0 });

    const byId = new Map(contacts.map((c) => [c.interactionId, c]));
    expect(byId.get(ids.chat)).toMatchObject({ queue: 'general', outcome: 'answered' });
    // The recorded reject is replayed: the same agent declines, the other takes it.
    expect(byId.get(ids.email)).toMatchObject({
      queue: 'billing',
      outcome: 'answered',
      agentId: ids.acceptedBy,
    });
    // Both agents were away while the caller waited: they leave again.
    expect(byId.get(ids.call)).toMatchObject({ queue: 'general', outcome: 'abandoned' });

    const general = report.queues.find((q) => q.queue === 'general');
    expect(general?.simulated).toMatchObject({ contacts: 2, answered: 1, abandoned: 1 });
    expect(general?.actual).toMatchObject({ contacts: 2, answered: 1, abandoned: 1, abandonment: 50 });
  });
});

// Each command starts a tsx process (a few seconds on a busy machine): a generous limit per test.
describe('the commands', { timeout: 120_000 }, () => {
  const env = () => ({
    ...process.env,
    DATABASE_URL: ctx.config.databaseUrl,
    REDIS_URL: ctx.config.redisUrl,
    DATABASE_SCHEMA: ctx.config.databaseSchema,
  });

  it('export-arrivals writes the file with progress on stderr; simulate replays it', async () => {
    const file = join(workDir, 'arrivals.ndjson');
    const exported = await execFileAsync(
      tsx,
      ['src/main.ts', 'export-arrivals', '--from', windowStart.toISOString(), '--out', file],
      { cwd: root, env: env() },
    );
    expect(exported.stdout).toBe('');
    expect(exported.stderr).toMatch(/export-arrivals: 3 arrivals, \d+ agent lines \(100%\)/);
    expect(exported.stderr).toMatch(/wrote 3 arrivals and \d+ agent lines to .*arrivals\.ndjson/);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(readBack(lines.map((l) => JSON.parse(l) as ArrivalsLine))).toHaveLength(lines.length);

    const simulated = await execFileAsync(
      tsx,
      [
        'src/main.ts',
        'simulate',
        '--rules',
        rules.dir,
        '--arrivals',
        file,
        '--json',
        '--answer-seconds',
        '0',
      ],
      { cwd: root, env: env() },
    );
    const report = JSON.parse(simulated.stdout) as { input: { arrivals: number }; skippedLines: unknown[] };
    expect(report.input.arrivals).toBe(3);
    expect(report.skippedLines).toEqual([]);
    expect(simulated.stderr).toContain(`simulated ${lines.length} of ${lines.length} events (100%)`);
  });

  it('export-arrivals refuses a bad window before touching the database', async () => {
    await expect(
      execFileAsync(tsx, ['src/main.ts', 'export-arrivals', '--from', 'last tuesday'], {
        cwd: root,
        env: env(),
      }),
    ).rejects.toMatchObject({ code: 1, stderr: /--from 'last tuesday' is not an ISO date-time/ });
  });

  it('simulate runs the shipped sample against the shipped rules', async () => {
    const { stdout, stderr } = await execFileAsync(
      tsx,
      [
        'src/main.ts',
        'simulate',
        '--rules',
        'routing-rules',
        '--arrivals',
        'src/routing/simulate/arrivals.sample.ndjson',
        '--progress-every',
        '20',
      ],
      { cwd: root, env: { ...process.env, DATABASE_URL: '', REDIS_URL: '' } },
    );
    expect(stderr).toMatch(
      /simulate: read 20 lines \(\d+% of src\/routing\/simulate\/arrivals\.sample\.ndjson\)/,
    );
    expect(stderr).toMatch(/simulate: read 71 lines \(100% of .*\): 71 events/);
    expect(stderr).toMatch(/simulate: simulated 40 of 71 events \(56%\)/);
    expect(stderr).toMatch(/simulate: simulated 71 of 71 events \(100%\) in [\d.]+s/);
    expect(stdout).toMatch(/^Simulated 62 arrivals and 9 agent events from 2026-11-17T12:45:00\.000Z/);
    for (const queue of [
      'billing (SL 30s)',
      'claims (SL 4h 00m)',
      'spanish (SL 20s)',
      'support (SL 20s)',
      'vip (SL 10s)',
    ])
      expect(stdout).toContain(queue);
    expect(stdout).toMatch(/^billing \(SL 30s\)\s+simulated\s+25\s+25\s+0\s+0\s/m);
    expect(stdout).toMatch(/^\s+real\s+25\s+21\s+3\s+0\s/m);
    expect(stdout).toMatch(/^ana\s+\d+\s+14\s/m);
    expect(stdout).toContain('Difference from what really happened');
    expect(stdout).toContain('62 arrivals carry the real outcome');
  });
});
