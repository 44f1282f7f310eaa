/*
 * Placeholders in standard answers: `{{name}}`, spaces inside the braces allowed (`{{ customer.name }}`).
 * Pure: no I/O. The catalogue below is closed: a reply naming any other placeholder is refused when it is
 * saved (UNKNOWN_PLACEHOLDER), so an unknown one can only reach rendering from rows written before a name
 * was retired. Rendering replaces each known placeholder that has a value; one without a value (a customer
 * with no name on record, no agent yet for a web chat visitor) or an unknown one stays in the text exactly
 * as written, and is listed in `unresolved`, for the agent to fill in before sending. Values are inserted
 * literally: a customer called "{{agent.name}}" is not expanded again.
 */

export const placeholderCatalogue = {
  'customer.name': "the customer's name as on record",
  'customer.firstName': "the first word of the customer's name",
  'agent.name': "the agent's display name",
  'agent.firstName': "the first word of the agent's display name",
  ticket: "the interaction's ticket token, as the console shows it (#1234)",
} as const;

export type PlaceholderName = keyof typeof placeholderCatalogue;
export type PlaceholderValues = Partial<Record<PlaceholderName, string | null>>;

const placeholderPattern = /\{\{\s*([A-Za-z][\w.-]*)\s*\}\}/g;

const isKnown = (name: string): name is PlaceholderName => Object.hasOwn(placeholderCatalogue, name);

/** The placeholder names a text uses, each once, in order of first use. */
export function placeholdersIn(text: string): string[] {
  return [...new Set(Array.from(text.matchAll(placeholderPattern), (m) => m[1]!))];
}

/** The names a text uses that are not in the catalogue. */
export function unknownPlaceholders(text: string): string[] {
  return placeholdersIn(text).filter((name) => !isKnown(name));
}

export interface Rendered {
  text: string;
  /** Placeholders left as written (no value, or unknown), as `{{name}}`, each once. */
  unresolved: string[];
}

export function renderPlaceholders(text: string, values: PlaceholderValues): Rendered {
  const unresolved = new Set<string>();
  const rendered = text.replace(placeholderPattern, (whole, name: string) => {
    const value = isKnown(name) ? values[name] : undefined;
    if (value === undefined || value === null || value === '') {
      unresolved.add(`{{${name}}}`);
      return whole;
    }
    return value;
  });
  return { text: rendered, unresolved: [...unresolved] };
}

/** The ticket token as the product shows it everywhere else (worklist, conversation header). */
export const ticketToken = (ticketNumber: number) => `#${ticketNumber}`;

export const firstNameOf = (name: string | null | undefined): string | null =>
  name?.trim().split(/\s+/u)[0] || null;

/** The values for one interaction: who the customer and the agent are, and the ticket. */
export function placeholderValues(context: {
  customerName: string | null | undefined;
  agentName: string | null | undefined;
  ticketNumber: number | null | undefined;
}): PlaceholderValues {
  const customerName = context.customerName?.trim() || null;
  const agentName = context.agentName?.trim() || null;
  return {
    'customer.name': customerName,
    'customer.firstName': firstNameOf(customerName),
    'agent.name': agentName,
    'agent.firstName': firstNameOf(agentName),
    ticket: context.ticketNumber == null ? null : ticketToken(context.ticketNumber),
  };
}
