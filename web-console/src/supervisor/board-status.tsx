import { seconds, type ReceivedBoard } from './figures.js';

export type SocketState = 'connecting' | 'online' | 'reconnecting' | 'refused';

/** A board older than this is stale: the server pushes at least every second while it runs. */
export const staleAfterMs = 5000;

/**
 * The board's freshness in the top bar: live, stale (no board for 5 s, connected or not), or the connection
 * lost. `data-state` is `live`, `stale`, `lost`, `connecting` or `refused`.
 */
export function BoardStatus(props: {
  received: ReceivedBoard | null;
  socketState: SocketState;
  now: number;
  openedAt: number;
}) {
  const { received, socketState, now } = props;
  const age = now - (received?.receivedAt ?? props.openedAt);
  const isStale = age > staleAfterMs;
  const boardAge = received ? `board from ${seconds(age / 1000)} ago` : 'no board yet';
  let state: 'live' | 'stale' | 'lost' | 'connecting' | 'refused';
  let text: string;
  if (socketState === 'refused') {
    state = 'refused';
    text = 'Refused';
  } else if (socketState === 'reconnecting') {
    state = 'lost';
    text = `Connection lost, reconnecting… (${boardAge})`;
  } else if (isStale) {
    state = 'stale';
    text = received ? `Stale board: no update for ${seconds(age / 1000)}` : 'No board received yet';
  } else if (!received) {
    state = 'connecting';
    text = 'Connecting…';
  } else {
    state = 'live';
    text = `Live · as of ${new Date(received.board.at).toLocaleTimeString(undefined, { timeZone: received.board.day.timeZone })}`;
  }
  return (
    <span
      class={`connection board-status ${state}`}
      data-testid="board-status"
      data-state={state}
      role="status"
    >
      {text}
    </span>
  );
}
