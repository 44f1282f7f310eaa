import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { CallSimulator, type Heard, type SentRequest } from './call-simulator.js';
import { TwilioApiDouble } from './twilio-api-double.js';

/*
 * `switchboard simulate-call`: one phone call to a running Switchboard without Twilio. The simulator plays
 * Twilio (signed webhooks, TwiML followed verb by verb) and the caller, either from a --script or from
 * commands typed at the prompt; the Twilio API double listens on --api-port so a server started with
 * TWILIO_API_BASE_URL=http://127.0.0.1:<port> can redirect, end and record the call. Every line of progress
 * goes to `out`. Exit code 0 when the call ran without a failed request or a TwiML problem, 1 otherwise,
 * 2 for usage errors.
 */

export const simulateCallHelp = `Usage: switchboard simulate-call [options]

Places a simulated phone call to a running Switchboard: the incoming webhook, then whatever the TwiML says.
Prints what the caller hears and every request sent; --script runs steps, otherwise type them at the prompt.

Options:
  --server <url>       where to send requests (default: PUBLIC_BASE_URL or http://127.0.0.1:3000)
  --public-url <url>   Switchboard's PUBLIC_BASE_URL, which signatures cover (default: PUBLIC_BASE_URL or --server)
  --from <number>      the caller (default +14155550100)
  --to <number>        the number called (default +18005550100)
  --token <token>      the auth token webhooks are signed with (default: TWILIO_AUTH_TOKEN)
  --account <sid>      the account SID (default: TWILIO_ACCOUNT_SID or a development SID)
  --api-port <port>    where the Twilio API double listens (default 3999; 0 for any free port)
  --script <steps>     steps separated by ';', e.g. "press 1; say billing; wait 10; hangup"
  -h, --help           this help

Steps:
  1..9, 0, *, #        press that key (several keys at once: press 123#)
  press <keys>         press keys at a <Gather>
  say <words>          speak at a <Gather input="speech">
  silence              let the <Gather> or <Record> time out
  record <s> [words]   leave a message of <s> seconds at a <Record>, transcribed as the words
  wait <seconds>       let time pass (in a queue, the wait document keeps looping)
  agent-hangup         the agent (the far end of a <Dial>) hangs up
  hangup               the caller hangs up
  help                 list the steps
`;

const developmentAccountSid = 'AC' + '0'.repeat(32);

export type ScriptStep =
  | { kind: 'press'; digits: string }
  | { kind: 'say'; text: string }
  | { kind: 'silence' }
  | { kind: 'record'; seconds: number; transcript?: string }
  | { kind: 'wait'; seconds: number }
  | { kind: 'agent-hangup' }
  | { kind: 'hangup' }
  | { kind: 'help' };

/** A step that cannot be read; the message says which and why. */
export class ScriptError extends Error {
  override name = 'ScriptError';
}

function seconds(word: string | undefined, step: string): number {
  const value = Number(word);
  if (word === undefined || !Number.isFinite(value) || value < 0) {
    throw new ScriptError(`"${step}": expected a number of seconds`);
  }
  return value;
}

/** One step, as typed at the prompt or written between two ';' of a script. */
export function parseStep(text: string): ScriptStep {
  const step = text.trim().replace(/\s+/g, ' ');
  if (/^[0-9*#]+$/.test(step)) return { kind: 'press', digits: step };
  const [command = '', ...rest] = step.split(' ');
  const argument = rest.join(' ');
  switch (command.toLowerCase()) {
    case 'press':
      if (!/^[0-9*#]+$/.test(argument))
        throw new ScriptError(`"${step}": press takes keys among 0-9, * and #`);
      return { kind: 'press', digits: argument };
    case 'say':
      if (argument === '') throw new ScriptError(`"${step}": say what?`);
      return { kind: 'say', text: argument };
    case 'silence':
      return { kind: 'silence' };
    case 'record': {
      const [length, ...words] = rest;
      const recording: ScriptStep = { kind: 'record', seconds: seconds(length, step) };
      if (words.length > 0) recording.transcript = words.join(' ');
      return recording;
    }
    case 'wait':
      return { kind: 'wait', seconds: seconds(rest[0], step) };
    case 'agent-hangup':
      return { kind: 'agent-hangup' };
    case 'hangup':
      return { kind: 'hangup' };
    case 'help':
      return { kind: 'help' };
    default:
      throw new ScriptError(`"${step}": unknown step (try help)`);
  }
}

/** A script's steps, separated by ';' or new lines; the first bad step fails the whole script. */
export function parseScript(script: string): ScriptStep[] {
  const parts = script.split(/[;\n]/).filter((part) => part.trim() !== '');
  return parts.map((part, index) => {
    try {
      return parseStep(part);
    } catch (error) {
      if (error instanceof ScriptError) throw new ScriptError(`step ${index + 1}: ${error.message}`);
      throw error;
    }
  });
}

function describeHeard(heard: Heard): string {
  const who = heard.leg === 'caller' ? 'caller hears' : 'agent hears';
  switch (heard.verb) {
    case 'Say': {
      const how = [heard.voice, heard.language].filter(Boolean).join(', ');
      return `${who}: "${heard.text}"${how ? ` (${how})` : ''}${heard.loop !== 1 ? ` ×${heard.loop || '∞'}` : ''}`;
    }
    case 'Play':
      return `${who}: ${heard.url ?? ''}${heard.digits ? ` tones ${heard.digits}` : ''}`.trimEnd();
    case 'Pause':
      return `${who}: ${heard.seconds} s of silence`;
  }
}

/** The parameters worth a glance for each kind of request. */
const shownParams = [
  'Digits',
  'SpeechResult',
  'QueuePosition',
  'QueueTime',
  'QueueResult',
  'DialCallStatus',
  'DialCallDuration',
  'RecordingDuration',
  'RecordingStatus',
  'TranscriptionText',
  'CallStatus',
  'CallDuration',
];

function describeRequest(request: SentRequest, publicUrl: string): string {
  const where = request.url.startsWith(publicUrl) ? request.url.slice(publicUrl.length) : request.url;
  const shown = shownParams
    .filter((name) => request.params[name] !== undefined)
    .map((name) => `${name}=${request.params[name]}`);
  return `${request.purpose}: ${request.method} ${where} ${shown.join(' ')} → ${request.status || 'no answer'}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runStep(sim: CallSimulator, step: ScriptStep, out: (line: string) => void): Promise<void> {
  switch (step.kind) {
    case 'press':
      return sim.press(step.digits);
    case 'say':
      return sim.say(step.text);
    case 'silence':
      return sim.silence();
    case 'record':
      return sim.record(
        step.transcript === undefined
          ? { seconds: step.seconds }
          : { seconds: step.seconds, transcript: step.transcript },
      );
    case 'wait':
      await sleep(step.seconds * 1000);
      return;
    case 'agent-hangup':
      return sim.agentHangsUp();
    case 'hangup':
      return sim.hangup();
    case 'help':
      out(simulateCallHelp.slice(simulateCallHelp.indexOf('Steps:')));
      return;
  }
}

async function interact(sim: CallSimulator, input: Readable, out: (line: string) => void): Promise<void> {
  const lines = createInterface({ input, terminal: false });
  out('type a step (help lists them); end of input hangs up');
  for await (const line of lines) {
    if (line.trim() === '') continue;
    try {
      await runStep(sim, parseStep(line), out);
    } catch (error) {
      out(error instanceof Error ? error.message : String(error));
    }
    if (sim.state === 'ended') break;
  }
  lines.close();
}

export interface SimulateCallIo {
  /** Where interactive steps are read from; default process.stdin. */
  input?: Readable;
  env?: NodeJS.ProcessEnv;
}

export async function runSimulateCall(
  argv: string[],
  out: (line: string) => void,
  io: SimulateCallIo = {},
): Promise<number> {
  const env = io.env ?? process.env;
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        server: { type: 'string' },
        'public-url': { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        token: { type: 'string' },
        account: { type: 'string' },
        'api-port': { type: 'string' },
        script: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    out(error instanceof Error ? error.message : String(error));
    out(simulateCallHelp);
    return 2;
  }
  if (values.help) {
    out(simulateCallHelp);
    return 0;
  }
  const server = values.server ?? env.PUBLIC_BASE_URL ?? 'http://127.0.0.1:3000';
  const publicUrl = (values['public-url'] ?? env.PUBLIC_BASE_URL ?? server).replace(/\/+$/, '');
  const authToken = values.token ?? env.TWILIO_AUTH_TOKEN;
  const accountSid = values.account ?? env.TWILIO_ACCOUNT_SID ?? developmentAccountSid;
  const apiPort = Number(values['api-port'] ?? '3999');
  if (!authToken) {
    out('an auth token is needed to sign webhooks: --token or TWILIO_AUTH_TOKEN');
    return 2;
  }
  if (!Number.isInteger(apiPort) || apiPort < 0 || apiPort > 65535) {
    out(`--api-port: "${values['api-port']}" is not a port`);
    return 2;
  }
  let steps: ScriptStep[] | undefined;
  try {
    steps = values.script === undefined ? undefined : parseScript(values.script);
  } catch (error) {
    out(error instanceof Error ? error.message : String(error));
    return 2;
  }

  let api: TwilioApiDouble;
  try {
    api = await TwilioApiDouble.start({ accountSid, authToken, port: apiPort });
  } catch (error) {
    out(
      `the Twilio API double cannot listen on port ${apiPort}: ${error instanceof Error ? error.message : String(error)}`,
    );
    return 1;
  }
  out(`Twilio API double on ${api.url} (start Switchboard with TWILIO_API_BASE_URL=${api.url})`);
  api.on('call.updated', ({ call, params }) => {
    out(`REST update of ${call.sid}: ${Object.keys(params).join(', ')}`);
  });

  const sim = new CallSimulator({
    serverUrl: server,
    publicBaseUrl: publicUrl,
    accountSid,
    authToken,
    api,
    ...(values.from !== undefined ? { from: values.from } : {}),
    ...(values.to !== undefined ? { to: values.to } : {}),
  });
  sim.on('request', (request) => out(describeRequest(request, publicUrl)));
  sim.on('heard', (heard) => out(describeHeard(heard)));
  sim.on('state', (state) => out(`call is ${state}`));
  sim.on('rest', (rest) => {
    if (rest === 'gather') out('waiting for the caller: press keys, say words or stay silent');
    if (rest === 'record') out('recording: record <seconds> [words], or silence');
    if (rest === 'bridge') out('connected: agent-hangup or hangup');
  });
  sim.on('problem', (problem) => out(`TwiML problem: ${problem}`));
  sim.on('failure', (failure) => out(`request failed: ${failure.status || 'no answer'} from ${failure.url}`));

  out(`calling ${sim.to} from ${sim.from} (CallSid ${sim.callSid}) via ${server}`);
  let failed = false;
  try {
    await sim.start();
    if (steps) {
      for (const step of steps) {
        if (sim.state === 'ended') break;
        await runStep(sim, step, out);
      }
    } else {
      await interact(sim, io.input ?? process.stdin, out);
    }
    if (sim.state !== 'ended') await sim.hangup();
  } catch (error) {
    failed = true;
    out(error instanceof Error ? error.message : String(error));
    if (sim.state !== 'ended') await sim.hangup().catch(() => undefined);
  } finally {
    await api.close();
  }
  out(
    `call ended ${sim.finalStatus ?? 'unknown'}: ${sim.problems.length} TwiML problem(s), ` +
      `${sim.errors.length} failed request(s)`,
  );
  return !failed && sim.problems.length === 0 && sim.errors.length === 0 ? 0 : 1;
}
