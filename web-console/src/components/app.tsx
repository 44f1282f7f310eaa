import { useEffect, useState } from 'preact/hooks';
import { api, type Agent } from '../api.js';
import { SupervisorDashboard } from '../supervisor/dashboard.js';
import { Console } from './console.js';
import { Login } from './login.js';

/** The supervisor dashboard's path; the server serves the same index.html there as at `/`. */
export const supervisorPath = '/supervisor';

export const canSupervise = (agent: Agent) => agent.role === 'supervisor' || agent.role === 'admin';

/**
 * Who is logged in and the path decide the screen: the login form, the console at `/`, or the supervisor
 * dashboard at `/supervisor` (supervisors and admins; an agent is told it is not for them, and the server
 * refuses them the board anyway).
 */
export function App() {
  // undefined while the session cookie is being checked.
  const [agent, setAgent] = useState<Agent | null | undefined>(undefined);
  useEffect(() => {
    api.me().then(
      ({ agent }) => setAgent(agent),
      () => setAgent(null),
    );
  }, []);

  if (agent === undefined) return <p class="loading">Loading…</p>;
  if (!agent) return <Login onLogin={setAgent} />;
  if (window.location.pathname.replace(/\/+$/, '') === supervisorPath) {
    if (!canSupervise(agent))
      return (
        <main class="refused" data-testid="supervisor-refused">
          <h1>Supervisors only</h1>
          <p>The supervisor dashboard is for supervisors and admins.</p>
          <a href="/">Back to the console</a>
        </main>
      );
    return <SupervisorDashboard agent={agent} onLoggedOut={() => setAgent(null)} />;
  }
  return <Console agent={agent} onLoggedOut={() => setAgent(null)} />;
}
