/*
 * The raw event log as lines, one event a line, in the shape of a PBX queue log (Asterisk's queue_log), so
 * that tools that read queue logs read this too:
 *
 *   <epoch seconds.millis>|<interaction id>|<queue or NONE>|<agent id or NONE>|<EVENT>|<data1>|<data2>|...
 *
 * The queue-log verbs, with their data as queue-log readers expect it (seconds, whole):
 *   ENTERQUEUE      routed into a queue            channel|priority|rule
 *   RINGNOANSWER    an offer timed out             ring milliseconds|offer id
 *   CONNECT         an agent took it               hold (wait) seconds|offer id|ring seconds
 *   ABANDON         the customer left waiting      0|0|wait seconds
 *   COMPLETEAGENT   closed by the agent            hold seconds|talk seconds|disposition
 *   COMPLETECALLER  closed by the customer         hold seconds|talk seconds|disposition
 *   TRANSFER        assigned, transferred, pulled  to queue or agent|kind|from agent
 * Every other event is its type in capitals (`MESSAGE_RECEIVED`, `OFFER_CREATED`, `IVR_STEP`) with the actor
 * (`customer`, `agent:<id>`, `system`) as data1, and for offers the offer id. No customer content (message
 * text, subjects, numbers) is written: the file can leave the contact center.
 *
 * Pure and streaming: `EventLogLines` keeps, per interaction still open in the stream, its queue, when it was
 * queued and when it was answered (for the hold and talk figures), and forgets it at its close.
 */
import type { EventLogRow } from '../db/repositories/event-log.repository.js';

interface Open {
  queue: string | null;
  agentId: string | null;
  enqueuedAt: number | null;
  answeredAt: number | null;
  offeredAt: Map<string, number>;
}

/** A field as the format allows: no separators or line ends. */
const field = (value: unknown): string =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value).replace(/[|\r\n]/g, ' ')
    : '';

const seconds = (ms: number | null): string =>
  ms === null ? '' : String(Math.max(0, Math.round(ms / 1000)));

export class EventLogLines {
  readonly #open = new Map<string, Open>();

  /** The line for one event, in log order (without its line end). */
  line(event: EventLogRow): string {
    const at = event.occurredAt.getTime();
    let open = this.#open.get(event.interactionId);
    if (!open) {
      open = { queue: null, agentId: null, enqueuedAt: null, answeredAt: null, offeredAt: new Map() };
      this.#open.set(event.interactionId, open);
    }
    const p = event.payload;
    const text = (key: string) => (typeof p[key] === 'string' ? p[key] : null);
    let verb: string;
    let data: unknown[];
    switch (event.type) {
      case 'routing.queued':
        open.queue = text('queue');
        open.enqueuedAt = at;
        open.answeredAt = null;
        verb = 'ENTERQUEUE';
        data = [event.channel, p.priority, text('rule')];
        break;
      case 'offer.created':
        open.offeredAt.set(text('offerId') ?? '', at);
        verb = 'OFFER_CREATED';
        data = [actorOf(event), text('offerId')];
        return this.#join(at, event, open, text('agentId'), verb, data);
      case 'offer.expired': {
        const offeredAt = open.offeredAt.get(text('offerId') ?? '');
        verb = 'RINGNOANSWER';
        data = [offeredAt === undefined ? '' : at - offeredAt, text('offerId')];
        return this.#join(at, event, open, text('agentId'), verb, data);
      }
      case 'offer.accepted': {
        const offeredAt = open.offeredAt.get(text('offerId') ?? '');
        open.answeredAt = at;
        open.agentId = text('agentId');
        verb = 'CONNECT';
        data = [
          seconds(open.enqueuedAt === null ? null : at - open.enqueuedAt),
          text('offerId'),
          seconds(offeredAt === undefined ? null : at - offeredAt),
        ];
        break;
      }
      case 'routing.transferred': {
        const toQueue = text('toQueue');
        const toAgent = text('toAgentId');
        verb = 'TRANSFER';
        data = [toQueue ?? toAgent, text('kind'), text('fromAgentId')];
        const line = this.#join(at, event, open, text('fromAgentId') ?? open.agentId, verb, data);
        if (toQueue) {
          open.queue = toQueue;
          open.enqueuedAt = at;
          open.answeredAt = null;
        }
        if (toAgent) {
          open.agentId = toAgent;
          open.answeredAt = at;
        }
        return line;
      }
      case 'interaction.closed': {
        const hold = open.enqueuedAt === null ? null : (open.answeredAt ?? at) - open.enqueuedAt;
        if (p.wasWaiting === true) {
          verb = 'ABANDON';
          data = [0, 0, seconds(hold)];
        } else {
          verb = event.actorType === 'customer' ? 'COMPLETECALLER' : 'COMPLETEAGENT';
          data = [
            seconds(hold),
            seconds(open.answeredAt === null ? null : at - open.answeredAt),
            text('disposition'),
          ];
        }
        const line = this.#join(at, event, open, open.agentId, verb, data);
        this.#open.delete(event.interactionId);
        return line;
      }
      default:
        verb = event.type
          .replace(/([a-z])([A-Z])/g, '$1_$2')
          .replace(/\./g, '_')
          .toUpperCase();
        data = [actorOf(event)];
    }
    return this.#join(at, event, open, open.agentId, verb, data);
  }

  #join(at: number, event: EventLogRow, open: Open, agentId: string | null, verb: string, data: unknown[]) {
    const time = (at / 1000).toFixed(3);
    return [time, event.interactionId, open.queue ?? 'NONE', agentId ?? 'NONE', verb, ...data.map(field)]
      .map(field)
      .join('|');
  }
}

function actorOf(event: EventLogRow): string {
  return event.actorType === 'agent' && event.actorId ? `agent:${event.actorId}` : event.actorType;
}
