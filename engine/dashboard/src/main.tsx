// Start-up and the shell: the login (the API token typed in, or the one-time code of a `cloudlet dashboard`
// link, which arrives in the URL fragment and is dropped from the history at once), then the tabs.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, describe, setCsrf } from './api';
import { Cloudlet, useCloudlet } from './data';
import { BasesView, InstancesView, NetworksView, OperationsView, OverlaysView, PeersView } from './views';
import './style.css';

const TABS = ['Instances', 'Base VMs', 'Overlays', 'Networks', 'Peers', 'Operations'] as const;
type Tab = (typeof TABS)[number];

function Login(props: { onDone: () => void; problem?: string }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(props.problem ?? '');
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const s = await api.dashboard.login({ token });
      setCsrf(s.csrf);
      setToken('');
      props.onDone();
    } catch (err) {
      setError(describe(err).startsWith('UNAUTHORIZED') ? 'The engine refused that token.' : describe(err));
    }
  };
  return (
    <main class="login">
      <h1>Cloudlet dashboard</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">Engine token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} required />
        <button type="submit">Log in</button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
      <p class="hint">
        The token is in the engine&apos;s state directory (<code>token</code>), or run <code>cloudlet dashboard</code> for a one-time login link.
      </p>
    </main>
  );
}

function Shell(props: { onLogout: () => void }) {
  const [tab, setTab] = useState<Tab>('Instances');
  const c: Cloudlet = useCloudlet();
  const logout = async () => {
    await api.dashboard.logout().catch(() => undefined);
    setCsrf('');
    props.onLogout();
  };
  return (
    <>
      <header>
        <h1>
          Cloudlet <span class="muted">{c.info ? `${c.info.cloudlet.name} (${c.info.cloudlet.id})` : '…'}</span>
        </h1>
        <nav aria-label="views">
          {TABS.map((t) => (
            <button key={t} type="button" class={t === tab ? 'tab active' : 'tab'} aria-current={t === tab ? 'page' : undefined} onClick={() => setTab(t)}>
              {t}
            </button>
          ))}
        </nav>
        <button type="button" class="logout" onClick={() => void logout()}>
          Log out
        </button>
      </header>
      <main>
        {c.error && (
          <p class="error" role="alert">
            {c.error}
          </p>
        )}
        {tab === 'Instances' && <InstancesView c={c} />}
        {tab === 'Base VMs' && <BasesView c={c} />}
        {tab === 'Overlays' && <OverlaysView c={c} />}
        {tab === 'Networks' && <NetworksView c={c} />}
        {tab === 'Peers' && <PeersView c={c} />}
        {tab === 'Operations' && <OperationsView c={c} />}
      </main>
    </>
  );
}

function App() {
  const [state, setState] = useState<'checking' | 'login' | 'ready'>('checking');
  const [problem, setProblem] = useState<string | undefined>();
  useEffect(() => {
    void (async () => {
      const code = /^#login=([A-Za-z0-9_-]+)$/.exec(location.hash)?.[1];
      if (code) {
        // The code is spent by this one request; it leaves the address bar and the history now.
        history.replaceState(null, '', location.pathname);
        try {
          setCsrf((await api.dashboard.login({ code })).csrf);
          return setState('ready');
        } catch {
          setProblem('That login link was used already or has expired: run cloudlet dashboard again, or log in with the token.');
          return setState('login');
        }
      }
      try {
        setCsrf((await api.dashboard.session()).csrf);
        setState('ready');
      } catch {
        setState('login');
      }
    })();
  }, []);
  if (state === 'checking') return <p class="muted">Connecting…</p>;
  if (state === 'login') return <Login problem={problem} onDone={() => setState('ready')} />;
  return <Shell onLogout={() => setState('login')} />;
}

render(<App />, document.getElementById('app')!);
