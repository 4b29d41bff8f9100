// The agent console: presence, ringing offers with their deadline, a unified inbox of the
// agent's chats, SMS and e-mails with a composer fit for each, the customer's history on every
// channel, wrap-up with the queue's codes, transfers, and keyboard shortcuts. Live over the
// console socket, which reconnects by itself and reloads what it may have missed.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { LiveSocket, type SocketState } from '../lib/socket';
import { merge, type Message, unread, fileSize } from '../lib/conversation';
import { countSegments } from '../lib/segments';
import { quote, replySubject } from '../lib/email';
import { SHORTCUTS, shortcutFor } from '../lib/shortcuts';
import { duration } from '../lib/wallboard';
import { callView, dialable } from '../lib/call';
import { api, me, notify, socketToken, wsBase } from './state';
import { all, type Queue } from './admin';
import { CHANNEL_LABEL, ChannelIcon, Field, FormError, Modal, ago, time, useAction } from './ui';

export interface Contact {
  id: string;
  channel: string;
  queue_id: string;
  state: string;
  customer: string | null;
  attributes: Record<string, string>;
  agent_id: string | null;
  enqueued_at: number;
  updated_at: number;
  offer_deadline?: number;
}
interface Offer {
  contact: Contact;
  deadline: number;
  offeredAt: number;
}
interface HistoryEntry {
  contact: Contact & { disposition?: string | null; notes?: string | null };
  messages: Message[];
}

export function displayName(c: Contact): string {
  return c.attributes.name || c.attributes['customer.name'] || c.customer || 'Customer';
}

let audio: AudioContext | null = null;
function ring() {
  try {
    audio ??= new AudioContext();
    for (const [t, f] of [[0, 880], [0.25, 660]] as const) {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.08, audio.currentTime + t);
      g.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + t + 0.22);
      o.connect(g).connect(audio.destination);
      o.start(audio.currentTime + t);
      o.stop(audio.currentTime + t + 0.23);
    }
  } catch {
    /* no audio: the offer still shows */
  }
}

export function Console() {
  const [link, setLink] = useState<SocketState>('connecting');
  const [activity, setActivity] = useState('offline');
  const [offers, setOffers] = useState<Offer[]>([]);
  const [contacts, setContacts] = useState<Record<string, Contact>>({});
  const [messages, setMessages] = useState<Record<string, Message[]>>({});
  const [readUpTo, setReadUpTo] = useState<Record<string, number>>({});
  const [typing, setTyping] = useState<Record<string, boolean>>({});
  const [history, setHistory] = useState<Record<string, HistoryEntry[]>>({});
  const [selected, setSelected] = useState<string | null>(null);
  const [queues, setQueues] = useState<Queue[]>([]);
  const [wrapping, setWrapping] = useState<string | null>(null);
  const [transferring, setTransferring] = useState<string | null>(null);
  // What the edge last said about each phone call (`call` frames), by contact.
  const [calls, setCalls] = useState<Record<string, { state: string; reason: string | null }>>({});
  const [help, setHelp] = useState(false);
  const [now, setNow] = useState(Date.now());
  const socket = useRef<LiveSocket | null>(null);
  // The socket's frame handler is made once; it reads the offers through this.
  const offersRef = useRef<Offer[]>([]);
  offersRef.current = offers;

  const loadMessages = (id: string) =>
    api.get<{ items: Message[] }>(`/api/v1/contacts/${id}/messages`).then((l) => setMessages((m) => ({ ...m, [id]: merge(m[id] ?? [], l.items) })), () => {});
  const loadHistory = (id: string) =>
    api.get<{ items: HistoryEntry[] }>(`/api/v1/contacts/${id}/history`).then((h) => setHistory((x) => ({ ...x, [id]: h.items })), () => {});

  async function reload() {
    const page = await api.get<{ items: Contact[] }>('/api/v1/agent/contacts');
    const open: Record<string, Contact> = {};
    const offered: Offer[] = [];
    for (const c of page.items) {
      if (c.state === 'offered') offered.push({ contact: c, deadline: c.offer_deadline ?? 0, offeredAt: c.updated_at });
      else open[c.id] = c;
    }
    setContacts(open);
    setOffers((old) => offered.map((o) => old.find((x) => x.contact.id === o.contact.id) ?? o));
    for (const c of page.items) {
      if (['chat', 'sms', 'email'].includes(c.channel)) void loadMessages(c.id);
      void loadHistory(c.id);
    }
    setSelected((s) => s ?? Object.keys(open)[0] ?? null);
  }

  function onFrame(f: Record<string, unknown>) {
    const id = String(f.contact_id ?? '');
    switch (f.type) {
      case 'hello': {
        const a = f.agent as { activity?: string } | null;
        setActivity(a?.activity ?? 'offline');
        break;
      }
      case 'agent':
        if (f.agent_id === me.value?.user?.id) setActivity(String(f.activity));
        break;
      case 'contact': {
        const ev = String(f.event);
        if (ev === 'offered' && f.agent_id === me.value?.user?.id) {
          void reloadOffer(id, Number(f.deadline ?? 0));
          ring();
        } else if (ev === 'offer_withdrawn' || ev === 'requeued' || ev === 'transferred' || ev === 'abandoned') {
          setOffers((o) => o.filter((x) => x.contact.id !== id));
          if (ev !== 'offer_withdrawn') dropContact(id);
        } else if (ev === 'connected') {
          // The accepted offer becomes a conversation: load just its messages, not the whole inbox.
          const offer = offersRef.current.find((x) => x.contact.id === id);
          setOffers((o) => o.filter((x) => x.contact.id !== id));
          if (offer) {
            setContacts((c) => ({ ...c, [id]: { ...offer.contact, state: 'connected' } }));
            if (['chat', 'sms', 'email'].includes(offer.contact.channel)) void loadMessages(id);
            setSelected(id);
          } else void reload().then(() => setSelected(id));
        } else if (ev === 'wrap_up') {
          setContacts((c) => (c[id] ? { ...c, [id]: { ...c[id], state: 'wrap_up' } } : c));
        } else if (ev === 'done') dropContact(id);
        break;
      }
      case 'message': {
        const m = f.message as Message;
        setMessages((x) => ({ ...x, [id]: merge(x[id] ?? [], [m]) }));
        if (m.direction === 'inbound') setTyping((t) => ({ ...t, [id]: false }));
        break;
      }
      case 'typing':
        if (f.from === 'visitor') setTyping((t) => ({ ...t, [id]: Boolean(f.active) }));
        break;
      case 'ended':
        notify('The customer closed the chat');
        break;
      case 'call':
        setCalls((c) => ({ ...c, [id]: { state: String(f.state), reason: (f.reason as string | null) ?? null } }));
        if (f.state === 'agent_unreachable') notify(`Your phone could not be reached${f.reason ? `: ${f.reason}` : ''}; the caller is back in the queue`);
        break;
    }
  }

  async function reloadOffer(id: string, deadline: number) {
    const page = await api.get<{ items: Contact[] }>('/api/v1/agent/contacts');
    const c = page.items.find((x) => x.id === id);
    if (c) {
      setOffers((o) => [...o.filter((x) => x.contact.id !== id), { contact: c, deadline, offeredAt: Date.now() }]);
      void loadHistory(id);
    }
  }

  function dropContact(id: string) {
    setContacts((c) => {
      const { [id]: _, ...rest } = c;
      return rest;
    });
    setSelected((s) => (s === id ? null : s));
  }

  useEffect(() => {
    void all<Queue>('/api/v1/queues').then(setQueues, () => {});
    const s = new LiveSocket({
      url: async () => `${wsBase()}/api/v1/agent/ws?access_token=${encodeURIComponent(await socketToken())}`,
      onMessage: onFrame,
      onState: setLink,
      onOpen: () => void reload(),
    });
    socket.current = s;
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      clearInterval(tick);
      s.close();
    };
  }, []);

  const run = (cmd: Record<string, unknown>) => socket.current!.command(cmd).catch((e: Error) => notify(e.message));
  const ids = Object.keys(contacts).sort((a, b) => contacts[a].enqueued_at - contacts[b].enqueued_at);
  const current = selected ? contacts[selected] : null;
  const ringing = offers[0];

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      const action = shortcutFor(e, t.tagName === 'TEXTAREA' || t.tagName === 'INPUT');
      if (!action) return;
      e.preventDefault();
      if (action === 'accept' && ringing) void run({ type: 'accept', contact_id: ringing.contact.id });
      if (action === 'reject' && ringing) void run({ type: 'reject', contact_id: ringing.contact.id });
      if (action === 'available') void run({ type: 'presence', status: 'available' });
      if (action === 'away') void run({ type: 'presence', status: 'away', reason: 'break' });
      if (action === 'help') setHelp(true);
      if (action === 'complete' && current) setWrapping(current.id);
      if (action === 'focus-composer') document.getElementById('composer')?.focus();
      if ((action === 'next' || action === 'previous') && ids.length) {
        const i = selected ? ids.indexOf(selected) : -1;
        const n = action === 'next' ? (i + 1) % ids.length : (i - 1 + ids.length) % ids.length;
        setSelected(ids[n]);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  useEffect(() => {
    // Reading the open conversation tells the customer (chat read receipts).
    if (!current) return;
    const list = messages[current.id] ?? [];
    const last = list[list.length - 1];
    if (last && (readUpTo[current.id] ?? 0) < last.seq) {
      setReadUpTo((r) => ({ ...r, [current.id]: last.seq }));
      if (current.channel === 'chat' && current.state === 'connected') void socket.current?.command({ type: 'read', contact_id: current.id, seq: last.seq }).catch(() => {});
    }
  }, [current?.id, messages]);

  const queueName = (id: string) => queues.find((q) => q.id === id)?.name ?? 'queue';
  const presence = activity === 'offline' ? 'offline' : activity === 'away' ? 'away' : 'available';

  return (
    <>
      <div class="page-head" style="margin-bottom:10px">
        <div class="row">
          <h1 style="margin:0">Console</h1>
          <span class={`badge ${activity}`} aria-live="polite"><span class="dot" />{activity.replace('_', ' ')}</span>
          <span class="status-line" role="status">{link === 'open' ? 'Live' : link === 'reconnecting' ? 'Reconnecting…' : link === 'connecting' ? 'Connecting…' : 'Disconnected'}</span>
        </div>
        <div class="row">
          <Field label="Presence">
            {(id) => (
              <select id={id} value={presence} onChange={(e) => {
                const status = (e.target as HTMLSelectElement).value;
                void run(status === 'away' ? { type: 'presence', status, reason: 'break' } : { type: 'presence', status });
              }}>
                <option value="available">Available</option>
                <option value="away">Away</option>
                <option value="offline">Offline</option>
              </select>
            )}
          </Field>
          <button class="link" onClick={() => setHelp(true)} aria-label="Keyboard shortcuts">Shortcuts (?)</button>
        </div>
      </div>
      <div class="console">
        <section class="inbox" aria-label="Inbox">
          {offers.map((o) => {
            const left = o.deadline ? Math.max(0, o.deadline - now) : 0;
            const total = o.deadline ? Math.max(1, o.deadline - o.offeredAt) : 1;
            return (
              <div class="offer" role="alert" key={o.contact.id} aria-label={`Incoming ${CHANNEL_LABEL[o.contact.channel] ?? o.contact.channel}`}>
                <div class="row" style="justify-content:space-between">
                  <strong>Incoming {CHANNEL_LABEL[o.contact.channel] ?? o.contact.channel}</strong>
                  {o.deadline > 0 && <span class="mono">{Math.ceil(left / 1000)}s</span>}
                </div>
                <div>{displayName(o.contact)} · {queueName(o.contact.queue_id)}</div>
                {o.deadline > 0 && <div class="deadline" aria-hidden="true"><div style={{ width: `${(100 * left) / total}%` }} /></div>}
                <div class="row">
                  <button class="good" onClick={() => void run({ type: 'accept', contact_id: o.contact.id })}>Accept</button>
                  <button onClick={() => void run({ type: 'reject', contact_id: o.contact.id })}>Decline</button>
                </div>
              </div>
            );
          })}
          <div class="pane-head"><strong>My conversations</strong><span class="badge">{ids.length}</span></div>
          {ids.length === 0 ? (
            <div class="empty">{activity === 'offline' ? 'Go available to receive work.' : 'Waiting for the next contact…'}</div>
          ) : (
            <ul>
              {ids.map((id) => {
                const c = contacts[id];
                const list = messages[id] ?? [];
                const last = list.filter((m) => m.direction !== 'internal').pop();
                const n = id === selected ? 0 : unread(list, readUpTo[id] ?? 0);
                return (
                  <li key={id}>
                    <button aria-current={id === selected} onClick={() => setSelected(id)}>
                      <ChannelIcon channel={c.channel} />
                      <span style="min-width:0">
                        <strong>{displayName(c)}</strong>
                        <div class="muted small" style="white-space:nowrap;overflow:hidden;text-overflow:ellipsis">{typing[id] ? 'typing…' : last?.body ?? CHANNEL_LABEL[c.channel]}</div>
                      </span>
                      <span class="stack" style="gap:4px;align-items:flex-end">
                        {c.state === 'wrap_up' ? <span class="badge wrap_up">wrap-up</span> : n > 0 ? <span class="badge busy" aria-label={`${n} unread`}>{n}</span> : <span class="muted small">{duration((now - c.enqueued_at) / 1000)}</span>}
                      </span>
                    </button>
                  </li>
                );
              })}
            </ul>
          )}
        </section>
        <section aria-label="Conversation">
          {current ? (
            <Conversation
              key={current.id}
              contact={current}
              messages={messages[current.id] ?? []}
              typing={!!typing[current.id]}
              queueName={queueName(current.queue_id)}
              onSend={async (body, attachmentIds) => {
                await socket.current!.command({ type: 'send', contact_id: current.id, body, attachment_ids: attachmentIds });
              }}
              onTyping={(active) => void socket.current?.command({ type: 'typing', contact_id: current.id, active }).catch(() => {})}
              onWrap={() => setWrapping(current.id)}
              onTransfer={() => setTransferring(current.id)}
              call={calls[current.id]}
            />
          ) : (
            <div class="empty">
              <h2>No conversation open</h2>
              <p>Accept an offer or pick a conversation from the inbox.</p>
            </div>
          )}
        </section>
        <section class="customer" aria-label="Customer">
          <CustomerPanel contact={current ?? ringing?.contact ?? null} history={history[(current ?? ringing?.contact)?.id ?? ''] ?? []} />
        </section>
      </div>
      {wrapping && contacts[wrapping] && (
        <WrapUp contact={contacts[wrapping]} queue={queues.find((q) => q.id === contacts[wrapping].queue_id)} onClose={() => setWrapping(null)} run={run} />
      )}
      {transferring && <Transfer contactId={transferring} voice={contacts[transferring]?.channel === 'voice'} queues={queues} onClose={() => setTransferring(null)} run={run} />}
      {help && (
        <Modal title="Keyboard shortcuts" onClose={() => setHelp(false)}>
          <table><tbody>{SHORTCUTS.map((s) => <tr key={s.keys}><td><kbd class="mono">{s.keys}</kbd></td><td>{s.label}</td></tr>)}</tbody></table>
          <div class="row" style="justify-content:flex-end;margin-top:12px"><button onClick={() => setHelp(false)} autoFocus>Close</button></div>
        </Modal>
      )}
    </>
  );
}

function Conversation(props: {
  contact: Contact;
  messages: Message[];
  typing: boolean;
  queueName: string;
  onSend: (body: string, attachmentIds: string[]) => Promise<void>;
  onTyping: (active: boolean) => void;
  onWrap: () => void;
  onTransfer: () => void;
  call?: { state: string; reason: string | null };
}) {
  const c = props.contact;
  const [draft, setDraft] = useState('');
  const [files, setFiles] = useState<{ id: string; name: string; size: number }[]>([]);
  const [uploading, setUploading] = useState(false);
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const list = useRef<HTMLDivElement>(null);
  const typingSent = useRef(false);
  useEffect(() => {
    list.current?.scrollTo({ top: list.current.scrollHeight });
  }, [props.messages.length, props.typing]);
  const lastInbound = [...props.messages].reverse().find((m) => m.direction === 'inbound');
  const segments = c.channel === 'sms' ? countSegments(draft) : null;
  const live = c.state === 'connected';

  async function send() {
    const body = draft.trim();
    if (!body) return;
    setSending(true);
    setError(null);
    try {
      await props.onSend(body, files.map((f) => f.id));
      setDraft('');
      setFiles([]);
      typingSent.current = false;
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setSending(false);
    }
  }

  async function upload(file: File) {
    setUploading(true);
    setError(null);
    try {
      const res = await fetch(`/api/v1/contacts/${c.id}/attachments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.accessToken}`, 'content-type': file.type || 'application/octet-stream', 'x-filename': encodeURIComponent(file.name) },
        body: file,
      });
      const data = await res.json();
      if (!res.ok) throw new Error(data?.error?.fields?.[0]?.message ?? data?.error?.message ?? 'Upload failed');
      setFiles((f) => [...f, data]);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setUploading(false);
    }
  }

  return (
    <>
      <div class="pane-head">
        <div class="row">
          <ChannelIcon channel={c.channel} />
          <div>
            <strong>{displayName(c)}</strong>
            <div class="muted small">{CHANNEL_LABEL[c.channel]} · {props.queueName}{c.customer ? ` · ${c.customer}` : ''}</div>
          </div>
        </div>
        <div class="row">
          {live && <button onClick={props.onTransfer}>Transfer</button>}
          {live ? <button class="primary" onClick={props.onWrap}>Wrap up</button> : <span class="badge wrap_up">Wrapping up</span>}
        </div>
      </div>
      {c.channel === 'voice' && live && <CallBar contactId={c.id} call={props.call} />}
      <div class="thread" ref={list} role="log" aria-label="Messages" aria-live="polite">
        {props.messages.length === 0 && (
          <div class="empty">{c.channel === 'voice' ? 'You talk on your desk phone; a voicemail or recording shows here.' : 'No messages yet.'}</div>
        )}
        {props.messages.map((m) => (
          <div key={m.seq} class={`bubble ${m.direction} ${c.channel === 'email' ? 'email' : ''}`}>
            {m.direction === 'internal' && <div class="small"><strong>Whisper from your supervisor</strong></div>}
            {m.subject && <div><strong>{m.subject}</strong></div>}
            {m.body}
            {(m.attachments ?? []).map((a) => (
              <div key={a.id}>
                <a href="#" onClick={(e) => (e.preventDefault(), void download(c.id, a.id, a.name))}><svg width="16" height="16" viewBox="0 0 24 24" aria-hidden="true"><path d="M21 11.5l-8.5 8.5a5 5 0 0 1-7-7l9-9a3.3 3.3 0 0 1 4.7 4.7l-9 9a1.7 1.7 0 0 1-2.4-2.4l8.3-8.3" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg> {a.name}</a> <span class="small">({fileSize(a.size)})</span>
              </div>
            ))}
            <div class="meta">{time(m.at)}{m.direction === 'outbound' && m.status && c.channel === 'sms' ? ` · ${m.status}` : ''}</div>
          </div>
        ))}
        {props.typing && <div class="muted small" role="status">{displayName(c)} is typing…</div>}
      </div>
      {live && c.channel !== 'voice' && (
        <form class="composer" onSubmit={(e) => (e.preventDefault(), void send())}>
          {c.channel === 'email' && (
            <div class="row small muted" style="justify-content:space-between">
              <span>Subject: <strong>{replySubject(lastInbound?.subject)}</strong></span>
              {lastInbound && <button type="button" class="link" onClick={() => setDraft((d) => d + quote(lastInbound.body, lastInbound.from ?? displayName(c), lastInbound.at))}>Quote their message</button>}
            </div>
          )}
          {error && <div class="form-error" role="alert">{error}</div>}
          <label class="sr-only" for="composer">Reply</label>
          <textarea
            id="composer"
            value={draft}
            rows={c.channel === 'email' ? 7 : 3}
            placeholder={c.channel === 'email' ? 'Write your e-mail…' : c.channel === 'sms' ? 'Text message…' : 'Type a reply — Enter sends, Shift+Enter for a new line'}
            onInput={(e) => {
              setDraft((e.target as HTMLTextAreaElement).value);
              if (c.channel === 'chat' && !typingSent.current) {
                typingSent.current = true;
                props.onTyping(true);
              }
            }}
            onBlur={() => {
              if (typingSent.current) {
                typingSent.current = false;
                props.onTyping(false);
              }
            }}
            onKeyDown={(e) => {
              if (c.channel === 'chat' && e.key === 'Enter' && !e.shiftKey) {
                e.preventDefault();
                void send();
              }
            }}
          />
          {files.length > 0 && (
            <div class="row small" aria-label="Attached files">
              {files.map((f) => (
                <span class="badge" key={f.id}>{f.name} ({fileSize(f.size)}) <button type="button" class="link" aria-label={`Remove ${f.name}`} onClick={() => setFiles((x) => x.filter((y) => y.id !== f.id))}>×</button></span>
              ))}
            </div>
          )}
          <div class="row" style="justify-content:space-between">
            {c.channel !== 'sms' && (
              <>
                <label class="button" style="font-weight:600" for="agent-attach">{uploading ? 'Uploading…' : 'Attach file'}</label>
                <input id="agent-attach" type="file" class="sr-only" onChange={(e) => { const f = (e.target as HTMLInputElement).files?.[0]; if (f) void upload(f); (e.target as HTMLInputElement).value = ''; }} />
              </>
            )}
            <span class="muted small" aria-live="polite" style="flex:1">
              {segments && draft ? `${segments.units} chars · ${segments.segments} segment${segments.segments === 1 ? '' : 's'} (${segments.encoding}) · ${segments.remaining} left` : c.channel === 'email' ? 'Sent from your team address with threading kept' : ''}
            </span>
            <button class="primary" type="submit" disabled={sending || !draft.trim()}>{c.channel === 'email' ? 'Send e-mail' : 'Send'}</button>
          </div>
        </form>
      )}
    </>
  );
}

async function download(contactId: string, attachmentId: string, name: string) {
  const res = await fetch(`/api/v1/contacts/${contactId}/attachments/${attachmentId}`, { headers: { authorization: `Bearer ${api.accessToken}` } });
  if (!res.ok) return notify('Download failed');
  const url = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function CustomerPanel(props: { contact: Contact | null; history: HistoryEntry[] }) {
  const c = props.contact;
  if (!c) return <div class="empty">The customer's details and history show here.</div>;
  const attrs = Object.entries(c.attributes).filter(([k]) => k !== 'name' && k !== 'widget');
  const earlier = props.history.filter((h) => h.contact.id !== c.id);
  return (
    <>
      <div class="block">
        <h2 style="margin-bottom:4px">{displayName(c)}</h2>
        <div class="muted">{c.customer ?? 'Unknown customer'}</div>
      </div>
      {attrs.length > 0 && (
        <div class="block">
          <h3>Details</h3>
          <table><tbody>{attrs.map(([k, v]) => <tr key={k}><td class="muted">{k.replace(/^field\./, '')}</td><td>{v}</td></tr>)}</tbody></table>
        </div>
      )}
      <div class="block">
        <h3>History on every channel</h3>
        {earlier.length === 0 ? <p class="muted">First contact.</p> : earlier.map((h) => (
          <div class="history-item" key={h.contact.id}>
            <div class="row"><ChannelIcon channel={h.contact.channel} /><strong>{CHANNEL_LABEL[h.contact.channel]}</strong><span class="muted small">{ago(h.contact.enqueued_at)}</span><span class={`badge ${h.contact.state}`}>{h.contact.state}</span></div>
            {h.contact.disposition && <div class="small">Outcome: {h.contact.disposition}</div>}
            {h.messages.slice(-2).map((m) => <div class="small muted" key={m.seq}>{m.direction === 'inbound' ? '←' : '→'} {m.body.slice(0, 120)}</div>)}
          </div>
        ))}
      </div>
    </>
  );
}

function WrapUp(props: { contact: Contact; queue?: Queue; onClose: () => void; run: (c: Record<string, unknown>) => Promise<unknown> }) {
  const codes = props.queue?.disposition_codes ?? [];
  const [code, setCode] = useState(codes[0] ?? '');
  const [notes, setNotes] = useState('');
  return (
    <Modal title={`Wrap up: ${displayName(props.contact)}`} onClose={props.onClose}>
      <form class="stack" onSubmit={(e) => {
        e.preventDefault();
        void props.run({ type: 'complete', contact_id: props.contact.id, disposition: code || undefined, notes: notes || undefined }).then(props.onClose);
      }}>
        <Field label="Outcome">
          {(id) => codes.length ? (
            <select id={id} value={code} onChange={(e) => setCode((e.target as HTMLSelectElement).value)} autoFocus>
              {codes.map((c) => <option key={c} value={c}>{c}</option>)}
            </select>
          ) : <input id={id} value={code} onInput={(e) => setCode((e.target as HTMLInputElement).value)} placeholder="e.g. resolved" autoFocus />}
        </Field>
        <Field label="Notes">{(id) => <textarea id={id} rows={4} value={notes} onInput={(e) => setNotes((e.target as HTMLTextAreaElement).value)} />}</Field>
        <div class="row" style="justify-content:flex-end">
          <button type="button" onClick={props.onClose}>Cancel</button>
          <button class="primary" type="submit">Finish</button>
        </div>
      </form>
    </Modal>
  );
}

/** A phone call's state and controls (hold, resume, hang up), live from the edge's call events. */
function CallBar(props: { contactId: string; call?: { state: string; reason: string | null } }) {
  const v = callView(props.call?.state, props.call?.reason);
  const { busy, error, run } = useAction();
  const post = (what: string, done: string) =>
    run(async () => {
      await api.post(`/api/v1/agent/contacts/${props.contactId}/call/${what}`);
      notify(done);
    });
  return (
    <div class="callbar row" role="region" aria-label="Call">
      <span class={`badge ${v.tone}`} role="status">{v.label}</span>
      {v.hold && <button disabled={busy} onClick={() => void post('hold', 'Putting the caller on hold')}>Hold</button>}
      {v.resume && <button disabled={busy} onClick={() => void post('resume', 'Taking the caller off hold')}>Resume</button>}
      {v.hangUp && <button class="danger" disabled={busy} onClick={() => void post('hangup', 'Hanging up; finish the contact when you are done')}>Hang up</button>}
      <FormError error={error} />
    </div>
  );
}

function Transfer(props: { contactId: string; voice: boolean; queues: Queue[]; onClose: () => void; run: (c: Record<string, unknown>) => Promise<unknown> }) {
  const [people, setPeople] = useState<{ id: string; name: string; activity: string }[]>([]);
  const [target, setTarget] = useState('');
  const [number, setNumber] = useState('');
  const dialled = dialable(number);
  useEffect(() => {
    void api.get<{ items: typeof people }>('/api/v1/agent/colleagues').then((l) => setPeople(l.items), () => {});
  }, []);
  const options = useMemo(() => [
    ...props.queues.map((q) => ({ value: `q:${q.id}`, label: `Queue: ${q.name}` })),
    ...people.map((p) => ({ value: `a:${p.id}`, label: `${p.name} (${p.activity.replace('_', ' ')})` })),
  ], [people, props.queues]);
  return (
    <Modal title="Transfer" onClose={props.onClose}>
      <form class="stack" onSubmit={(e) => {
        e.preventDefault();
        if (!target) return;
        const [kind, id] = target.split(':');
        if (kind === 'n') {
          if (dialled) void props.run({ type: 'transfer', contact_id: props.contactId, number: dialled }).then(props.onClose);
          return;
        }
        void props.run({ type: 'transfer', contact_id: props.contactId, ...(kind === 'q' ? { queue_id: id } : { agent_id: id }) }).then(props.onClose);
      }}>
        <Field label="To">
          {(id) => (
            <select id={id} value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)} autoFocus>
              <option value="">Choose a queue or colleague…</option>
              {options.map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
              {props.voice && <option value="n:">A phone number…</option>}
            </select>
          )}
        </Field>
        {target === 'n:' && (
          <Field label="Phone number" error={number && !dialled ? 'Digits, with + and the country code for abroad' : undefined}>
            {(id, invalid, by) => <input id={id} type="tel" value={number} aria-invalid={invalid} aria-describedby={by} placeholder="+1 415 555 0100" onInput={(e) => setNumber((e.target as HTMLInputElement).value)} />}
          </Field>
        )}
        <div class="row" style="justify-content:flex-end">
          <button type="button" onClick={props.onClose}>Cancel</button>
          <button class="primary" type="submit" disabled={!target || (target === 'n:' && !dialled)}>Transfer</button>
        </div>
      </form>
    </Modal>
  );
}
