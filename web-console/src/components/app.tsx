import { useEffect, useState } from 'preact/hooks';
import { api, type Agent } from '../api.js';
import { Console } from './console.js';
import { Login } from './login.js';

/** Who is logged in decides the screen: the login form, or the console. */
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
  return <Console agent={agent} onLoggedOut={() => setAgent(null)} />;
}
