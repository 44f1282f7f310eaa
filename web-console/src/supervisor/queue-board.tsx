import { useState } from 'preact/hooks';
import type { BoardAlert, QueueBoardRow } from '../../../src/realtime/supervisor-events.js';
import { ContactMover } from './contact-mover.js';
import {
  alertKey,
  alertKindLabels,
  alertsByRow,
  figureDefinitions as defs,
  isWaitOverLimit,
  percent,
  seconds,
  tickingWait,
  type ReceivedBoard,
} from './figures.js';

/** A column header whose definition is its tooltip (and listed under the table). */
export function Th(props: { label: string; definition: string; isText?: boolean }) {
  const { label, definition } = props;
  return (
    <th scope="col" title={definition} class={props.isText ? 'text' : undefined}>
      <span class="defined">{label}</span>
    </th>
  );
}

/** The figures every queue and channel row shares, from waiting now to abandon rate. */
export function DayCells(props: {
  row: Pick<
    QueueBoardRow,
    | 'waitingNow'
    | 'longestWaitSeconds'
    | 'offered'
    | 'answered'
    | 'abandoned'
    | 'serviceLevel'
    | 'serviceLevelWithAbandons'
    | 'asaSeconds'
    | 'ahtSeconds'
    | 'abandonRate'
  > &
    Partial<Pick<QueueBoardRow, 'waitAlertSeconds' | 'slaBreached'>>;
  received: ReceivedBoard;
  now: number;
  /** The target to judge the service level by (queue rows only). */
  target?: number;
}) {
  const { row, target } = props;
  const isUnder = (ratio: number | null) => target !== undefined && ratio !== null && ratio < target;
  const wait = tickingWait(props.received, row.longestWaitSeconds, props.now);
  // Queue rows only: the wait past the queue's alert limit, and the contacts past an SLA due time.
  const isWaitLong = isWaitOverLimit(wait, row.waitAlertSeconds);
  const hasBreaches = (row.slaBreached ?? 0) > 0;
  return (
    <>
      <td class="big" data-figure="waitingNow">
        {row.waitingNow}
      </td>
      <td
        class={isWaitLong ? 'big over-limit' : 'big'}
        data-figure="longestWait"
        data-over-limit={row.waitAlertSeconds === undefined ? undefined : isWaitLong}
        title={
          row.waitAlertSeconds === undefined
            ? undefined
            : `Alert past ${seconds(row.waitAlertSeconds)}${isWaitLong ? ': over the limit' : ''}`
        }
      >
        {seconds(wait)}
      </td>
      {row.slaBreached !== undefined && (
        <td
          class={hasBreaches ? 'big sla-breached' : 'big'}
          data-figure="slaBreached"
          data-breached={hasBreaches}
        >
          {row.slaBreached}
        </td>
      )}
      <td data-figure="offered">{row.offered}</td>
      <td data-figure="answered">{row.answered}</td>
      <td data-figure="abandoned">{row.abandoned}</td>
      <td class={isUnder(row.serviceLevel) ? 'big under-target' : 'big'} data-figure="serviceLevel">
        {percent(row.serviceLevel)}
      </td>
      <td
        class={isUnder(row.serviceLevelWithAbandons) ? 'under-target' : undefined}
        data-figure="serviceLevelWithAbandons"
      >
        {percent(row.serviceLevelWithAbandons)}
      </td>
      <td data-figure="asa">{seconds(row.asaSeconds)}</td>
      <td data-figure="aht">{seconds(row.ahtSeconds)}</td>
      <td data-figure="abandonRate">{percent(row.abandonRate)}</td>
    </>
  );
}

/** The header row above the figures' headers: what is live now, what counts over today. */
const groupHeaders = (hasSla: boolean) => (
  <>
    <th scope="colgroup" colSpan={hasSla ? 3 : 2} class="group">
      Now
    </th>
    <th scope="colgroup" colSpan={8} class="group">
      Today
    </th>
  </>
);

/** The headers of DayCells' figures; `hasSla`: with the queue rows' SLA breached column. */
const headers = (hasSla: boolean) => (
  <>
    <Th label="Waiting" definition={defs.waitingNow} />
    <Th label="Longest wait" definition={defs.longestWait} />
    {hasSla && <Th label="SLA breached" definition={defs.slaBreached} />}
    <Th label="Offered" definition={defs.offered} />
    <Th label="Answered" definition={defs.answered} />
    <Th label="Abandoned" definition={defs.abandoned} />
    <Th label="Service level" definition={defs.serviceLevel} />
    <Th label="SL with abandons" definition={defs.serviceLevelWithAbandons} />
    <Th label="ASA" definition={defs.asa} />
    <Th label="AHT" definition={defs.aht} />
    <Th label="Abandon rate" definition={defs.abandonRate} />
  </>
);

/** For the channel board (no SLA column). */
export const dayGroupHeaders = groupHeaders(false);
export const dayHeaders = headers(false);

function Staffing({ staffing }: { staffing: QueueBoardRow['staffing'] }) {
  return (
    <>
      <td class="staffing first" data-figure="staffed">
        {staffing.staffed}
      </td>
      <td class="staffing state-available" data-figure="available">
        {staffing.available}
      </td>
      <td class="staffing" data-figure="onContact">
        {staffing.onContact}
      </td>
      <td class="staffing" data-figure="wrapUp">
        {staffing.wrapUp}
      </td>
      <td class="staffing state-away" data-figure="away">
        {staffing.away}
      </td>
    </>
  );
}

function AlertNotes({ alerts, columns }: { alerts: BoardAlert[] | undefined; columns: number }) {
  if (!alerts?.length) return null;
  return (
    <tr class="alert-note">
      <td colSpan={columns} data-testid="row-alert">
        {alerts.map((alert) => (
          <span
            key={alert.kind}
            class={`board-alert-inline ${alert.kind}`}
            title={alertKindLabels[alert.kind]}
          >
            ⚠ {alert.message}
          </span>
        ))}
      </td>
    </tr>
  );
}

const columns = 18;

/**
 * Queues as the wallboard's main table: one row per queue over all its channels, expandable into a row per
 * channel and the queue's waiting contacts (to assign or move). A row with an alert (service level under
 * target, a wait past the limit, contacts past an SLA due time) is highlighted and carries the alert's
 * message; the longest wait past the queue's limit and a non-zero SLA breached count are marked in their
 * cells.
 */
export function QueueBoard({ received, now }: { received: ReceivedBoard; now: number }) {
  const { board } = received;
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(new Set());
  const alerts = alertsByRow(board.alerts);
  const queueRows = board.queues.filter((row) => row.channel === null);
  const channelRowsOf = (queue: string) =>
    board.queues.filter((row) => row.queue === queue && row.channel !== null);
  const toggle = (queue: string) =>
    setExpanded((current) => {
      const next = new Set(current);
      if (!next.delete(queue)) next.add(queue);
      return next;
    });

  return (
    <section class="board-section" aria-labelledby="queues-heading">
      <h2 id="queues-heading">Queues</h2>
      <table class="board-table" data-testid="queue-board">
        <thead>
          <tr class="groups">
            <td />
            {groupHeaders(true)}
            <th scope="colgroup" colSpan={5} class="group">
              Staffing now
            </th>
            <td />
          </tr>
          <tr>
            <th scope="col">Queue</th>
            {headers(true)}
            <Th label="Staffed" definition={defs.staffed} />
            <Th label="Avail." definition={defs.available} />
            <Th label="On contact" definition={defs.onContact} />
            <Th label="Wrap-up" definition={defs.wrapUp} />
            <Th label="Away" definition={defs.away} />
            <th scope="col">Target</th>
          </tr>
        </thead>
        {queueRows.length === 0 && (
          <tbody>
            <tr>
              <td colSpan={columns} class="muted">
                No queues on the board.
              </td>
            </tr>
          </tbody>
        )}
        {queueRows.map((row) => {
          const isOpen = expanded.has(row.queue);
          const ownAlerts = alerts.get(alertKey(row.queue, null));
          const hasAlert = board.alerts.some((alert) => alert.queue === row.queue);
          return (
            <tbody key={row.queue} data-testid="queue-row" data-queue={row.queue}>
              <tr class={hasAlert ? 'queue-row alerting' : 'queue-row'} data-alert={hasAlert}>
                <th scope="row">
                  <button
                    type="button"
                    class="expand"
                    aria-expanded={isOpen}
                    data-testid="queue-expand"
                    onClick={() => toggle(row.queue)}
                  >
                    {isOpen ? '▾' : '▸'} {row.queue}
                  </button>
                </th>
                <DayCells row={row} received={received} now={now} target={row.targetServiceLevel} />
                <Staffing staffing={row.staffing} />
                <td class="muted">
                  {percent(row.targetServiceLevel)} in {seconds(row.thresholdSeconds)}
                </td>
              </tr>
              <AlertNotes alerts={ownAlerts} columns={columns} />
              {isOpen &&
                channelRowsOf(row.queue).map((channelRow) => {
                  const channelAlerts = alerts.get(alertKey(row.queue, channelRow.channel));
                  return [
                    <tr
                      key={channelRow.channel}
                      class={channelAlerts ? 'channel-row alerting' : 'channel-row'}
                      data-testid="queue-channel-row"
                      data-channel={channelRow.channel}
                    >
                      <th scope="row" class="sub">
                        <span class={`channel channel-${channelRow.channel}`}>{channelRow.channel}</span>
                      </th>
                      <DayCells
                        row={channelRow}
                        received={received}
                        now={now}
                        target={channelRow.targetServiceLevel}
                      />
                      <Staffing staffing={channelRow.staffing} />
                      <td class="muted">
                        {percent(channelRow.targetServiceLevel)} in {seconds(channelRow.thresholdSeconds)}
                      </td>
                    </tr>,
                    <AlertNotes
                      key={`${channelRow.channel}-alerts`}
                      alerts={channelAlerts}
                      columns={columns}
                    />,
                  ];
                })}
              {isOpen && (
                <tr class="queue-detail">
                  <td colSpan={columns}>
                    <ContactMover
                      queue={row.queue}
                      waitingNow={row.waitingNow}
                      agents={board.agents}
                      queues={queueRows.map((q) => q.queue)}
                    />
                  </td>
                </tr>
              )}
            </tbody>
          );
        })}
      </table>
      <Definitions />
    </section>
  );
}

/** Every figure's definition, for reading at leisure (the headers' tooltips say the same). */
export function Definitions() {
  const entries: [string, string][] = [
    ['Waiting', defs.waitingNow],
    ['Longest wait', defs.longestWait],
    ['SLA breached', defs.slaBreached],
    ['Offered', defs.offered],
    ['Answered', defs.answered],
    ['Abandoned', defs.abandoned],
    ['Service level', defs.serviceLevel],
    ['SL with abandons', defs.serviceLevelWithAbandons],
    ['ASA', defs.asa],
    ['AHT', defs.aht],
    ['Abandon rate', defs.abandonRate],
    ['Staffed', defs.staffed],
    ['Occupancy', defs.occupancy],
  ];
  return (
    <details class="definitions">
      <summary>What the figures mean</summary>
      <dl>
        {entries.map(([term, definition]) => [
          <dt key={`${term}-t`}>{term}</dt>,
          <dd key={`${term}-d`}>{definition}</dd>,
        ])}
      </dl>
    </details>
  );
}
