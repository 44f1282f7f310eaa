/*
 * The one error catalogue. Every failure the API reports has a code here, with its HTTP status; app.ts maps
 * AppError to responses in one place. Clients see `message` only for statuses below 500.
 */
export const errorCatalogue = {
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid.' },
  INVALID_CONTACT: { status: 400, message: 'The contact is not valid.' },
  INVALID_IDENTITY: { status: 400, message: 'The identity cannot be normalized.' },
  INVALID_CURSOR: { status: 400, message: 'The page cursor is not valid.' },
  DISPOSITION_REQUIRED: { status: 400, message: 'Choose a disposition code to close this contact.' },
  UNKNOWN_DISPOSITION: { status: 400, message: 'That disposition code is not configured for this contact.' },
  NOT_AUTHENTICATED: { status: 401, message: 'Log in first.' },
  INVALID_CREDENTIALS: { status: 401, message: 'Wrong email or password.' },
  FORBIDDEN: { status: 403, message: 'Your role does not allow this.' },
  WEBHOOK_SIGNATURE_INVALID: { status: 403, message: 'The webhook signature does not match.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  AGENT_NOT_FOUND: { status: 404, message: 'No such agent.' },
  CUSTOMER_NOT_FOUND: { status: 404, message: 'No such customer.' },
  INTERACTION_NOT_FOUND: { status: 404, message: 'No such interaction.' },
  SUGGESTION_NOT_FOUND: { status: 404, message: 'No such duplicate suggestion.' },
  MERGE_NOT_FOUND: { status: 404, message: 'No such merge.' },
  OFFER_NOT_FOUND: { status: 404, message: 'No such offer.' },
  OFFER_NOT_YOURS: { status: 403, message: 'That offer was made to another agent.' },
  OFFER_NOT_LIVE: { status: 409, message: 'That offer was already accepted, rejected or withdrawn.' },
  INVALID_AGENT_STATE: { status: 400, message: 'That agent state change is not allowed.' },
  AGENT_EMAIL_TAKEN: { status: 409, message: 'An agent with that email exists.' },
  QUEUE_NOT_FOUND: { status: 404, message: 'No such queue in the routing rules in force.' },
  INTERACTION_CLOSED: { status: 409, message: 'That interaction is closed.' },
  NOT_ASSIGNEE: { status: 403, message: 'That interaction is assigned to someone else.' },
  INTERACTION_NOT_WAITING: { status: 409, message: 'That contact is no longer waiting in a queue.' },
  AGENT_AT_CAPACITY: { status: 409, message: 'That agent cannot take another contact on this channel now.' },
  AGENT_NOT_WORKING: { status: 409, message: 'That agent is not available for work.' },
  AGENT_NOT_ELIGIBLE: { status: 409, message: 'That agent does not meet the requirements of this contact.' },
  NOT_ELIGIBLE: { status: 403, message: 'You do not meet the requirements of that contact.' },
  CHANNEL_CANNOT_SEND: { status: 409, message: 'This channel takes no written replies.' },
  NOT_IN_WRAP_UP: { status: 409, message: 'You are not in wrap-up.' },
  NO_LIVE_CALL: { status: 409, message: 'That contact has no call of yours in progress.' },
  RULES_REFUSED: { status: 422, message: 'The routing rules were refused; the rules in force stay.' },
  CUSTOMER_ALREADY_MERGED: { status: 409, message: 'That customer was merged into another.' },
  MERGE_SAME_CUSTOMER: { status: 409, message: 'A customer cannot be merged into itself.' },
  MERGE_ALREADY_UNDONE: { status: 409, message: 'That merge was already undone.' },
  MERGE_SUPERSEDED: { status: 409, message: 'A later merge moved these records; undo that first.' },
  CANNED_REPLY_NOT_FOUND: { status: 404, message: 'No such standard answer.' },
  ATTACHMENT_NOT_FOUND: { status: 404, message: 'No such attachment.' },
  CANNED_REPLY_SHORTCUT_TAKEN: { status: 409, message: 'Another standard answer has that shortcut.' },
  CANNED_REPLY_WRONG_CHANNEL: { status: 409, message: 'That standard answer is not for this channel.' },
  CANNED_REPLY_NOT_SUGGESTED: {
    status: 409,
    message: 'That standard answer was not offered on this conversation.',
  },
  UNKNOWN_PLACEHOLDER: { status: 400, message: 'The text names a placeholder that does not exist.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send JSON.' },
  ATTACHMENT_TYPE_NOT_ALLOWED: { status: 415, message: 'That kind of file cannot be sent here.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; try again shortly.' },
  LOGIN_LOCKED: {
    status: 429,
    message: 'Too many failed logins for this account; it is locked for a while. Try again later.',
  },
  LOGIN_THROTTLED: { status: 429, message: 'Too many failed logins from your address; try again later.' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'A backing service is unavailable; retry.' },
  ROUTING_RULES_UNAVAILABLE: { status: 503, message: 'No valid routing rules are loaded.' },
  PHONE_CHANNEL_OFF: { status: 503, message: 'The phone channel is not configured (TWILIO_AUTH_TOKEN).' },
  FAX_PROVIDER_OFF: { status: 503, message: "That fax provider's webhook secret is not configured." },
  FAX_PAYLOAD_INVALID: { status: 400, message: 'The fax report cannot be read.' },
  FAX_MEDIA_LINK_INVALID: { status: 404, message: 'That fax document link is not valid or has expired.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message ?? errorCatalogue[code].message);
    this.status = errorCatalogue[code].status;
  }
}

export const isAppError = (error: unknown): error is AppError => error instanceof AppError;
