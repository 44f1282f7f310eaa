import { useEffect, useState } from 'preact/hooks';
import { api, type Agent } from '../api.js';
import { connectSupervisorSocket } from '../socket.js';
import { AgentBoard } from './agent-board.js';
import { BoardAlerts } from './board-alerts.js';
import { BoardStatus, staleAfterMs, type SocketState } from './board-status.js';
import { ChannelBoard } from './channel-board.js';
import { receive, type ReceivedBoard } from './figures.js';
import { QueueBoard } from './queue-board.js';
import { QueueCharts } from './queue-charts.js';

/*
 * The supervisor dashboard at /supervisor: the live board pushed on the `/supervisor` socket, shown as a
 * wallboard (queues, channels, alerts) with detail (each queue's channels and waiting contacts, agents,
 * the day's charts). It only shows what the last board said; actions go over HTTP and their effect shows
 * in the next push.
 */
export function SupervisorDashboard({ agent, onLoggedOut }: { agent: Agent; onLoggedOut: () => void }) {
  const [received, setReceived] = useState<ReceivedBoard | null>(null);
  const [socketState, setSocketState] = useState<SocketState>('connecting');
  const [now, setNow] = useState(Date.now());
  const [openedAt] = useState(Date.now());

  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, []);

  useEffect(() => {
    const socket = connectSupervisorSocket();
    socket.on('connect', () => setSocketState('online'));
    socket.on('disconnect', (reason) => {
      setSocketState('reconnecting');
      // The server ends a socket whose session ended or whose role no longer admits it, and socket.io does not
      // reconnect after that by itself: ask who is logged in, then come back or leave.
      if (reason === 'io server disconnect')
        api.me().then(
          ({ agent: now }) => {
            if (now.role === 'supervisor' || now.role === 'admin') socket.connect();
            else setSocketState('refused');
          },
          () => onLoggedOut(),
        );
    });
    socket.io.on('reconnect_attempt', () => setSocketState('reconnecting'));
    socket.on('connect_error', (err) => {
      const code = (err as Error & { data?: { code?: string } }).data?.code;
      if (code === 'NOT_AUTHENTICATED') onLoggedOut();
      else if (code === 'FORBIDDEN') {
        // A refusal is final (a role change needs a new login): stop retrying.
        setSocketState('refused');
        socket.disconnect();
      } else setSocketState('reconnecting');
    });
    socket.on('board.snapshot', (board) => {
      const at = Date.now();
      setReceived(receive(board, at));
      setNow(at);
    });
    return () => {
      socket.disconnect();
    };
  }, [onLoggedOut]);

  const logout = async () => {
    await api.logout().catch(() => undefined);
    onLoggedOut();
  };

  const board = received?.board;
  // An old board stays readable but looks old: what it shows may no longer be true.
  const isStale = received !== null && now - received.receivedAt > staleAfterMs;
  return (
    <div class="supervisor">
      <header class="top-bar">
        <strong class="brand">Switchboard</strong>
        <span>Supervisor dashboard</span>
        <span class="who">{agent.displayName}</span>
        <BoardStatus received={received} socketState={socketState} now={now} openedAt={openedAt} />
        <a class="nav-link" href="/">
          Agent console
        </a>
        <button type="button" class="logout" onClick={() => void logout()}>
          Log out
        </button>
      </header>
      {socketState === 'refused' ? (
        <p class="problem" role="alert" data-testid="board-refused">
          The server refused the board: your role does not allow it.
        </p>
      ) : !received || !board ? (
        <p class="loading" data-testid="board-waiting">
          Waiting for the board…
        </p>
      ) : (
        <main class={isStale ? 'board stale' : 'board'} data-testid="board" data-board-at={board.at}>
          <BoardAlerts alerts={board.alerts} />
          <QueueBoard received={received} now={now} />
          <ChannelBoard received={received} now={now} />
          <AgentBoard received={received} now={now} />
          <QueueCharts board={board} />
        </main>
      )}
    </div>
  );
}
