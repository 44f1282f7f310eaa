import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

// Row types as Postgres stores them (snake_case). They never leave src/db/: repositories map them to domain
// objects.

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export interface AgentsTable {
  id: Generated<string>;
  email: string;
  display_name: string;
  role: 'agent' | 'supervisor' | 'admin';
  password_hash: string;
  is_disabled: Generated<boolean>;
  /** E.164; calls reach the agent here instead of the console's softphone. */
  phone_number: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface AgentSkillsTable {
  agent_id: string;
  skill: string;
  level: number;
}

export interface AgentCapacitiesTable {
  agent_id: string;
  channel: string;
  capacity: number;
}

export interface AccountsTable {
  id: Generated<string>;
  name: string;
  tier: Generated<string>;
  owner_agent_id: string | null;
  created_at: CreatedAt;
}

export interface CustomersTable {
  id: Generated<string>;
  display_name: string | null;
  account_id: string | null;
  merged_into_id: string | null;
  duplicate_check_requested_at: Date | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface IdentitiesTable {
  id: Generated<string>;
  customer_id: string;
  kind: string;
  value: string;
  raw_value: string;
  created_at: CreatedAt;
}

export interface InteractionsTable {
  id: Generated<string>;
  ticket_number: ColumnType<string, never, never>;
  customer_id: string;
  channel: string;
  direction: string;
  status: Generated<string>;
  queue: string | null;
  priority: Generated<number>;
  assignee_id: string | null;
  external_id: string;
  thread_key: string | null;
  subject: string | null;
  created_at: CreatedAt;
  enqueued_at: Date | null;
  offered_at: Date | null;
  assigned_at: Date | null;
  first_response_at: Date | null;
  closed_at: Date | null;
  updated_at: UpdatedAt;
  queue_entered_at: Date | null;
  escalation_step: Generated<number>;
  relax_levels: Generated<number>;
  extra_queues: Generated<string[]>;
  closed_reason: string | null;
  disposition: string | null;
}

export interface InteractionEventsTable {
  id: ColumnType<string, never, never>;
  interaction_id: string;
  type: string;
  actor_type: 'customer' | 'agent' | 'system';
  actor_id: string | null;
  channel: string;
  external_id: string | null;
  payload: Json<Record<string, unknown>>;
  occurred_at: CreatedAt;
  recorded_at: CreatedAt;
}

export interface AttachmentsTable {
  id: Generated<string>;
  interaction_id: string;
  event_id: string | null;
  file_name: string;
  content_type: string;
  size_bytes: number;
  storage_key: string;
  sha256: string | null;
  created_at: CreatedAt;
}

/** The bytes of attachments the core keeps itself (web chat images), by their attachments row's storage key. */
export interface AttachmentContentsTable {
  storage_key: string;
  content: Buffer;
  created_at: CreatedAt;
}

/** Where each mailbox's ingest stands (IMAP UIDVALIDITY and the last UID committed to the log). */
export interface MailboxCursorsTable {
  mailbox: string;
  uid_validity: string;
  last_uid: string;
  updated_at: UpdatedAt;
}

/** Every email by Message-ID (ours and customers'), its interaction and participants, for threading. */
export interface EmailMessagesTable {
  id: Generated<string>;
  message_id: string;
  interaction_id: string;
  event_id: string | null;
  direction: 'inbound' | 'outbound';
  is_ours: boolean;
  participants: string[];
  created_at: CreatedAt;
}

export type VoiceCallState =
  'ivr' | 'queued' | 'callback-requested' | 'voicemail' | 'ringing' | 'bridged' | 'on-hold' | 'ended';

export interface VoiceCallsTable {
  call_sid: string;
  interaction_id: string;
  direction: 'inbound' | 'outbound';
  purpose: 'caller' | 'callback' | 'click-to-call';
  from_number: string;
  to_number: string;
  state: VoiceCallState;
  agent_id: string | null;
  callback_number: string | null;
  queued_at: Date | null;
  bridged_at: Date | null;
  ended_at: Date | null;
  duration_seconds: number | null;
  talk_seconds: number | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface FaxesTable {
  id: Generated<string>;
  provider: string;
  provider_fax_id: string;
  rank: number;
  outcome: 'received' | 'partial' | 'failed';
  from_number: string | null;
  to_number: string | null;
  station_id: string | null;
  page_count: number | null;
  error_code: string | null;
  error_message: string | null;
  media_url: string | null;
  original_key: string | null;
  original_name: string | null;
  original_type: string | null;
  reported_at: Date | null;
  details: Json<Record<string, unknown>>;
  logged_rank: Generated<number>;
  interaction_id: string | null;
  text: string | null;
  search: ColumnType<string, never, never>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface FaxReportsTable {
  provider: string;
  event_id: string;
  fax_id: string | null;
  created_at: CreatedAt;
}

export interface FaxSendsTable {
  message_event_id: string;
  interaction_id: string;
  provider: string;
  to_number: string;
  from_number: string;
  document_key: string;
  provider_fax_id: string | null;
  status: 'rendered' | 'sending' | 'delivered' | 'failed';
  page_count: number | null;
  error_message: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface ReportHoursTable {
  hour: Date;
  queue: string;
  channel: string;
  offered: number;
  transferred_in: number;
  offered_while_closed: number;
  answered: number;
  answered_within_threshold: number;
  answered_wait_seconds: number;
  abandoned: number;
  abandoned_within_threshold: number;
  short_abandoned: number;
  transferred_out: number;
  closed_while_waiting: number;
  self_served: number;
  handled: number;
  talk_seconds: number;
  wrap_up_seconds: number;
  first_responses: number;
  first_response_seconds: number;
  resolved: number;
  resolved_after_reopen: number;
  resolution_seconds: number;
}

export interface ReportIvrHoursTable {
  hour: Date;
  flow: string;
  ivr_calls: number;
  self_served: number;
  abandoned: number;
  to_agent: number;
  to_callback: number;
  to_voicemail: number;
  closed: number;
}

export interface ReportAgentHoursTable {
  hour: Date;
  agent_id: string;
  handled: number;
  talk_seconds: number;
  wrap_up_seconds: number;
  seconds_in: Json<Record<string, number>>;
}

export interface ReportRollupStateTable {
  id: Generated<number>;
  built_through: Date;
}

/** One service-level clock of an interaction (src/sla/README.md). */
export interface SlaClocksTable {
  interaction_id: string;
  metric: 'firstResponse' | 'nextResponse' | 'resolution';
  cycle: number;
  queue: string;
  channel: string;
  target_seconds: number;
  started_at: Date;
  warn_at: Date;
  due_at: Date;
  stopped_at: Date | null;
  stop_reason: string | null;
  warned_at: Date | null;
  breached_at: Date | null;
  updated_at: Generated<Date>;
}

export interface SlaSweepStateTable {
  id: Generated<number>;
  read_through: Date;
  rules_fingerprint: string | null;
}

export interface DuplicateSuggestionsTable {
  id: Generated<string>;
  customer_id: string;
  other_customer_id: string;
  score: number;
  reasons: Json<string[]>;
  status: Generated<'open' | 'merged' | 'dismissed'>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface IdentityMentionsTable {
  customer_id: string;
  kind: string;
  value: string;
  event_id: string;
}

export interface AuditLogTable {
  id: ColumnType<string, never, never>;
  actor_id: string | null;
  action: string;
  subject_type: string;
  subject_id: string;
  details: Json<Record<string, unknown>>;
  occurred_at: CreatedAt;
}

export interface AgentStatesTable {
  agent_id: string;
  state: Generated<'offline' | 'available' | 'away' | 'on_contact' | 'wrap_up'>;
  away_reason: string | null;
  state_since: Generated<Date>;
  idle_since: Generated<Date>;
  missed_in_a_row: Generated<number>;
  wrap_up_until: Date | null;
}

/** Written by a trigger on agent_states (see migrations/2026-11-23_routing_control.ts). */
export interface AgentStateHistoryTable {
  id: ColumnType<string, never, never>;
  agent_id: string;
  state: string;
  away_reason: string | null;
  at: CreatedAt;
}

export interface AgentLoadsTable {
  agent_id: string;
  channel: string;
  load: Generated<number>;
}

export interface OffersTable {
  id: Generated<string>;
  interaction_id: string;
  agent_id: string;
  channel: string;
  queue: string;
  strategy: string;
  reason: string;
  status: Generated<'offered' | 'accepted' | 'rejected' | 'expired' | 'cancelled'>;
  offered_at: Date;
  expires_at: Date;
  settled_at: Date | null;
  settle_reason: string | null;
  load_after: number;
  capacity: number;
}

export interface RoutingRotationsTable {
  queue: string;
  last_agent_id: string | null;
  updated_at: UpdatedAt;
}

/** Standard answers (migrations/2026-11-24_canned_replies.ts). */
export interface CannedRepliesTable {
  id: Generated<string>;
  title: string;
  body: string;
  shortcut: string | null;
  keywords: Generated<string[]>;
  channels: Generated<string[]>;
  is_visitor_suggestible: Generated<boolean>;
  created_by: string | null;
  updated_by: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  /** Generated: title, shortcut, keywords and body, lower-cased. */
  search_text: ColumnType<string, never, never>;
}

export interface Database {
  agents: AgentsTable;
  agent_skills: AgentSkillsTable;
  agent_capacities: AgentCapacitiesTable;
  accounts: AccountsTable;
  customers: CustomersTable;
  identities: IdentitiesTable;
  interactions: InteractionsTable;
  interaction_events: InteractionEventsTable;
  attachments: AttachmentsTable;
  attachment_contents: AttachmentContentsTable;
  duplicate_suggestions: DuplicateSuggestionsTable;
  identity_mentions: IdentityMentionsTable;
  audit_log: AuditLogTable;
  agent_states: AgentStatesTable;
  agent_state_history: AgentStateHistoryTable;
  agent_loads: AgentLoadsTable;
  offers: OffersTable;
  routing_rotations: RoutingRotationsTable;
  canned_replies: CannedRepliesTable;
  mailbox_cursors: MailboxCursorsTable;
  email_messages: EmailMessagesTable;
  voice_calls: VoiceCallsTable;
  faxes: FaxesTable;
  fax_reports: FaxReportsTable;
  fax_sends: FaxSendsTable;
  report_hours: ReportHoursTable;
  report_agent_hours: ReportAgentHoursTable;
  report_ivr_hours: ReportIvrHoursTable;
  report_rollup_state: ReportRollupStateTable;
  sla_clocks: SlaClocksTable;
  sla_sweep_state: SlaSweepStateTable;
}

export type AgentRow = Selectable<AgentsTable>;
export type CustomerRow = Selectable<CustomersTable>;
export type IdentityRow = Selectable<IdentitiesTable>;
export type InteractionRow = Selectable<InteractionsTable>;
export type OfferRow = Selectable<OffersTable>;
export type InteractionEventRow = Selectable<InteractionEventsTable>;
export type CannedReplyRow = Selectable<CannedRepliesTable>;
export type NewAuditEntry = Insertable<AuditLogTable>;
