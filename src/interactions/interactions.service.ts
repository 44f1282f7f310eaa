import type { Agent } from '../db/repositories/agents.repository.js';
import type {
  Interaction,
  InteractionsRepository,
  LoggedEvent,
} from '../db/repositories/interactions.repository.js';
import { AppError } from '../errors.js';
import type { DomainEvents } from '../events.js';

export function createInteractionsService(deps: {
  interactions: InteractionsRepository;
  events: DomainEvents;
}) {
  async function get(id: string): Promise<Interaction> {
    const interaction = await deps.interactions.findById(id);
    if (!interaction) throw new AppError('INTERACTION_NOT_FOUND');
    return interaction;
  }

  return {
    /** The interaction alone (no events): what most checks need. */
    get,

    async detail(id: string): Promise<{ interaction: Interaction; events: LoggedEvent[] }> {
      const interaction = await get(id);
      return { interaction, events: await deps.interactions.eventsOf(id) };
    },

    /** An internal note: in the log, never sent to the customer. */
    async addNote(id: string, text: string, agent: Agent): Promise<LoggedEvent> {
      const interaction = await get(id);
      const event = await deps.interactions.appendEvent({
        interactionId: id,
        type: 'note.added',
        actorType: 'agent',
        actorId: agent.id,
        channel: interaction.channel,
        payload: { text, agentId: agent.id },
      });
      deps.events.publish('note.added', { interactionId: id, eventId: event.id, agentId: agent.id });
      return event;
    },
  };
}

export type InteractionsService = ReturnType<typeof createInteractionsService>;
