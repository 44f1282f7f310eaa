import type { ReceivedBoard } from './figures.js';
import { DayCells, dayGroupHeaders, dayHeaders } from './queue-board.js';

/** Totals per channel over all queues (each contact judged by its own queue's threshold). */
export function ChannelBoard({ received, now }: { received: ReceivedBoard; now: number }) {
  const { channels } = received.board;
  return (
    <section class="board-section" aria-labelledby="channels-heading">
      <h2 id="channels-heading">Channels</h2>
      <table class="board-table" data-testid="channel-board">
        <thead>
          <tr class="groups">
            <td />
            {dayGroupHeaders}
          </tr>
          <tr>
            <th scope="col">Channel</th>
            {dayHeaders}
          </tr>
        </thead>
        <tbody>
          {channels.length === 0 && (
            <tr>
              <td colSpan={11} class="muted">
                No channels on the board.
              </td>
            </tr>
          )}
          {channels.map((row) => (
            <tr key={row.channel} data-testid="channel-row" data-channel={row.channel}>
              <th scope="row">
                <span class={`channel channel-${row.channel}`}>{row.channel}</span>
              </th>
              <DayCells row={row} received={received} now={now} />
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
