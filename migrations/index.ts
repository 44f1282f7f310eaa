import type { Migration } from 'kysely';
import * as createCoreTables from './2026-11-22_create_core_tables.js';
import * as createRoutingTables from './2026-11-22_create_routing_tables.js';
import * as fasterIngest from './2026-11-23_faster_ingest.js';
import * as routingControl from './2026-11-23_routing_control.js';
import * as cannedReplies from './2026-11-24_canned_replies.js';
import * as fasterRouting from './2026-11-24_faster_routing.js';
import * as webchatAttachments from './2026-11-24_webchat_attachments.js';
import * as emailChannel from './2026-11-25_email_channel.js';
import * as phoneChannel from './2026-11-26_phone_channel.js';
import * as faxChannel from './2026-11-27_fax_channel.js';
import * as reportRollups from './2026-11-28_report_rollups.js';
import * as slaPolicies from './2026-11-29_sla_policies.js';
import * as reportFigures from './2026-11-30_report_figures.js';

/*
 * Every migration, by name, in the order they apply. A new migration is a new file plus one line here;
 * an applied migration is never edited. (An explicit list rather than a folder scan: it works the same
 * under tsx, vitest and a compiled build.)
 */
export const migrations: Record<string, Migration> = {
  '2026-11-22_create_core_tables': createCoreTables,
  '2026-11-22_create_routing_tables': createRoutingTables,
  '2026-11-23_faster_ingest': fasterIngest,
  '2026-11-23_routing_control': routingControl,
  '2026-11-24_canned_replies': cannedReplies,
  '2026-11-24_faster_routing': fasterRouting,
  '2026-11-24_webchat_attachments': webchatAttachments,
  '2026-11-25_email_channel': emailChannel,
  '2026-11-26_phone_channel': phoneChannel,
  '2026-11-27_fax_channel': faxChannel,
  '2026-11-28_report_rollups': reportRollups,
  '2026-11-29_sla_policies': slaPolicies,
  '2026-11-30_report_figures': reportFigures,
};
