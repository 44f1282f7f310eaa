/*
 * The REST API as the console uses it: JSON in and out, the session cookie sent by the browser, errors
 * thrown as ApiError with the server's code and message ({error: {code, message}}).
 */

export interface Agent {
  id: string;
  email: string;
  displayName: string;
  role: 'agent' | 'supervisor' | 'admin';
}

export type AgentState = 'offline' | 'available' | 'away' | 'on_contact' | 'wrap_up';

export interface AgentStatus {
  agentId: string;
  state: AgentState;
  awayReason: string | null;
  stateSince: string;
}

export interface Offer {
  id: string;
  interactionId: string;
  channel: string;
  queue: string;
  reason: string;
  expiresAt: string;
}

export interface WorkItem {
  interactionId: string;
  ticketNumber: number;
  channel: string;
  queue: string | null;
  priority: number;
  subject: string | null;
  customerId: string;
  customerName: string | null;
  createdAt: string;
  assignedAt: string | null;
  lastActivityAt: string;
}

export interface Interaction {
  id: string;
  ticketNumber: number;
  customerId: string;
  channel: string;
  status: string;
  queue: string | null;
  priority: number;
  assigneeId: string | null;
  subject: string | null;
  createdAt: string;
  closedAt: string | null;
}

export interface LoggedEvent {
  id: string;
  interactionId: string;
  type: string;
  actorType: string;
  actorId: string | null;
  channel: string;
  payload: Record<string, unknown>;
  occurredAt: string;
}

export interface Identity {
  id: string;
  kind: string;
  value: string;
}

export interface Customer {
  id: string;
  displayName: string | null;
  mergedIntoId: string | null;
  identities: Identity[];
  account: { id: string; name: string; tier: string; ownerName: string | null } | null;
}

export interface Queue {
  name: string;
}

export interface CustomerSummary {
  id: string;
  displayName: string | null;
  identities: Identity[];
}

/** An open duplicate suggestion on a customer's profile, naming the other customer. */
export interface DuplicateSuggestion {
  id: string;
  score: number;
  reasons: { code: string; detail: string }[];
  otherCustomer: CustomerSummary;
}

export interface TimelinePage {
  /** Newest first. */
  events: LoggedEvent[];
  /** Older events: pass back as `cursor`; null when there are none. */
  nextCursor: string | null;
}

export type TransferRefusalCode = 'AGENT_NOT_WORKING' | 'AGENT_NOT_ELIGIBLE' | 'AGENT_AT_CAPACITY';

/** A colleague in the transfer picker: state, load on the interaction's channel, and why not (if not). */
export interface TransferTarget {
  agentId: string;
  displayName: string;
  state: AgentState;
  awayReason: string | null;
  load: number;
  capacity: number;
  refusal: { code: TransferRefusalCode; reason: string } | null;
}

export interface Disposition {
  code: string;
  label: string;
}

export interface RoutingOffer {
  id: string;
  agentId: string;
  queue: string;
  strategy: string;
  reason: string;
  status: string;
  offeredAt: string;
}

export type ChannelName = 'voice' | 'email' | 'chat' | 'fax';

/** A standard answer (canned reply), placeholders as written. */
export interface CannedReply {
  id: string;
  title: string;
  body: string;
  shortcut: string | null;
  keywords: string[];
  /** Empty: every channel. */
  channels: ChannelName[];
  isVisitorSuggestible: boolean;
  updatedAt: string;
}

export type CannedReplyFields = Pick<
  CannedReply,
  'title' | 'body' | 'shortcut' | 'keywords' | 'channels' | 'isVisitorSuggestible'
>;

export interface RenderedReply {
  reply: { id: string; title: string };
  text: string;
  /** Placeholders left as written (`{{customer.name}}`): the agent fills them in. */
  unresolved: string[];
}

/** A file uploaded for a reply not yet sent (email): name its `id` in the reply's `attachmentIds`. */
export interface UploadedFile {
  id: string;
  fileName: string;
  contentType: string;
  sizeBytes: number;
}

/** What a reply carries besides its text, where its channel does (email). */
export interface ReplyExtras {
  cc?: string[];
  attachmentIds?: string[];
  /** Send by email instead (a web chat visitor who left a message and is gone). */
  via?: 'email';
}

/** Where a call leg stands (the phone channel's voice_calls.state). */
export type CallLegState =
  'ivr' | 'queued' | 'callback-requested' | 'voicemail' | 'ringing' | 'bridged' | 'on-hold' | 'ended';

/** One leg of a call contact: the caller's, or a callback or click-to-call we placed. */
export interface CallLeg {
  callSid: string;
  purpose: 'caller' | 'callback' | 'click-to-call';
  direction: 'inbound' | 'outbound';
  state: CallLegState;
  agentId: string | null;
  fromNumber: string;
  toNumber: string;
}

/** A fax whose text matched a search (`GET /api/faxes/search`); `snippet` is plain text around the matches. */
export interface FaxSearchResult {
  interactionId: string;
  ticketNumber: number;
  customerId: string;
  customerName: string | null;
  /** The sender's number (E.164, or as the provider wrote it); null when withheld. */
  from: string | null;
  /** The sending machine's station id (TSI). */
  stationId: string | null;
  receivedAt: string;
  pageCount: number | null;
  /** The interaction's status (new, queued, assigned, closed...). */
  status: string;
  snippet: string;
}

/** The softphone's access token; `identity` is the client name calls are dialled to. */
export interface PhoneToken {
  token: string;
  identity: string;
  expiresAt: string;
}

/** A target of a supervisor's assign: an agent, or a queue (the contact waits there again). */
export type AssignTarget = { agentId: string } | { queue: string };

/**
 * A contact waiting in a queue, for the supervisor's assign and move. The server has no such list yet
 * (`GET /api/queues/:queue/waiting` is what the dashboard asks for; a 404 means it is not there).
 */
export interface WaitingContact {
  interactionId: string;
  ticketNumber: number;
  channel: ChannelName;
  customerName: string | null;
  subject: string | null;
  queuedAt: string;
}

export type SlaMetric = 'firstResponse' | 'nextResponse' | 'resolution';

/**
 * How a clock stands: running (before its warning), warning, breached (running past due); stopped: met (in
 * time), missed (late), cancelled (a response clock stopped by a close before it fell due).
 */
export type SlaStatus = 'running' | 'warning' | 'breached' | 'met' | 'missed' | 'cancelled';

/**
 * One of an interaction's service-level clocks (`GET /api/interactions/:id/sla`). `warnAt` and `dueAt` are
 * wall-clock instants (business hours already counted): the console counts down to them.
 */
export interface SlaClock {
  metric: SlaMetric;
  /** "first response", "next response #2", "resolution". */
  label: string;
  cycle: number;
  queue: string;
  targetSeconds: number;
  startedAt: string;
  warnAt: string;
  dueAt: string;
  stoppedAt: string | null;
  /** As of `asOf`, the server's clock. */
  status: SlaStatus;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function request<T>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data: unknown = text ? JSON.parse(text) : {};
  if (!response.ok) {
    const error = (data as { error?: { code?: string; message?: string } }).error;
    throw new ApiError(response.status, error?.code ?? 'HTTP_ERROR', error?.message ?? response.statusText);
  }
  return data as T;
}

const id = encodeURIComponent;

function apiErrorOf(status: number, statusText: string, body: string): ApiError {
  let error: { code?: string; message?: string } | undefined;
  try {
    error = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  return new ApiError(
    status,
    error?.code ?? 'HTTP_ERROR',
    error?.message ?? (statusText || `HTTP ${status}`),
  );
}

export interface Upload {
  done: Promise<UploadedFile>;
  /** Stops the upload; `done` rejects with code ABORTED. */
  abort: () => void;
}

/**
 * Uploads one file for a reply (`POST /api/interactions/:id/attachments`, multipart, the part named
 * `file`). XMLHttpRequest rather than fetch: fetch reports no upload progress, and a 25 MB file takes a
 * while. Same origin, so the browser sends the session cookie and the Origin the server checks.
 */
function uploadAttachment(
  interactionId: string,
  file: File,
  onProgress?: (fraction: number) => void,
): Upload {
  const xhr = new XMLHttpRequest();
  const done = new Promise<UploadedFile>((resolve, reject) => {
    xhr.open('POST', `/api/interactions/${id(interactionId)}/attachments`);
    xhr.withCredentials = true;
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress?.(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as UploadedFile);
        } catch {
          reject(new ApiError(xhr.status, 'HTTP_ERROR', 'The server answered the upload with no file.'));
        }
      } else reject(apiErrorOf(xhr.status, xhr.statusText, xhr.responseText));
    };
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK_ERROR', 'The upload failed: no connection.'));
    xhr.onabort = () => reject(new ApiError(0, 'ABORTED', 'Upload cancelled.'));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

export const api = {
  login: (email: string, password: string) =>
    request<{ agent: Agent }>('POST', '/api/auth/login', { email, password }),
  logout: () => request<unknown>('POST', '/api/auth/logout', {}),
  me: () => request<{ agent: Agent }>('GET', '/api/auth/me'),
  status: () => request<{ status: AgentStatus; offers: Offer[] }>('GET', '/api/me/status'),
  setState: (state: 'available' | 'away' | 'offline', reason?: string) =>
    request<unknown>('POST', '/api/me/state', reason ? { state, reason } : { state }),
  ready: () => request<unknown>('POST', '/api/me/ready', {}),
  worklist: () => request<{ items: WorkItem[] }>('GET', '/api/me/worklist'),
  accept: (offerId: string) => request<unknown>('POST', `/api/offers/${id(offerId)}/accept`, {}),
  reject: (offerId: string, reason?: string) =>
    request<unknown>('POST', `/api/offers/${id(offerId)}/reject`, reason ? { reason } : {}),
  interaction: (interactionId: string) =>
    request<{ interaction: Interaction; events: LoggedEvent[] }>(
      'GET',
      `/api/interactions/${id(interactionId)}`,
    ),
  customer: (customerId: string) =>
    request<{ customer: Customer; interactions: Interaction[] }>('GET', `/api/customers/${id(customerId)}`),
  searchCustomers: (q: string, limit = 10) =>
    request<{ customers: CustomerSummary[] }>(
      'GET',
      `/api/customers?${new URLSearchParams({ q, limit: String(limit) })}`,
    ),
  /** Faxes by the words on their pages (OCR or the PDF's text); `terms` are the words searched, lower-case. */
  searchFaxes: (q: string, limit = 20) =>
    request<{ results: FaxSearchResult[]; terms: string[] }>(
      'GET',
      `/api/faxes/search?${new URLSearchParams({ q, limit: String(limit) })}`,
    ),
  customerTimeline: (customerId: string, cursor?: string, limit = 50) =>
    request<TimelinePage>(
      'GET',
      `/api/customers/${id(customerId)}/timeline?${new URLSearchParams({ limit: String(limit), ...(cursor && { cursor }) })}`,
    ),
  duplicateSuggestions: (customerId: string) =>
    request<{ suggestions: DuplicateSuggestion[] }>(
      'GET',
      `/api/customers/${id(customerId)}/duplicate-suggestions`,
    ),
  /** The interaction's SLA clocks, each with its status at `asOf` (the server's now). */
  slaClocks: (interactionId: string) =>
    request<{ asOf: string; clocks: SlaClock[] }>('GET', `/api/interactions/${id(interactionId)}/sla`),
  transferTargets: (interactionId: string) =>
    request<{ channel: string; queue: string | null; agents: TransferTarget[] }>(
      'GET',
      `/api/interactions/${id(interactionId)}/transfer-targets`,
    ),
  dispositions: (interactionId: string) =>
    request<{ queue: string | null; isRequired: boolean; dispositions: Disposition[] }>(
      'GET',
      `/api/interactions/${id(interactionId)}/dispositions`,
    ),
  routing: (interactionId: string) =>
    request<{ decisions: LoggedEvent[]; offers: RoutingOffer[] }>(
      'GET',
      `/api/interactions/${id(interactionId)}/routing`,
    ),
  /** Cc and files only where the channel carries them (email); the server refuses them elsewhere. */
  reply: (interactionId: string, text: string, extras: ReplyExtras = {}) =>
    request<{ event: LoggedEvent }>('POST', `/api/interactions/${id(interactionId)}/messages`, {
      text,
      ...(extras.cc?.length && { cc: extras.cc }),
      ...(extras.attachmentIds?.length && { attachmentIds: extras.attachmentIds }),
      ...(extras.via && { via: extras.via }),
    }),
  uploadAttachment,
  note: (interactionId: string, text: string) =>
    request<{ event: LoggedEvent }>('POST', `/api/interactions/${id(interactionId)}/notes`, { text }),
  /** Without a code when none is configured; the server refuses a missing or unknown one when it is. */
  close: (interactionId: string, disposition: string | null) =>
    request<unknown>(
      'POST',
      `/api/interactions/${id(interactionId)}/close`,
      disposition ? { disposition } : {},
    ),
  transfer: (interactionId: string, target: { queue: string } | { agentId: string }, note?: string) =>
    request<unknown>(
      'POST',
      `/api/interactions/${id(interactionId)}/transfer`,
      note ? { ...target, note } : target,
    ),
  queues: () => request<{ queues: Queue[] }>('GET', '/api/routing/rules'),
  /** Supervisors: give a contact to an agent or move it to another queue. */
  assign: (interactionId: string, target: AssignTarget, note?: string) =>
    request<unknown>(
      'POST',
      `/api/interactions/${id(interactionId)}/assign`,
      note ? { ...target, note } : target,
    ),
  /** Supervisors: set an agent's state (away needs a reason). */
  setAgentState: (agentId: string, state: 'available' | 'away' | 'offline', reason?: string) =>
    request<unknown>('POST', `/api/agents/${id(agentId)}/state`, reason ? { state, reason } : { state }),
  /** Supervisors: the contacts waiting in a queue, oldest first (see WaitingContact). */
  waitingContacts: (queue: string) =>
    request<{ contacts: WaitingContact[] }>('GET', `/api/queues/${id(queue)}/waiting`),
  cannedReplies: (q: string, channel?: string, limit = 20) =>
    request<{ replies: CannedReply[] }>(
      'GET',
      `/api/canned-replies?${new URLSearchParams({ q, limit: String(limit), ...(channel && { channel }) })}`,
    ),
  renderCannedReply: (interactionId: string, replyId: string) =>
    request<RenderedReply>(
      'GET',
      `/api/interactions/${id(interactionId)}/canned-replies/${id(replyId)}/render`,
    ),
  createCannedReply: (fields: CannedReplyFields) =>
    request<{ reply: CannedReply }>('POST', '/api/canned-replies', fields),
  updateCannedReply: (replyId: string, fields: Partial<CannedReplyFields>) =>
    request<{ reply: CannedReply }>('PATCH', `/api/canned-replies/${id(replyId)}`, fields),
  deleteCannedReply: (replyId: string) => request<unknown>('DELETE', `/api/canned-replies/${id(replyId)}`),
  /** 503 PHONE_CHANNEL_OFF when the server has no Twilio keys. */
  phoneToken: () => request<PhoneToken>('GET', '/api/phone/token'),
  /** The call contact's legs, oldest first. */
  callLegs: (interactionId: string) =>
    request<{ legs: CallLeg[] }>('GET', `/api/phone/calls/${id(interactionId)}`),
  /** 409 NO_LIVE_CALL when the contact has no call of this agent in progress. */
  holdCall: (interactionId: string, isOnHold: boolean) =>
    request<{ isOnHold: boolean }>('POST', `/api/phone/calls/${id(interactionId)}/hold`, { isOnHold }),
  /** Calls reach the agent on the softphone (null) or on their own phone (normalized by the server). */
  setPhoneDevice: (phoneNumber: string | null) =>
    request<{ phoneNumber: string | null }>('PUT', '/api/phone/device', { phoneNumber }),
};
