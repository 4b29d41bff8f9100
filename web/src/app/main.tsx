import { render } from 'preact';
import { useEffect } from 'preact/hooks';
import './styles.css';
import { match, navigate, path } from '../lib/router';
import { AcceptInvite, Login, Logo, Signup } from './auth';
import { Admin, ADMIN_SECTIONS } from './admin';
import { Console } from './console';
import { Supervisor } from './supervisor';
import { StandingBanner, loadBilling } from './billing';
import { api, atLeast, loadMe, logout, me, toast } from './state';

function Link(props: { to: string; children: preact.ComponentChildren }) {
  const current = path.value === props.to;
  return (
    <a href={props.to} aria-current={current ? 'page' : undefined} onClick={(e) => (e.preventDefault(), navigate(props.to))}>
      {props.children}
    </a>
  );
}

function Shell(props: { children: preact.ComponentChildren }) {
  const m = me.value!;
  useEffect(() => {
    // Admins see the tenant's billing standing (trial ending, payment failed) on every page.
    if (atLeast('admin')) void loadBilling();
  }, [m.tenant.id]);
  return (
    <div class="shell">
      <nav class="nav" aria-label="Main">
        <Logo />
        <div class="group">Work</div>
        <Link to="/console">Agent console</Link>
        {atLeast('supervisor') && <Link to="/supervisor">Wallboard</Link>}
        {atLeast('supervisor') && <Link to="/supervisor/history">Contact history</Link>}
        {atLeast('admin') && (
          <>
            <div class="group">Settings</div>
            {ADMIN_SECTIONS.map((s) => (
              <Link key={s.id} to={`/admin/${s.id}`}>{s.label}</Link>
            ))}
          </>
        )}
        <div class="spacer" />
        <div class="who">
          <strong>{m.user?.name ?? 'API key'}</strong>
          {m.tenant.name} · {m.role}
          <div>
            <button class="link" style="color:#c7cbff;padding:4px 0" onClick={() => void logout()}>Log out</button>
          </div>
        </div>
      </nav>
      <main class="main" id="main">
        {path.value !== '/admin/billing' && <StandingBanner />}
        {props.children}
      </main>
    </div>
  );
}

function App() {
  const p = path.value;
  useEffect(() => {
    if (api.loggedIn() && !me.value) void loadMe();
  }, []);
  if (p === '/signup') return <Signup />;
  if (p === '/login') return <Login />;
  if (p === '/accept-invite') return <AcceptInvite />;
  if (!api.loggedIn()) {
    queueMicrotask(() => navigate('/login', true));
    return null;
  }
  if (!me.value) return <div class="empty" role="status">Loading…</div>;
  if (p === '/' || p === '') {
    queueMicrotask(() => navigate(atLeast('admin') ? '/admin/queues' : '/console', true));
    return null;
  }
  let page: preact.JSX.Element;
  const admin = match('/admin/:section', p);
  if (p === '/console') page = <Console />;
  else if (p === '/supervisor') page = <Supervisor tab="live" />;
  else if (p === '/supervisor/history') page = <Supervisor tab="history" />;
  else if (admin) page = <Admin section={admin.section} />;
  else page = <div class="empty"><h1>Not found</h1><p>There is no page at {p}.</p></div>;
  return (
    <>
      <Shell>{page}</Shell>
      {toast.value && <div class="toast" role="status">{toast.value}</div>}
    </>
  );
}

render(<App />, document.getElementById('app')!);
