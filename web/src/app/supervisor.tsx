// The supervisor's screens: a live wallboard (queues, agents and their work, today's charts),
// following an agent's live conversation with whisper and barge-in, and contact history search.
import { useEffect, useRef, useState } from 'preact/hooks';
import { LiveSocket, type SocketState } from '../lib/socket';
import { merge, type Message } from '../lib/conversation';
import { type Board, duration, emptyBoard, levelTone, reduce, startOfDay, totals } from '../lib/wallboard';
import { api, notify, socketToken, wsBase, type User } from './state';
import { all, type Queue } from './admin';
import { type Contact, displayName } from './console';
import { CHANNEL_LABEL, ChannelIcon, Field, FormError, ago, time } from './ui';

interface Interval {
  start: number;
  offered: number;
  answered: number;
  answered_in_time: number;
  abandoned: number;
  service_level_percent: number | null;
}

export function Supervisor({ tab }: { tab: 'live' | 'history' }) {
  return tab === 'live' ? <Wallboard /> : <History />;
}

let chartsAt = 0;

function Wallboard() {
  const [board, setBoard] = useState<Board>(emptyBoard());
  const [link, setLink] = useState<SocketState>('connecting');
  const [queues, setQueues] = useState<Queue[]>([]);
  const [users, setUsers] = useState<User[]>([]);
  const [work, setWork] = useState<Contact[]>([]);
  const [intervals, setIntervals] = useState<Interval[]>([]);
  const [following, setFollowing] = useState<string | null>(null);
  const [followed, setFollowed] = useState<Message[]>([]);
  const [now, setNow] = useState(Date.now());
  const followRef = useRef<string | null>(null);
  followRef.current = following;

  async function loadWork() {
    const pages = await Promise.all(['offered', 'connected', 'wrap_up'].map((s) => api.get<{ items: Contact[] }>(`/api/v1/contacts/search?state=${s}&limit=200`)));
    setWork(pages.flatMap((p) => p.items));
  }
  async function loadCharts() {
    chartsAt = Date.now();
    const since = startOfDay(Date.now());
    const s = await api.get<{ items: Interval[] }>(`/api/v1/stats/intervals?since=${since}&minutes=15`);
    setIntervals(s.items);
  }
  async function loadAgents() {
    const l = await api.get<{ items: { agent_id: string; activity: string; reason: string | null }[] }>('/api/v1/stats/agents');
    setBoard((b) => l.items.reduce((acc, a) => reduce(acc, { type: 'agent', agent_id: a.agent_id, activity: a.activity, presence: a.reason ? { away: a.reason } : a.activity, at: Date.now() }, Date.now()), b));
  }

  useEffect(() => {
    void all<Queue>('/api/v1/queues').then(setQueues, () => {});
    void all<User>('/api/v1/users').then(setUsers, () => {});
    let workTimer: ReturnType<typeof setTimeout> | undefined;
    const s = new LiveSocket({
      url: async () => `${wsBase()}/api/v1/supervisor/ws?access_token=${encodeURIComponent(await socketToken())}`,
      onState: setLink,
      onOpen: () => {
        void loadAgents();
        void loadWork();
        void loadCharts();
      },
      onMessage: (f) => {
        setBoard((b) => reduce(b, f, Date.now()));
        if (f.type === 'contact') {
          // Coalesce bursts of contact events into one reload of who works on what.
          clearTimeout(workTimer);
          workTimer = setTimeout(() => {
            void loadWork();
            // The chart moves in 15-minute steps: a refresh every few seconds is plenty.
            if (Date.now() - chartsAt > 5_000) void loadCharts();
          }, 300);
        }
        if (f.type === 'message' && f.contact_id === followRef.current) setFollowed((m) => merge(m, [f.message as Message]));
      },
    });
    const tick = setInterval(() => setNow(Date.now()), 1000);
    const charts = setInterval(() => void loadCharts(), 30_000);
    return () => {
      s.close();
      clearInterval(tick);
      clearInterval(charts);
    };
  }, []);

  useEffect(() => {
    if (!following) return;
    setFollowed([]);
    void api.get<{ items: Message[] }>(`/api/v1/contacts/${following}/messages`).then((l) => setFollowed((m) => merge(m, l.items)));
  }, [following]);

  const t = totals(board);
  const drift = Math.floor((now - board.at) / 1000);
  const name = (id: string | null) => users.find((u) => u.id === id)?.name ?? 'Agent';
  const followedContact = work.find((c) => c.id === following);
  const agentRows = users.filter((u) => u.status === 'active').map((u) => ({ u, state: board.agents[u.id], work: work.filter((c) => c.agent_id === u.id) }));

  return (
    <>
      <div class="page-head">
        <div>
          <h1>Wallboard</h1>
          <p class="lead">Live across every queue and channel. <span class="status-line" style="display:inline" role="status">{link === 'open' ? '● Live' : 'Reconnecting…'}</span></p>
        </div>
      </div>
      <div class="tiles" aria-label="Totals">
        <Tile label="Waiting" value={String(t.waiting)} tone={t.waiting > 0 ? 'warn' : undefined} />
        <Tile label="Longest wait" value={duration(t.longest + (t.waiting ? drift : 0))} tone={t.longest > 60 ? 'bad' : undefined} />
        <Tile label="Service level" value={t.serviceLevel === null ? '—' : `${t.serviceLevel}%`} tone={levelTone(t.serviceLevel, 80) as 'good'} />
        <Tile label="Answered" value={String(t.answered)} />
        <Tile label="Abandoned" value={String(t.abandoned)} tone={t.abandoned ? 'bad' : undefined} />
        <Tile label="Agents available" value={`${t.byActivity.available ?? 0} / ${Object.values(t.byActivity).reduce((a, b) => a + b, 0) - (t.byActivity.offline ?? 0)}`} />
      </div>
      <div class="grid two">
        <div class="card" style="grid-column:1 / -1;overflow-x:auto">
          <h2>Queues</h2>
          <table aria-label="Queues">
            <thead><tr><th>Queue</th><th class="num">Waiting</th><th class="num">Longest</th><th class="num">Service level</th><th class="num">Answered</th><th class="num">Abandoned</th><th>Agents</th></tr></thead>
            <tbody>
              {queues.map((q) => {
                const s = board.queues[q.id];
                const tone = levelTone(s?.service_level_percent ?? null, q.service_level_percent);
                return (
                  <tr key={q.id} data-queue={q.name}>
                    <td><strong>{q.name}</strong></td>
                    <td class="num" data-cell="waiting">{s?.waiting ?? 0}</td>
                    <td class="num">{duration((s?.longest_wait_secs ?? 0) + (s?.waiting ? drift : 0))}</td>
                    <td class="num">{s?.service_level_percent == null ? '—' : <span class={`badge ${tone}`}>{s.service_level_percent}%</span>}</td>
                    <td class="num">{s?.answered ?? 0}</td>
                    <td class="num">{s?.abandoned ?? 0}</td>
                    <td class="small">{Object.entries(s?.agents ?? {}).filter(([, n]) => n > 0).map(([a, n]) => `${n} ${a.replace('_', ' ')}`).join(', ') || '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </div>
      <div class="grid two" style="margin-top:16px">
        <div class="card">
          <h2>Today</h2>
          <Chart intervals={intervals} />
        </div>
        <div class="card">
          <h2>Agents</h2>
          <table aria-label="Agents">
            <thead><tr><th>Agent</th><th>State</th><th class="num">For</th><th>Working on</th></tr></thead>
            <tbody>
              {agentRows.map(({ u, state, work }) => (
                <tr key={u.id}>
                  <td><strong>{u.name}</strong><div class="muted small">{u.role}</div></td>
                  <td><span class={`badge ${state?.activity ?? 'offline'}`}><span class="dot" />{(state?.activity ?? 'offline').replace('_', ' ')}{state?.reason ? ` · ${state.reason}` : ''}</span></td>
                  <td class="num">{state ? duration((now - state.since) / 1000) : '—'}</td>
                  <td>
                    {work.length === 0 ? <span class="muted">—</span> : work.map((c) => (
                      <div class="row" key={c.id} style="gap:6px">
                        <ChannelIcon channel={c.channel} /> {displayName(c)} <span class={`badge ${c.state}`}>{c.state.replace('_', ' ')}</span>
                        {c.state === 'connected' && ['chat', 'sms', 'email'].includes(c.channel) && <button class="link" onClick={() => setFollowing(c.id)}>Follow</button>}
                      </div>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
      <div class="grid" style="margin-top:16px">
        <div class="card" aria-label="Followed conversation">
          {following ? <Follow contactId={following} contact={followedContact} agent={name(followedContact?.agent_id ?? null)} messages={followed} onClose={() => setFollowing(null)} /> : (
            <div class="empty"><h2>Follow a conversation</h2><p>Pick "Follow" next to an agent's live chat, SMS or e-mail to read along, whisper to the agent or join in.</p></div>
          )}
        </div>
      </div>
    </>
  );
}

function Tile(props: { label: string; value: string; tone?: 'good' | 'warn' | 'bad' | 'none' }) {
  return (
    <div class={`tile ${props.tone ?? ''}`}>
      <div class="label">{props.label}</div>
      <div class="value">{props.value}</div>
    </div>
  );
}

/** Offered / answered / abandoned bars per 15 minutes with the service level as a line. */
function Chart({ intervals }: { intervals: Interval[] }) {
  const shown = intervals.filter((i, n) => i.offered || i.answered || i.abandoned || n >= intervals.length - 16);
  const from = shown.length ? intervals.indexOf(shown[0]) : 0;
  const data = intervals.slice(from);
  const max = Math.max(4, ...data.map((i) => Math.max(i.offered, i.answered + i.abandoned)));
  const W = 600, H = 200, pad = 28, bw = data.length ? (W - pad) / data.length : 0;
  const y = (v: number) => H - 20 - (v / max) * (H - 40);
  const sl = data.map((i, n) => (i.service_level_percent == null ? null : [pad + n * bw + bw / 2, H - 20 - (i.service_level_percent / 100) * (H - 40)] as const));
  const path = sl.filter(Boolean).map((p, n) => `${n ? 'L' : 'M'}${p![0].toFixed(1)},${p![1].toFixed(1)}`).join(' ');
  const total = data.reduce((a, i) => ({ o: a.o + i.offered, a: a.a + i.answered, x: a.x + i.abandoned }), { o: 0, a: 0, x: 0 });
  return (
    <>
      <div class="legend" aria-hidden="true">
        <span style="--c:#c7d2fe">Offered</span><span style="--c:#4f46e5">Answered</span><span style="--c:#e11d48">Abandoned</span><span style="--c:#0f7b4a">Service level</span>
      </div>
      <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Today: ${total.o} offered, ${total.a} answered, ${total.x} abandoned`}>
        {[0, 0.5, 1].map((f) => <line key={f} x1={pad} x2={W} y1={y(max * f)} y2={y(max * f)} stroke="#e3e6ef" />)}
        <text x="0" y={y(max) + 4} font-size="10" fill="#5b6178">{max}</text>
        <text x="0" y={y(0) + 4} font-size="10" fill="#5b6178">0</text>
        {data.map((i, n) => {
          const x = pad + n * bw;
          const w = Math.max(2, bw * 0.7);
          return (
            <g key={i.start}>
              <rect x={x} y={y(i.offered)} width={w} height={y(0) - y(i.offered)} fill="#c7d2fe" rx="2" />
              <rect x={x + w * 0.2} y={y(i.answered)} width={w * 0.6} height={y(0) - y(i.answered)} fill="#4f46e5" rx="1" />
              <rect x={x + w * 0.2} y={y(i.answered + i.abandoned)} width={w * 0.6} height={y(i.answered) - y(i.answered + i.abandoned)} fill="#e11d48" rx="1" />
              {n % 4 === 0 && <text x={x} y={H - 4} font-size="10" fill="#5b6178">{time(i.start)}</text>}
            </g>
          );
        })}
        {path && <path d={path} fill="none" stroke="#0f7b4a" stroke-width="2" />}
      </svg>
      <p class="muted small">Totals today: {total.o} offered · {total.a} answered · {total.x} abandoned</p>
    </>
  );
}

function Follow(props: { contactId: string; contact?: Contact; agent: string; messages: Message[]; onClose: () => void }) {
  const [text, setText] = useState('');
  const [mode, setMode] = useState<'whisper' | 'barge'>('whisper');
  const [error, setError] = useState<string | null>(null);
  const list = useRef<HTMLDivElement>(null);
  useEffect(() => list.current?.scrollTo({ top: list.current.scrollHeight }), [props.messages.length]);
  return (
    <div class="stack" style="height:100%">
      <div class="row" style="justify-content:space-between">
        <div>
          <h2 style="margin:0">{props.contact ? displayName(props.contact) : 'Conversation'} with {props.agent}</h2>
          <span class="muted small">{props.contact ? CHANNEL_LABEL[props.contact.channel] : ''} · following silently</span>
        </div>
        <button onClick={props.onClose}>Stop following</button>
      </div>
      <div class="thread" ref={list} role="log" aria-label="Followed messages" style="max-height:320px;border-radius:8px">
        {props.messages.map((m) => (
          <div key={m.seq} class={`bubble ${m.direction}`}>
            {m.direction === 'internal' && <div class="small"><strong>Whisper</strong></div>}
            {m.body}
            <div class="meta">{time(m.at)}</div>
          </div>
        ))}
      </div>
      <form class="stack" onSubmit={(e) => {
        e.preventDefault();
        setError(null);
        const path = `/api/v1/contacts/${props.contactId}/${mode}`;
        api.post(path, { body: text }).then(() => { setText(''); notify(mode === 'whisper' ? 'Whispered to the agent' : 'Sent to the customer'); }, (e: Error) => setError(e.message));
      }}>
        <FormError error={error} />
        <div class="row" role="radiogroup" aria-label="Who sees it">
          <label class="check"><input type="radio" name="mode" checked={mode === 'whisper'} onChange={() => setMode('whisper')} /> Whisper to the agent</label>
          <label class="check"><input type="radio" name="mode" checked={mode === 'barge'} onChange={() => setMode('barge')} /> Barge in (customer sees it)</label>
        </div>
        <div class="row">
          <label class="sr-only" for="supervisor-text">Message</label>
          <input id="supervisor-text" style="flex:1" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} placeholder={mode === 'whisper' ? 'Only the agent sees this' : 'The customer sees this'} />
          <button class="primary" type="submit" disabled={!text.trim()}>{mode === 'whisper' ? 'Whisper' : 'Send to customer'}</button>
        </div>
      </form>
    </div>
  );
}

function History() {
  const [queues, setQueues] = useState<Queue[]>([]);
  const [users, setUsers] = useState<User[]>([]);
  const [filters, setFilters] = useState({ customer: '', channel: '', state: '', queue_id: '', agent_id: '', since: '', until: '' });
  const [rows, setRows] = useState<(Contact & { disposition?: string | null })[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [detail, setDetail] = useState<Message[]>([]);

  useEffect(() => {
    void all<Queue>('/api/v1/queues').then(setQueues, () => {});
    void all<User>('/api/v1/users').then(setUsers, () => {});
    void search(false);
  }, []);
  useEffect(() => {
    if (open) void api.get<{ items: Message[] }>(`/api/v1/contacts/${open}/messages`).then((l) => setDetail(l.items), () => setDetail([]));
  }, [open]);

  async function search(more: boolean) {
    const q = new URLSearchParams({ limit: '50' });
    for (const [k, v] of Object.entries(filters)) {
      if (!v) continue;
      q.set(k, k === 'since' || k === 'until' ? String(new Date(v + 'T00:00').getTime() + (k === 'until' ? 86_400_000 : 0)) : v);
    }
    if (more && cursor) q.set('after', cursor);
    try {
      setError(null);
      const page = await api.get<{ items: typeof rows; next_cursor: string | null }>(`/api/v1/contacts/search?${q}`);
      setRows((r) => (more ? [...r, ...page.items] : page.items));
      setCursor(page.next_cursor);
    } catch (e) {
      setError((e as Error).message);
    }
  }
  const set = (k: keyof typeof filters) => (e: Event) => setFilters((f) => ({ ...f, [k]: (e.target as HTMLInputElement).value }));
  const user = (id: string | null) => users.find((u) => u.id === id)?.name ?? '—';

  return (
    <>
      <div class="page-head"><div><h1>Contact history</h1><p class="lead">Every contact on every channel, newest first.</p></div></div>
      <form class="card row" style="align-items:flex-end;margin-bottom:16px" onSubmit={(e) => (e.preventDefault(), void search(false))} aria-label="Filters">
        <Field label="Customer">{(id) => <input id={id} value={filters.customer} onInput={set('customer')} placeholder="e-mail or number" />}</Field>
        <Field label="Channel">{(id) => <select id={id} value={filters.channel} onChange={set('channel')}><option value="">Any</option>{Object.entries(CHANNEL_LABEL).map(([k, l]) => <option key={k} value={k}>{l}</option>)}</select>}</Field>
        <Field label="Outcome">{(id) => <select id={id} value={filters.state} onChange={set('state')}><option value="">Any</option>{['queued', 'offered', 'connected', 'wrap_up', 'done', 'abandoned', 'overflowed', 'failed'].map((s) => <option key={s} value={s}>{s.replace('_', ' ')}</option>)}</select>}</Field>
        <Field label="Queue">{(id) => <select id={id} value={filters.queue_id} onChange={set('queue_id')}><option value="">Any</option>{queues.map((q) => <option key={q.id} value={q.id}>{q.name}</option>)}</select>}</Field>
        <Field label="Agent">{(id) => <select id={id} value={filters.agent_id} onChange={set('agent_id')}><option value="">Any</option>{users.map((u) => <option key={u.id} value={u.id}>{u.name}</option>)}</select>}</Field>
        <Field label="From">{(id) => <input id={id} type="date" value={filters.since} onInput={set('since')} />}</Field>
        <Field label="To">{(id) => <input id={id} type="date" value={filters.until} onInput={set('until')} />}</Field>
        <button class="primary" type="submit">Search</button>
      </form>
      <FormError error={error} />
      <div class="grid two">
        <div class="card">
          {rows.length === 0 ? <p class="muted">No contacts match.</p> : (
            <table aria-label="Contacts">
              <thead><tr><th>When</th><th>Customer</th><th>Queue</th><th>Agent</th><th>Outcome</th></tr></thead>
              <tbody>
                {rows.map((c) => (
                  <tr key={c.id}>
                    <td class="small">{new Date(c.enqueued_at).toLocaleString()}<div class="muted">{ago(c.enqueued_at)}</div></td>
                    <td><div class="row" style="gap:6px"><ChannelIcon channel={c.channel} /><button class="link" onClick={() => setOpen(c.id)}>{displayName(c)}</button></div></td>
                    <td>{queues.find((q) => q.id === c.queue_id)?.name ?? '—'}</td>
                    <td>{user(c.agent_id)}</td>
                    <td><span class={`badge ${c.state}`}>{c.state.replace('_', ' ')}</span>{c.disposition && <div class="small">{c.disposition}</div>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {cursor && <button style="margin-top:10px" onClick={() => void search(true)}>Load more</button>}
        </div>
        <div class="card" aria-label="Contact detail">
          {open ? (
            <>
              <h2>Conversation</h2>
              <div class="thread" role="log" style="max-height:480px;border-radius:8px">
                {detail.length === 0 ? <p class="muted">No messages (a call or a task).</p> : detail.map((m) => <div key={m.seq} class={`bubble ${m.direction}`}>{m.subject && <strong>{m.subject}<br /></strong>}{m.body}<div class="meta">{time(m.at)}</div></div>)}
              </div>
            </>
          ) : <div class="empty">Pick a contact to read its conversation.</div>}
        </div>
      </div>
    </>
  );
}
