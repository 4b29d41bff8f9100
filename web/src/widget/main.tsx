// The chat widget: one <script> tag on a tenant's site. Renders in a shadow root (styles
// isolated both ways), keeps the conversation across reloads and dropped connections.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ChatClient, type ChatSnapshot } from './chatClient';
import { css } from './style';
import type { Message } from '../lib/conversation';

interface Config {
  server: string;
  key: string;
  title: string;
  color: string;
  preview: boolean;
}

function config(): Config {
  const script =
    (document.currentScript as HTMLScriptElement | null) ??
    ([...document.querySelectorAll('script[src*="widget.js"]')].pop() as HTMLScriptElement | undefined) ??
    null;
  const d = script?.dataset ?? {};
  const server = d.server ?? (script?.src ? new URL(script.src, location.href).origin : location.origin);
  const color = /^#[0-9a-f]{3,8}$/i.test(d.color ?? '') ? d.color! : '#4f46e5';
  return { server, key: d.widgetKey ?? '', title: d.title || 'Chat with us', color, preview: d.preview === 'true' };
}

interface Saved {
  token: string;
  conversation: string;
  messages: Message[];
}
const store = (key: string) => ({
  load(): Saved | null {
    try {
      return JSON.parse(localStorage.getItem(`switchboard.chat.${key}`) ?? 'null');
    } catch {
      return null;
    }
  },
  save(s: Saved | null) {
    try {
      if (s) localStorage.setItem(`switchboard.chat.${key}`, JSON.stringify(s));
      else localStorage.removeItem(`switchboard.chat.${key}`);
    } catch {
      /* private mode: the chat still works for this page */
    }
  },
});

const PREVIEW: Message[] = [
  { id: '1', seq: 1, direction: 'inbound', body: 'Hi! Where is my order #4711?', at: Date.now() - 120_000 },
  { id: '2', seq: 2, direction: 'outbound', author: 'Sam', body: 'Hello! It left our warehouse this morning and arrives tomorrow.', at: Date.now() - 60_000 },
];

function Widget({ cfg }: { cfg: Config }) {
  const saved = cfg.preview ? null : store(cfg.key).load();
  const [open, setOpen] = useState(cfg.preview);
  const [mode, setMode] = useState<'form' | 'chat' | 'offline' | 'sent'>(cfg.preview || saved ? 'chat' : 'form');
  const [snap, setSnap] = useState<ChatSnapshot | null>(cfg.preview ? { state: 'connected', messages: PREVIEW, pending: [], agentTyping: true, agentRead: 1, error: null } : null);
  const [fields, setFields] = useState({ name: '', email: '', body: '' });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<string | null>(null);
  const [draft, setDraft] = useState('');
  const [busy, setBusy] = useState(false);
  const client = useRef<ChatClient | null>(null);
  const session = useRef<Saved | null>(saved);
  const log = useRef<HTMLDivElement>(null);
  const typingSent = useRef(false);

  function connect(s: Saved) {
    session.current = s;
    client.current?.close();
    client.current = new ChatClient({
      base: cfg.server,
      token: s.token,
      initial: { messages: s.messages },
      onChange: (snapshot) => {
        setSnap(snapshot);
        if (session.current) store(cfg.key).save({ ...session.current, messages: snapshot.messages });
        if (snapshot.state === 'ended') store(cfg.key).save(null);
      },
    });
  }

  useEffect(() => {
    if (saved) connect(saved);
    return () => client.current?.close();
  }, []);
  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
    if (open && snap?.messages.length) client.current?.read();
  }, [snap?.messages.length, snap?.agentTyping, open]);

  async function post(path: string, body: unknown, token?: string) {
    const res = await fetch(cfg.server + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) {
      const e = data?.error;
      const map: Record<string, string> = {};
      for (const f of e?.fields ?? []) map[f.field] ??= f.message;
      setErrors(map);
      throw new Error(e?.message ?? `HTTP ${res.status}`);
    }
    return data;
  }

  async function start(e: Event) {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    setErrors({});
    try {
      const s = await post('/chat/v1/sessions', { widget_key: cfg.key, name: fields.name || undefined, email: fields.email || undefined });
      if (s.mode === 'chat') {
        const first = fields.body.trim();
        connect({ token: s.token, conversation: s.conversation_id, messages: [] });
        setMode('chat');
        if (first) client.current?.send(first);
      } else {
        setProblem(s.reason === 'closed' ? "We're closed right now. Leave a message and we'll reply by e-mail." : 'Nobody is available right now. Leave a message and we will reply by e-mail.');
        setMode('offline');
      }
    } catch (err) {
      setProblem((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  async function leaveMessage(e: Event) {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    try {
      await post('/chat/v1/offline-messages', { widget_key: cfg.key, name: fields.name, email: fields.email, body: fields.body });
      setMode('sent');
    } catch (err) {
      setProblem((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  async function attach(file: File) {
    if (!session.current) return;
    const res = await fetch(cfg.server + '/chat/v1/attachments', {
      method: 'POST',
      headers: { authorization: `Bearer ${session.current.token}`, 'content-type': file.type || 'application/octet-stream', 'x-filename': encodeURIComponent(file.name) },
      body: file,
    });
    if (!res.ok) setProblem((await res.json().catch(() => null))?.error?.message ?? 'The file could not be sent.');
  }

  function send(e?: Event) {
    e?.preventDefault();
    if (cfg.preview || !draft.trim()) return;
    client.current?.send(draft);
    setDraft('');
    if (typingSent.current) {
      typingSent.current = false;
      client.current?.typing(false);
    }
  }

  const field = (k: keyof typeof fields, label: string, type = 'text', required = false) => (
    <label>
      {label}
      {k === 'body' ? (
        <textarea rows={4} required={required} value={fields[k]} aria-invalid={!!errors[k]} onInput={(e) => setFields({ ...fields, [k]: (e.target as HTMLTextAreaElement).value })} />
      ) : (
        <input type={type} required={required} value={fields[k]} aria-invalid={!!errors[k]} autoComplete={k === 'email' ? 'email' : 'name'} onInput={(e) => setFields({ ...fields, [k]: (e.target as HTMLInputElement).value })} />
      )}
      {errors[k] && <span class="err">{errors[k]}</span>}
    </label>
  );

  const statusText = !snap ? '' : snap.state === 'connected' ? 'You are chatting with our team' : snap.state === 'queued' ? 'Waiting for the next available person…' : snap.state === 'offline' ? 'Reconnecting…' : snap.state === 'ended' ? 'This chat has ended' : 'Connecting…';

  return (
    <>
      <button class={`launcher ${open ? 'open' : ''}`} aria-label={open ? 'Close chat' : `Open chat: ${cfg.title}`} aria-expanded={open} onClick={() => setOpen(!open)}>
        <svg width="26" height="26" viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d={open ? 'M6 6l12 12M18 6L6 18' : 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z'} stroke={open ? 'currentColor' : 'none'} stroke-width="2.5" /></svg>
      </button>
      {open && (
        <div class="panel" role="dialog" aria-label={cfg.title} onKeyDown={(e) => e.key === 'Escape' && setOpen(false)}>
          <div class="head">
            <div>
              <h2>{cfg.title}</h2>
              <p aria-live="polite">{mode === 'chat' ? statusText : 'We usually answer within minutes'}</p>
            </div>
            <button aria-label="Minimise chat" onClick={() => setOpen(false)}>–</button>
          </div>
          {mode === 'form' && (
            <form class="form" onSubmit={start}>
              <p style="margin:0">Hi! Tell us who you are and we'll connect you.</p>
              {problem && <div class="err" role="alert">{problem}</div>}
              {field('name', 'Your name')}
              {field('email', 'E-mail (for a copy of the chat)', 'email')}
              {field('body', 'How can we help?')}
              <button class="primary" type="submit" disabled={busy}>{busy ? 'Starting…' : 'Start chat'}</button>
            </form>
          )}
          {mode === 'offline' && (
            <form class="form" onSubmit={leaveMessage}>
              {problem && <p style="margin:0" role="status">{problem}</p>}
              {field('name', 'Your name', 'text', true)}
              {field('email', 'E-mail', 'email', true)}
              {field('body', 'Message', 'text', true)}
              <button class="primary" type="submit" disabled={busy}>Send message</button>
            </form>
          )}
          {mode === 'sent' && <div class="form" role="status"><h3 style="margin:0">Thanks!</h3><p>We got your message and will reply by e-mail.</p></div>}
          {mode === 'chat' && snap && (
            <>
              <div class="body" ref={log} role="log" aria-live="polite" aria-label="Conversation">
                {snap.messages.map((m) => (
                  <div key={m.seq} class={`msg ${m.direction}`}>
                    {m.direction === 'outbound' && <span class="sr">{m.author ? 'Agent' : 'Team'}: </span>}
                    {m.body}
                    {(m.attachments ?? []).map((a) => <div key={a.id}><a href={`${cfg.server}/chat/v1/attachments/${a.id}?token=${encodeURIComponent(session.current?.token ?? '')}`} target="_blank" rel="noopener"><svg width="16" height="16" viewBox="0 0 24 24" aria-hidden="true"><path d="M21 11.5l-8.5 8.5a5 5 0 0 1-7-7l9-9a3.3 3.3 0 0 1 4.7 4.7l-9 9a1.7 1.7 0 0 1-2.4-2.4l8.3-8.3" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg> {a.name}</a></div>)}
                    <div class="meta">{new Date(m.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}{m.direction === 'inbound' && snap.agentRead >= m.seq ? ' · Seen' : ''}</div>
                  </div>
                ))}
                {snap.pending.map((p) => <div key={p.client_id} class="msg inbound pending">{p.body}<div class="meta">Sending…</div></div>)}
                {snap.agentTyping && <div class="typing" role="status">Agent is typing…</div>}
                {snap.state === 'ended' && <div class="note">The chat has ended. Thank you!</div>}
                {snap.error && <div class="note err" role="alert">{snap.error}</div>}
                {problem && <div class="note err" role="alert">{problem}</div>}
              </div>
              {snap.state !== 'ended' ? (
                <>
                  <form class="compose" onSubmit={send}>
                    <label class="sr" for="sb-attach">Attach a file</label>
                    <input id="sb-attach" type="file" class="sr" accept="image/*,application/pdf,text/plain" onChange={(e) => { const f = (e.target as HTMLInputElement).files?.[0]; if (f) void attach(f); (e.target as HTMLInputElement).value = ''; }} />
                    <button type="button" class="icon" aria-label="Attach a file" onClick={(e) => ((e.currentTarget.parentElement!.querySelector('#sb-attach') as HTMLInputElement).click())}><svg width="16" height="16" viewBox="0 0 24 24" aria-hidden="true"><path d="M21 11.5l-8.5 8.5a5 5 0 0 1-7-7l9-9a3.3 3.3 0 0 1 4.7 4.7l-9 9a1.7 1.7 0 0 1-2.4-2.4l8.3-8.3" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg></button>
                    <label class="sr" for="sb-text">Message</label>
                    <textarea id="sb-text" rows={1} placeholder="Type your message…" value={draft}
                      onInput={(e) => { setDraft((e.target as HTMLTextAreaElement).value); if (!typingSent.current) { typingSent.current = true; client.current?.typing(true); } }}
                      onKeyDown={(e) => { if (e.key === 'Enter' && !e.shiftKey) send(e); }} />
                    <button class="send" type="submit" disabled={!draft.trim()}>Send</button>
                  </form>
                  <div class="footer">
                    <button onClick={() => session.current && fetch(cfg.server + '/chat/v1/transcript', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${session.current.token}` }, body: '{}' }).then((r) => setProblem(r.ok ? null : 'No transcript could be sent (no e-mail given?).'))}>E-mail me the transcript</button>
                    <button onClick={() => client.current?.end()}>End chat</button>
                  </div>
                </>
              ) : (
                <div class="footer"><button onClick={() => { store(cfg.key).save(null); session.current = null; setSnap(null); setFields({ name: fields.name, email: fields.email, body: '' }); setMode('form'); }}>Start a new chat</button></div>
              )}
            </>
          )}
        </div>
      )}
    </>
  );
}

function mount(cfg: Config) {
  if (!cfg.key && !cfg.preview) {
    console.warn('Switchboard chat: data-widget-key is missing on the script tag');
    return;
  }
  const host = document.createElement('div');
  host.id = 'switchboard-chat';
  document.body.appendChild(host);
  const root = host.attachShadow({ mode: 'open' });
  const style = document.createElement('style');
  style.textContent = css(cfg.color);
  root.appendChild(style);
  const mountPoint = document.createElement('div');
  root.appendChild(mountPoint);
  render(<Widget cfg={cfg} />, mountPoint);
}

// The config must be read while this script runs (document.currentScript is only set then).
const cfg0 = config();
if (document.body) mount(cfg0);
else document.addEventListener('DOMContentLoaded', () => mount(cfg0));
