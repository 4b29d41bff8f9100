// The admin portal: everything the configuration API offers, with the server's field errors
// shown next to their inputs.
import { useEffect, useState } from 'preact/hooks';
import { api, me, notify, type User } from './state';
import { Empty, Field, FormError, Head, Modal, TextField, useForm } from './ui';
import { Billing } from './billing';
import { WidgetPreview, snippet } from './widgetAdmin';
import { Plugins } from './plugins';

/** The settings pages, in the order the navigation lists them. */
export const ADMIN_SECTIONS: { id: string; label: string; page: preact.ComponentType }[] = [
  { id: 'queues', label: 'Queues', page: Queues },
  { id: 'skills', label: 'Skills', page: Skills },
  { id: 'agents', label: 'Agents & users', page: Agents },
  { id: 'channels', label: 'Numbers & channels', page: Channels },
  { id: 'widget', label: 'Chat widget', page: WidgetSettings },
  { id: 'hours', label: 'Business hours', page: BusinessHours },
  { id: 'routing', label: 'Routing rules', page: RoutingRules },
  { id: 'sms', label: 'SMS provider', page: SmsProvider },
  { id: 'webhooks', label: 'Webhooks', page: Webhooks },
  { id: 'plugins', label: 'Plugins', page: Plugins },
  { id: 'api-keys', label: 'API keys & business', page: ApiKeys },
  { id: 'billing', label: 'Billing', page: Billing },
];

interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
export interface Queue {
  id: string;
  name: string;
  priority: number;
  service_level_secs: number;
  service_level_percent: number;
  offer_timeout_secs: number;
  required_skills: { skill_id: string; min_level: number }[];
  business_hours_id: string | null;
  disposition_codes: string[];
  record_calls: boolean;
  max_waiting: number | null;
}
interface Skill {
  id: string;
  name: string;
  description: string;
}
export interface Endpoint {
  id: string;
  kind: 'voice_number' | 'sms_number' | 'email_address' | 'chat_widget';
  address: string;
  name: string;
  queue_id: string | null;
  business_hours_id: string | null;
  allowed_origins: string[];
}
interface Hours {
  id: string;
  name: string;
  timezone: string;
  weekly: { day: string; open: string; close: string }[];
  closed_dates: string[];
}

/** Every item of a list endpoint (following cursors). */
export async function all<T>(path: string): Promise<T[]> {
  const out: T[] = [];
  let after: string | null = null;
  do {
    const page: Page<T> = await api.get<Page<T>>(`${path}?limit=200${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    out.push(...page.items);
    after = page.next_cursor;
  } while (after);
  return out;
}

function useList<T>(path: string): [T[] | null, () => void] {
  const [items, setItems] = useState<T[] | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    all<T>(path).then(setItems, () => setItems([]));
  }, [path, tick]);
  return [items, () => setTick((t) => t + 1)];
}

export function Admin({ section }: { section: string }) {
  const Section = ADMIN_SECTIONS.find((s) => s.id === section)?.page;
  return Section ? <Section /> : <Empty text="No such settings page." />;
}

const lines = (s: string) => s.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);
const num = (s: string) => (s.trim() === '' ? undefined : Number(s));

function Queues() {
  const [queues, reload] = useList<Queue>('/api/v1/queues');
  const [skills] = useList<Skill>('/api/v1/skills');
  const [hours] = useList<Hours>('/api/v1/business-hours');
  const [editing, setEditing] = useState<Queue | 'new' | null>(null);
  return (
    <>
      <Head title="Queues" lead="Where contacts wait for the right agent, on every channel." action={<button class="primary" onClick={() => setEditing('new')}>New queue</button>} />
      <div class="card">
        {queues && queues.length === 0 ? (
          <Empty text="No queues yet. Create one, then point a number, address or chat widget at it." />
        ) : (
          <table>
            <thead>
              <tr><th>Name</th><th>Service level</th><th>Offer timeout</th><th>Skills</th><th>Wrap-up codes</th><th><span class="sr-only">Actions</span></th></tr>
            </thead>
            <tbody>
              {(queues ?? []).map((q) => (
                <tr key={q.id}>
                  <td><strong>{q.name}</strong>{q.record_calls && <span class="badge" style="margin-left:6px">recorded</span>}</td>
                  <td>{q.service_level_percent}% in {q.service_level_secs}s</td>
                  <td>{q.offer_timeout_secs}s</td>
                  <td>{q.required_skills.map((r) => `${skills?.find((s) => s.id === r.skill_id)?.name ?? '?'} ≥${r.min_level}`).join(', ') || <span class="muted">any agent</span>}</td>
                  <td>{q.disposition_codes.join(', ') || <span class="muted">free text</span>}</td>
                  <td class="num"><button class="link" onClick={() => setEditing(q)}>Edit</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      {editing && (
        <QueueForm queue={editing === 'new' ? null : editing} skills={skills ?? []} hours={hours ?? []} onDone={() => (setEditing(null), reload())} />
      )}
    </>
  );
}

function QueueForm(props: { queue: Queue | null; skills: Skill[]; hours: Hours[]; onDone: () => void }) {
  const q = props.queue;
  const f = useForm({
    name: q?.name ?? '',
    priority: String(q?.priority ?? 50),
    service_level_secs: String(q?.service_level_secs ?? 20),
    service_level_percent: String(q?.service_level_percent ?? 80),
    offer_timeout_secs: String(q?.offer_timeout_secs ?? 20),
    skill: q?.required_skills[0]?.skill_id ?? '',
    min_level: String(q?.required_skills[0]?.min_level ?? 1),
    business_hours_id: q?.business_hours_id ?? '',
    codes: (q?.disposition_codes ?? ['resolved', 'follow-up', 'no answer needed']).join(', '),
    record_calls: q?.record_calls ?? false,
  });
  const v = f.values;
  return (
    <Modal title={q ? `Edit ${q.name}` : 'New queue'} onClose={props.onDone}>
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void f.submit(async (v) => {
            const body = {
              name: v.name,
              priority: num(v.priority),
              service_level_secs: num(v.service_level_secs),
              service_level_percent: num(v.service_level_percent),
              offer_timeout_secs: num(v.offer_timeout_secs),
              required_skills: v.skill ? [{ skill_id: v.skill, min_level: Number(v.min_level) }] : [],
              business_hours_id: v.business_hours_id || null,
              disposition_codes: lines(v.codes),
              record_calls: v.record_calls,
            };
            if (q) await api.put(`/api/v1/queues/${q.id}`, body);
            else await api.post('/api/v1/queues', body);
            notify(q ? 'Queue saved' : `Queue ${v.name} created`);
            props.onDone();
          });
        }}
      >
        <FormError error={f.error} />
        <TextField label="Name" value={v.name} onInput={f.set('name')} error={f.errors.name} required />
        <div class="grid two" style="grid-template-columns:1fr 1fr">
          <TextField label="Service level: answer within (s)" type="number" value={v.service_level_secs} onInput={f.set('service_level_secs')} error={f.errors.service_level_secs} />
          <TextField label="…for this share (%)" type="number" value={v.service_level_percent} onInput={f.set('service_level_percent')} error={f.errors.service_level_percent} />
          <TextField label="Offer timeout (s)" type="number" value={v.offer_timeout_secs} onInput={f.set('offer_timeout_secs')} error={f.errors.offer_timeout_secs} />
          <TextField label="Priority (0–100)" type="number" value={v.priority} onInput={f.set('priority')} error={f.errors.priority} />
        </div>
        <div class="grid two" style="grid-template-columns:2fr 1fr">
          <Field label="Required skill" error={f.errors['required_skills[0].skill_id']}>
            {(id, invalid) => (
              <select id={id} aria-invalid={invalid} value={v.skill} onChange={(e) => f.set('skill')((e.target as HTMLSelectElement).value)}>
                <option value="">Any agent</option>
                {props.skills.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
              </select>
            )}
          </Field>
          <TextField label="Minimum level" type="number" value={v.min_level} onInput={f.set('min_level')} error={f.errors['required_skills[0].min_level']} />
        </div>
        <Field label="Business hours" error={f.errors.business_hours_id}>
          {(id, invalid) => (
            <select id={id} aria-invalid={invalid} value={v.business_hours_id} onChange={(e) => f.set('business_hours_id')((e.target as HTMLSelectElement).value)}>
              <option value="">Always open</option>
              {props.hours.map((h) => <option key={h.id} value={h.id}>{h.name}</option>)}
            </select>
          )}
        </Field>
        <TextField label="Wrap-up codes" value={v.codes} onInput={f.set('codes')} error={f.errors.disposition_codes ?? Object.entries(f.errors).find(([k]) => k.startsWith('disposition_codes['))?.[1]} hint="Comma-separated; agents pick one when they finish. Empty: free text." />
        <label class="check"><input type="checkbox" checked={v.record_calls} onChange={(e) => f.set('record_calls')((e.target as HTMLInputElement).checked)} /> Record calls answered from this queue</label>
        <div class="row" style="justify-content:flex-end">
          {q && (
            <button type="button" class="danger" onClick={() => void f.submit(async () => { await api.del(`/api/v1/queues/${q.id}`); notify('Queue deleted'); props.onDone(); })}>Delete</button>
          )}
          <button type="button" onClick={props.onDone}>Cancel</button>
          <button class="primary" type="submit" disabled={f.busy}>{q ? 'Save' : 'Create queue'}</button>
        </div>
      </form>
    </Modal>
  );
}

function Skills() {
  const [skills, reload] = useList<Skill>('/api/v1/skills');
  const f = useForm({ name: '', description: '' });
  return (
    <>
      <Head title="Skills" lead="What agents are good at; queues ask for them with a minimum level." />
      <div class="grid two">
        <div class="card">
          {skills && skills.length === 0 ? <Empty text="No skills yet." /> : (
            <table>
              <thead><tr><th>Skill</th><th>Description</th><th><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {(skills ?? []).map((s) => (
                  <tr key={s.id}><td><strong>{s.name}</strong></td><td>{s.description}</td>
                    <td class="num"><button class="link" onClick={() => api.del(`/api/v1/skills/${s.id}`).then(reload, (e) => notify(e.message))}>Delete</button></td></tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <form class="card stack" onSubmit={(e) => { e.preventDefault(); void f.submit(async (v) => { await api.post('/api/v1/skills', v); f.setValues({ name: '', description: '' }); notify('Skill added'); reload(); }); }}>
          <h2>Add a skill</h2>
          <FormError error={f.error} />
          <TextField label="Name" value={f.values.name} onInput={f.set('name')} error={f.errors.name} placeholder="e.g. German, Billing" />
          <TextField label="Description" value={f.values.description} onInput={f.set('description')} error={f.errors.description} />
          <button class="primary" type="submit" disabled={f.busy}>Add skill</button>
        </form>
      </div>
    </>
  );
}

function Agents() {
  const [users, reload] = useList<User>('/api/v1/users');
  const [skills] = useList<Skill>('/api/v1/skills');
  const [invited, setInvited] = useState<{ name: string; link: string } | null>(null);
  const [editing, setEditing] = useState<User | null>(null);
  const f = useForm({ email: '', name: '', role: 'agent', capacity: '100', skill: '', level: '5' });
  return (
    <>
      <Head title="Agents & users" lead="Invite your team, give them skills and how much work they take at once." />
      <div class="grid two">
        <div class="card">
          <table>
            <thead><tr><th>Name</th><th>Role</th><th>Status</th><th>Capacity</th><th>Skills</th><th><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {(users ?? []).map((u) => (
                <tr key={u.id}>
                  <td><strong>{u.name}</strong><div class="muted small">{u.email}</div></td>
                  <td>{u.role}</td>
                  <td><span class={`badge ${u.status === 'active' ? 'good' : u.status === 'invited' ? 'warn' : 'offline'}`}>{u.status}</span></td>
                  <td class="num">{u.capacity}</td>
                  <td>{u.skills.map((s) => `${skills?.find((k) => k.id === s.skill_id)?.name ?? '?'} ${s.level}`).join(', ')}</td>
                  <td class="num">{u.role !== 'owner' || u.id === me.value?.user?.id ? <button class="link" onClick={() => setEditing(u)}>Edit</button> : null}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <form class="card stack" onSubmit={(e) => {
          e.preventDefault();
          void f.submit(async (v) => {
            const res = await api.post<{ user: User; invite_token: string }>('/api/v1/users', {
              email: v.email, name: v.name, role: v.role, capacity: num(v.capacity),
              skills: v.skill ? [{ skill_id: v.skill, level: Number(v.level) }] : [],
            });
            setInvited({ name: res.user.name, link: `${location.origin}/accept-invite#token=${encodeURIComponent(res.invite_token)}` });
            f.setValues({ email: '', name: '', role: 'agent', capacity: '100', skill: '', level: '5' });
            reload();
          });
        }}>
          <h2>Invite someone</h2>
          <FormError error={f.error} />
          {invited && (
            <div class="notice" role="status">
              Send {invited.name} this link (shown once): <input readOnly aria-label="Invitation link" value={invited.link} style="width:100%;margin-top:6px" onFocus={(e) => (e.target as HTMLInputElement).select()} />
            </div>
          )}
          <TextField label="E-mail" type="email" value={f.values.email} onInput={f.set('email')} error={f.errors.email} />
          <TextField label="Name" value={f.values.name} onInput={f.set('name')} error={f.errors.name} />
          <div class="grid two" style="grid-template-columns:1fr 1fr">
            <Field label="Role" error={f.errors.role}>
              {(id) => (
                <select id={id} value={f.values.role} onChange={(e) => f.set('role')((e.target as HTMLSelectElement).value)}>
                  <option value="agent">Agent</option><option value="supervisor">Supervisor</option><option value="admin">Admin</option>
                </select>
              )}
            </Field>
            <TextField label="Capacity" type="number" value={f.values.capacity} onInput={f.set('capacity')} error={f.errors.capacity} hint="100 = one call or a few chats" />
            <Field label="Skill" error={f.errors['skills[0].skill_id']}>
              {(id) => (
                <select id={id} value={f.values.skill} onChange={(e) => f.set('skill')((e.target as HTMLSelectElement).value)}>
                  <option value="">None</option>
                  {(skills ?? []).map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
                </select>
              )}
            </Field>
            <TextField label="Level (1–10)" type="number" value={f.values.level} onInput={f.set('level')} error={f.errors['skills[0].level']} />
          </div>
          <button class="primary" type="submit" disabled={f.busy}>Send invitation</button>
        </form>
      </div>
      {editing && <UserForm user={editing} skills={skills ?? []} onDone={() => (setEditing(null), reload())} />}
    </>
  );
}

function UserForm(props: { user: User; skills: Skill[]; onDone: () => void }) {
  const u = props.user;
  const f = useForm({ name: u.name, role: u.role as string, capacity: String(u.capacity), disabled: u.status === 'disabled', skills: u.skills });
  return (
    <Modal title={`Edit ${u.name}`} onClose={props.onDone}>
      <form class="stack" onSubmit={(e) => { e.preventDefault(); void f.submit(async (v) => {
        await api.put(`/api/v1/users/${u.id}`, { email: u.email, name: v.name, role: v.role, disabled: v.disabled, capacity: Number(v.capacity), channel_costs: {}, skills: v.skills });
        notify('Saved'); props.onDone();
      }); }}>
        <FormError error={f.error} />
        <TextField label="Name" value={f.values.name} onInput={f.set('name')} error={f.errors.name} />
        <TextField label="Capacity" type="number" value={f.values.capacity} onInput={f.set('capacity')} error={f.errors.capacity} />
        {u.role !== 'owner' && (
          <Field label="Role" error={f.errors.role}>
            {(id) => (
              <select id={id} value={f.values.role} onChange={(e) => f.set('role')((e.target as HTMLSelectElement).value)}>
                <option value="agent">Agent</option><option value="supervisor">Supervisor</option><option value="admin">Admin</option>
              </select>
            )}
          </Field>
        )}
        <fieldset class="stack" style="border:1px solid var(--line);border-radius:8px">
          <legend>Skills</legend>
          {props.skills.map((s) => {
            const have = f.values.skills.find((x) => x.skill_id === s.id);
            return (
              <div class="row" key={s.id}>
                <label class="check" style="flex:1"><input type="checkbox" checked={!!have} onChange={(e) => f.set('skills')((e.target as HTMLInputElement).checked ? [...f.values.skills, { skill_id: s.id, level: 5 }] : f.values.skills.filter((x) => x.skill_id !== s.id))} /> {s.name}</label>
                {have && <input type="number" aria-label={`${s.name} level`} min={1} max={10} value={have.level} style="width:70px" onInput={(e) => f.set('skills')(f.values.skills.map((x) => x.skill_id === s.id ? { ...x, level: Number((e.target as HTMLInputElement).value) } : x))} />}
              </div>
            );
          })}
          {props.skills.length === 0 && <span class="muted">No skills defined yet.</span>}
        </fieldset>
        {u.role !== 'owner' && <label class="check"><input type="checkbox" checked={f.values.disabled} onChange={(e) => f.set('disabled')((e.target as HTMLInputElement).checked)} /> Disabled (cannot log in)</label>}
        <div class="row" style="justify-content:flex-end">
          <button type="button" onClick={props.onDone}>Cancel</button>
          <button class="primary" type="submit" disabled={f.busy}>Save</button>
        </div>
      </form>
    </Modal>
  );
}

const KIND_LABEL: Record<Endpoint['kind'], string> = { voice_number: 'Phone number', sms_number: 'SMS number', email_address: 'E-mail address', chat_widget: 'Chat widget' };

function Channels() {
  const [endpoints, reload] = useList<Endpoint>('/api/v1/endpoints');
  const [queues] = useList<Queue>('/api/v1/queues');
  const [hours] = useList<Hours>('/api/v1/business-hours');
  const [editing, setEditing] = useState<Endpoint | null>(null);
  return (
    <>
      <Head title="Numbers & channels" lead="Phone and SMS numbers, inbound e-mail addresses and chat widgets, each landing in a queue." />
      <div class="grid two">
        <div class="card">
          {endpoints && endpoints.length === 0 ? <Empty text="Nothing yet: add an e-mail address or a chat widget to start." /> : (
            <table>
              <thead><tr><th>Name</th><th>Kind</th><th>Address</th><th>Queue</th><th><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {(endpoints ?? []).map((e) => (
                  <tr key={e.id}>
                    <td><strong>{e.name}</strong></td><td>{KIND_LABEL[e.kind]}</td>
                    <td class="mono">{e.address}{e.allowed_origins.length > 0 && <div class="muted small">{e.allowed_origins.join(', ')}</div>}</td>
                    <td>{queues?.find((q) => q.id === e.queue_id)?.name ?? '—'}</td>
                    <td class="num">
                      <button class="link" onClick={() => setEditing(e)}>Edit</button>
                      <button class="link" onClick={() => api.del(`/api/v1/endpoints/${e.id}`).then(reload, (x) => notify(x.message))}>Remove</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <EndpointForm key={editing?.id ?? 'new'} endpoint={editing} queues={queues ?? []} hours={hours ?? []} onDone={() => (setEditing(null), reload())} />
      </div>
    </>
  );
}

function EndpointForm(props: { endpoint: Endpoint | null; queues: Queue[]; hours: Hours[]; onDone: () => void }) {
  const e0 = props.endpoint;
  const blank = { kind: 'email_address' as Endpoint['kind'], address: '', name: '', queue_id: '', business_hours_id: '', origins: '' };
  const f = useForm(
    e0
      ? { kind: e0.kind, address: e0.address, name: e0.name, queue_id: e0.queue_id ?? '', business_hours_id: e0.business_hours_id ?? '', origins: e0.allowed_origins.join('\n') }
      : blank,
  );
  const v = f.values;
  return (
    <form class="card stack" onSubmit={(e) => { e.preventDefault(); void f.submit(async (v) => {
      const body = { kind: v.kind, address: v.kind === 'chat_widget' ? undefined : v.address, name: v.name, queue_id: v.queue_id || null, business_hours_id: v.business_hours_id || null, allowed_origins: v.kind === 'chat_widget' ? lines(v.origins) : [] };
      if (e0) await api.put(`/api/v1/endpoints/${e0.id}`, body);
      else await api.post('/api/v1/endpoints', body);
      notify(e0 ? 'Saved' : `${KIND_LABEL[v.kind]} added`);
      if (!e0) f.setValues({ ...v, address: '', name: '', origins: '' });
      props.onDone();
    }); }}>
      <h2>{e0 ? `Edit ${e0.name}` : 'Add a channel'}</h2>
      <FormError error={f.error} />
      <Field label="Kind" error={f.errors.kind}>
        {(id) => (
          <select id={id} value={v.kind} disabled={!!e0} onChange={(e) => f.set('kind')((e.target as HTMLSelectElement).value as Endpoint['kind'])}>
            {Object.entries(KIND_LABEL).map(([k, l]) => <option key={k} value={k}>{l}</option>)}
          </select>
        )}
      </Field>
      <TextField label="Name" value={v.name} onInput={f.set('name')} error={f.errors.name} placeholder="e.g. Support line" />
      {v.kind !== 'chat_widget' ? (
        <TextField label={v.kind === 'email_address' ? 'Address' : 'Number (E.164)'} value={v.address} onInput={f.set('address')} error={f.errors.address} placeholder={v.kind === 'email_address' ? 'help@yourdomain.com' : '+14155550100'} />
      ) : (
        <Field label="Websites allowed to embed it" error={f.errors.allowed_origins ?? Object.entries(f.errors).find(([k]) => k.startsWith('allowed_origins'))?.[1]} hint="One origin per line, e.g. https://www.example.com">
          {(id, invalid, by) => <textarea id={id} aria-invalid={invalid} aria-describedby={by} rows={3} value={v.origins} onInput={(e) => f.set('origins')((e.target as HTMLTextAreaElement).value)} />}
        </Field>
      )}
      <Field label="Queue" error={f.errors.queue_id}>
        {(id, invalid) => (
          <select id={id} aria-invalid={invalid} value={v.queue_id} onChange={(e) => f.set('queue_id')((e.target as HTMLSelectElement).value)}>
            <option value="">Choose a queue…</option>
            {props.queues.map((q) => <option key={q.id} value={q.id}>{q.name}</option>)}
          </select>
        )}
      </Field>
      <Field label="Business hours" error={f.errors.business_hours_id}>
        {(id) => (
          <select id={id} value={v.business_hours_id} onChange={(e) => f.set('business_hours_id')((e.target as HTMLSelectElement).value)}>
            <option value="">Same as the queue</option>
            {props.hours.map((h) => <option key={h.id} value={h.id}>{h.name}</option>)}
          </select>
        )}
      </Field>
      <div class="row">
        {e0 && <button type="button" onClick={props.onDone}>Cancel</button>}
        <button class="primary" type="submit" disabled={f.busy}>{e0 ? 'Save' : 'Add'}</button>
      </div>
    </form>
  );
}

function WidgetSettings() {
  const [endpoints] = useList<Endpoint>('/api/v1/endpoints');
  const widgets = (endpoints ?? []).filter((e) => e.kind === 'chat_widget');
  const [chosen, setChosen] = useState<string>('');
  const [title, setTitle] = useState('Chat with us');
  const [color, setColor] = useState('#4f46e5');
  const w = widgets.find((x) => x.id === chosen) ?? widgets[0];
  return (
    <>
      <Head title="Chat widget" lead="Paste one line on your website; visitors chat with your agents from any page." />
      {endpoints && widgets.length === 0 ? (
        <div class="card"><Empty text="No chat widget yet: add one under Numbers & channels (kind: Chat widget) with your website's address." /></div>
      ) : w ? (
        <div class="grid two">
          <div class="card stack">
            {widgets.length > 1 && (
              <Field label="Widget">
                {(id) => <select id={id} value={w.id} onChange={(e) => setChosen((e.target as HTMLSelectElement).value)}>{widgets.map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}</select>}
              </Field>
            )}
            <TextField label="Title" value={title} onInput={setTitle} />
            <Field label="Colour">{(id) => <input id={id} type="color" value={color} onInput={(e) => setColor((e.target as HTMLInputElement).value)} />}</Field>
            <div>
              <h3>Paste this before &lt;/body&gt;</h3>
              <pre class="snippet" aria-label="Embed snippet">{snippet(location.origin, w.address, title, color)}</pre>
              <button onClick={() => navigator.clipboard?.writeText(snippet(location.origin, w.address, title, color)).then(() => notify('Snippet copied'))}>Copy snippet</button>
            </div>
            <p class="muted small">Allowed websites: {w.allowed_origins.join(', ') || 'none yet — add them under Numbers & channels'}.</p>
          </div>
          <div class="card">
            <h2>Live preview</h2>
            <WidgetPreview title={title} color={color} />
          </div>
        </div>
      ) : null}
    </>
  );
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DAY_LABEL: Record<string, string> = { mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday', sun: 'Sunday' };

function BusinessHours() {
  const [list, reload] = useList<Hours>('/api/v1/business-hours');
  const [editing, setEditing] = useState<Hours | null>(null);
  return (
    <>
      <Head title="Business hours" lead="When queues take contacts; outside them, chats become messages and calls hear your closed prompt." />
      <div class="grid two">
        <div class="card">
          {list && list.length === 0 ? <Empty text="Always open: no hours defined." /> : (
            <table>
              <thead><tr><th>Name</th><th>Time zone</th><th>Open</th><th><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>{(list ?? []).map((h) => (
                <tr key={h.id}><td><strong>{h.name}</strong></td><td>{h.timezone}</td>
                  <td class="small">{h.weekly.map((s) => `${s.day} ${s.open}–${s.close}`).join(', ')}{h.closed_dates.length > 0 && <div class="muted">closed {h.closed_dates.join(', ')}</div>}</td>
                  <td class="num">
                    <button class="link" onClick={() => setEditing(h)}>Edit</button>
                    <button class="link" onClick={() => api.del(`/api/v1/business-hours/${h.id}`).then(reload, (e) => notify(e.message))}>Delete</button>
                  </td></tr>
              ))}</tbody>
            </table>
          )}
        </div>
        <HoursForm key={editing?.id ?? 'new'} hours={editing} onDone={() => (setEditing(null), reload())} />
      </div>
    </>
  );
}

function HoursForm(props: { hours: Hours | null; onDone: () => void }) {
  const h = props.hours;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const f = useForm({
    name: h?.name ?? 'Office hours',
    timezone: h?.timezone ?? zone,
    days: Object.fromEntries(
      DAYS.map((d) => {
        const span = h?.weekly.find((s) => s.day === d);
        return [d, h ? { on: !!span, open: span?.open ?? '09:00', close: span?.close ?? '17:00' } : { on: !['sat', 'sun'].includes(d), open: '09:00', close: '17:00' }];
      }),
    ) as Record<string, { on: boolean; open: string; close: string }>,
    closed: (h?.closed_dates ?? []).join(', '),
  });
  const v = f.values;
  return (
    <form class="card stack" onSubmit={(e) => { e.preventDefault(); void f.submit(async (v) => {
      const body = { name: v.name, timezone: v.timezone, weekly: DAYS.filter((d) => v.days[d].on).map((d) => ({ day: d, open: v.days[d].open, close: v.days[d].close })), closed_dates: lines(v.closed) };
      if (h) await api.put(`/api/v1/business-hours/${h.id}`, body);
      else await api.post('/api/v1/business-hours', body);
      notify('Hours saved');
      props.onDone();
    }); }}>
      <h2>{h ? `Edit ${h.name}` : 'New schedule'}</h2>
      <FormError error={f.error} />
      <TextField label="Name" value={v.name} onInput={f.set('name')} error={f.errors.name} />
      <TextField label="Time zone" value={v.timezone} onInput={f.set('timezone')} error={f.errors.timezone} hint="IANA name, e.g. Europe/Berlin" />
      <fieldset class="stack" style="border:1px solid var(--line);border-radius:8px">
        <legend>Weekly</legend>
        {DAYS.map((d, i) => (
          <div class="row" key={d}>
            <label class="check" style="width:130px"><input type="checkbox" checked={v.days[d].on} onChange={(e) => f.set('days')({ ...v.days, [d]: { ...v.days[d], on: (e.target as HTMLInputElement).checked } })} /> {DAY_LABEL[d]}</label>
            <input type="time" aria-label={`${DAY_LABEL[d]} opens`} value={v.days[d].open} disabled={!v.days[d].on} aria-invalid={!!f.errors[`weekly[${i}].open`]} onInput={(e) => f.set('days')({ ...v.days, [d]: { ...v.days[d], open: (e.target as HTMLInputElement).value } })} />
            <span aria-hidden="true">–</span>
            <input type="time" aria-label={`${DAY_LABEL[d]} closes`} value={v.days[d].close} disabled={!v.days[d].on} onInput={(e) => f.set('days')({ ...v.days, [d]: { ...v.days[d], close: (e.target as HTMLInputElement).value } })} />
          </div>
        ))}
        {Object.entries(f.errors).filter(([k]) => k.startsWith('weekly')).map(([k, m]) => <span class="field-error" key={k}>{k}: {m}</span>)}
      </fieldset>
      <TextField label="Closed dates" value={v.closed} onInput={f.set('closed')} error={f.errors.closed_dates ?? Object.entries(f.errors).find(([k]) => k.startsWith('closed_dates'))?.[1]} hint="YYYY-MM-DD, comma-separated (holidays)" />
      <div class="row">
        {h && <button type="button" onClick={props.onDone}>Cancel</button>}
        <button class="primary" type="submit" disabled={f.busy}>{h ? 'Save' : 'Save schedule'}</button>
      </div>
    </form>
  );
}

interface Rules {
  voice_interrupts_text: boolean;
  max_per_channel: Record<string, number>;
  sticky_secs: number;
  misses_before_away: number;
  requeue_unanswered_secs: number | null;
  secs_per_priority_point: number;
  wrap_up_secs: number;
}

function RoutingRules() {
  const [rules, setRules] = useState<Rules | null>(null);
  const f = useForm({ sticky: '', misses: '', requeue: '', ageing: '', wrap: '', voice: false, maxChat: '', maxEmail: '', maxSms: '' });
  useEffect(() => {
    void api.get<Rules>('/api/v1/routing-rules').then((r) => {
      setRules(r);
      f.setValues({ sticky: String(r.sticky_secs), misses: String(r.misses_before_away), requeue: r.requeue_unanswered_secs == null ? '' : String(r.requeue_unanswered_secs), ageing: String(r.secs_per_priority_point), wrap: String(r.wrap_up_secs), voice: r.voice_interrupts_text, maxChat: String(r.max_per_channel.chat ?? ''), maxEmail: String(r.max_per_channel.email ?? ''), maxSms: String(r.max_per_channel.sms ?? '') });
    });
  }, []);
  const v = f.values;
  return (
    <>
      <Head title="Routing rules" lead="How work is shared between agents across all queues." />
      {rules && (
        <form class="card stack" style="max-width:640px" onSubmit={(e) => { e.preventDefault(); void f.submit(async (v) => {
          const max: Record<string, number> = {};
          if (v.maxChat) max.chat = Number(v.maxChat);
          if (v.maxEmail) max.email = Number(v.maxEmail);
          if (v.maxSms) max.sms = Number(v.maxSms);
          setRules(await api.put<Rules>('/api/v1/routing-rules', { voice_interrupts_text: v.voice, max_per_channel: max, sticky_secs: Number(v.sticky), misses_before_away: Number(v.misses), requeue_unanswered_secs: v.requeue ? Number(v.requeue) : null, secs_per_priority_point: Number(v.ageing), wrap_up_secs: Number(v.wrap) }));
          notify('Routing rules saved');
        }); }}>
          <FormError error={f.error} />
          <div class="grid two" style="grid-template-columns:1fr 1fr">
            <TextField label="Wrap-up time (s)" type="number" value={v.wrap} onInput={f.set('wrap')} error={f.errors.wrap_up_secs} />
            <TextField label="Missed offers before away" type="number" value={v.misses} onInput={f.set('misses')} error={f.errors.misses_before_away} hint="0: never" />
            <TextField label="Sticky agent window (s)" type="number" value={v.sticky} onInput={f.set('sticky')} error={f.errors.sticky_secs} hint="Returning customers go to their last agent first" />
            <TextField label="Re-queue unanswered text after (s)" type="number" value={v.requeue} onInput={f.set('requeue')} error={f.errors.requeue_unanswered_secs} hint="Empty: never" />
            <TextField label="Ageing: seconds per priority point" type="number" value={v.ageing} onInput={f.set('ageing')} error={f.errors.secs_per_priority_point} />
          </div>
          <h3>Most at once per agent</h3>
          <div class="grid two" style="grid-template-columns:1fr 1fr 1fr">
            <TextField label="Chats" type="number" value={v.maxChat} onInput={f.set('maxChat')} error={f.errors['max_per_channel.chat']} />
            <TextField label="E-mails" type="number" value={v.maxEmail} onInput={f.set('maxEmail')} error={f.errors['max_per_channel.email']} />
            <TextField label="SMS" type="number" value={v.maxSms} onInput={f.set('maxSms')} error={f.errors['max_per_channel.sms']} />
          </div>
          <label class="check"><input type="checkbox" checked={v.voice} onChange={(e) => f.set('voice')((e.target as HTMLInputElement).checked)} /> Calls may interrupt agents busy with text work</label>
          <div><button class="primary" type="submit" disabled={f.busy}>Save rules</button></div>
        </form>
      )}
    </>
  );
}

function SmsProvider() {
  const [current, setCurrent] = useState<{ account_sid: string; auth_token_hint: string; base_url: string; inbound_webhook_url: string } | null>(null);
  const f = useForm({ account_sid: '', auth_token: '', base_url: '' });
  useEffect(() => {
    api.get<typeof current>('/api/v1/channels/sms').then(setCurrent, () => setCurrent(null));
  }, []);
  return (
    <>
      <Head title="SMS provider" lead="A Twilio-compatible account sends and receives your text messages." />
      <div class="grid two">
        <form class="card stack" onSubmit={(e) => { e.preventDefault(); void f.submit(async (v) => { setCurrent(await api.put('/api/v1/channels/sms', { ...v, base_url: v.base_url || undefined })); notify('SMS account saved'); }); }}>
          <FormError error={f.error} />
          <TextField label="Account SID" value={f.values.account_sid} onInput={f.set('account_sid')} error={f.errors.account_sid} placeholder={current?.account_sid ?? 'AC…'} />
          <TextField label="Auth token" type="password" value={f.values.auth_token} onInput={f.set('auth_token')} error={f.errors.auth_token} hint={current ? `Current token ends in ${current.auth_token_hint}` : undefined} />
          <TextField label="REST base URL" value={f.values.base_url} onInput={f.set('base_url')} error={f.errors.base_url} hint="Leave empty for https://api.twilio.com" />
          <button class="primary" type="submit" disabled={f.busy}>Save</button>
        </form>
        {current && (
          <div class="card stack">
            <h2>Point your numbers here</h2>
            <p class="muted">Set this as each number's incoming-message webhook (HTTP POST):</p>
            <pre class="snippet">{current.inbound_webhook_url}</pre>
          </div>
        )}
      </div>
    </>
  );
}

interface Webhook {
  id: string;
  name: string;
  url: string;
  events: string[];
  active: boolean;
  secret?: string;
}

function Webhooks() {
  const [hooks, reload] = useList<Webhook>('/api/v1/webhooks');
  const [secret, setSecret] = useState<string | null>(null);
  const f = useForm({ name: '', url: '', events: 'contact.*' });
  return (
    <>
      <Head title="Webhooks" lead="Your systems hear about every contact as it happens, signed and retried." />
      <div class="grid two">
        <div class="card">
          {hooks && hooks.length === 0 ? <Empty text="No webhooks." /> : (
            <table>
              <thead><tr><th>Name</th><th>URL</th><th>Events</th><th>State</th></tr></thead>
              <tbody>{(hooks ?? []).map((h) => <tr key={h.id}><td><strong>{h.name}</strong></td><td class="mono">{h.url}</td><td>{h.events.join(', ')}</td><td><span class={`badge ${h.active ? 'good' : 'offline'}`}>{h.active ? 'active' : 'paused'}</span></td></tr>)}</tbody>
            </table>
          )}
        </div>
        <form class="card stack" onSubmit={(e) => { e.preventDefault(); void f.submit(async (v) => {
          const h = await api.post<Webhook>('/api/v1/webhooks', { name: v.name, url: v.url, events: lines(v.events), active: true });
          setSecret(h.secret ?? null); reload();
        }); }}>
          <h2>Add a webhook</h2>
          <FormError error={f.error} />
          {secret && <div class="notice" role="status">Signing secret (shown once): <code>{secret}</code></div>}
          <TextField label="Name" value={f.values.name} onInput={f.set('name')} error={f.errors.name} />
          <TextField label="URL" value={f.values.url} onInput={f.set('url')} error={f.errors.url} placeholder="https://example.com/hooks/switchboard" />
          <TextField label="Events" value={f.values.events} onInput={f.set('events')} error={f.errors.events ?? Object.entries(f.errors).find(([k]) => k.startsWith('events'))?.[1]} hint="Comma-separated, e.g. contact.done, contact.abandoned or contact.*" />
          <button class="primary" type="submit" disabled={f.busy}>Add webhook</button>
        </form>
      </div>
    </>
  );
}

interface ApiKey {
  id: string;
  name: string;
  role: string;
  prefix: string;
  created_at: number;
}

function ApiKeys() {
  const [keys, reload] = useList<ApiKey>('/api/v1/api-keys');
  const [secret, setSecret] = useState<string | null>(null);
  const f = useForm({ name: '', role: 'supervisor' });
  const t = useForm({ name: me.value?.tenant.name ?? '' });
  return (
    <>
      <Head title="API keys & business" lead="Keys let your own systems use the API; the business name is what customers see." />
      <div class="grid two">
        <div class="card">
          {keys && keys.length === 0 ? <Empty text="No API keys." /> : (
            <table>
              <thead><tr><th>Name</th><th>Role</th><th>Starts with</th><th>Created</th><th><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>{(keys ?? []).map((k) => (
                <tr key={k.id}><td><strong>{k.name}</strong></td><td>{k.role}</td><td class="mono">{k.prefix}…</td><td>{new Date(k.created_at).toLocaleDateString()}</td>
                  <td class="num"><button class="link" onClick={() => api.del(`/api/v1/api-keys/${k.id}`).then(() => { notify('Key revoked'); reload(); }, (e) => notify(e.message))}>Revoke</button></td></tr>
              ))}</tbody>
            </table>
          )}
        </div>
        <div class="stack">
          <form class="card stack" onSubmit={(e) => { e.preventDefault(); void f.submit(async (v) => {
            const k = await api.post<{ key: string }>('/api/v1/api-keys', v);
            setSecret(k.key); f.setValues({ name: '', role: 'supervisor' }); reload();
          }); }}>
            <h2>New API key</h2>
            <FormError error={f.error} />
            {secret && <div class="notice" role="status">Copy the key now (shown once): <input readOnly aria-label="New API key" value={secret} style="width:100%;margin-top:6px" onFocus={(e) => (e.target as HTMLInputElement).select()} /></div>}
            <TextField label="Name" value={f.values.name} onInput={f.set('name')} error={f.errors.name} placeholder="e.g. CRM sync" />
            <Field label="Role" error={f.errors.role}>
              {(id) => (
                <select id={id} value={f.values.role} onChange={(e) => f.set('role')((e.target as HTMLSelectElement).value)}>
                  <option value="agent">Agent</option><option value="supervisor">Supervisor</option><option value="admin">Admin</option>
                </select>
              )}
            </Field>
            <button class="primary" type="submit" disabled={f.busy}>Create key</button>
          </form>
          {me.value?.role === 'owner' && (
            <form class="card stack" onSubmit={(e) => { e.preventDefault(); void t.submit(async (v) => {
              const tenant = await api.put<{ id: string; name: string }>('/api/v1/tenant', v);
              if (me.value) me.value = { ...me.value, tenant: { ...me.value.tenant, name: tenant.name } };
              notify('Business renamed');
            }); }}>
              <h2>Business</h2>
              <FormError error={t.error} />
              <TextField label="Business name" value={t.values.name} onInput={t.set('name')} error={t.errors.name} />
              <button class="primary" type="submit" disabled={t.busy}>Save</button>
            </form>
          )}
        </div>
      </div>
    </>
  );
}
