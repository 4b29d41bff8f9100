// Plugins in the admin portal: upload WebAssembly components, see each version and what it asks
// for, grant it, replay a version against recent contacts before it runs, activate or roll back,
// and watch every call (what it decided or why it failed, with its logs) as it happens. Both lists
// come whole in one page (a tenant has few plugins and secrets).
import { useEffect, useState } from 'preact/hooks';
import { api, notify } from './state';
import { Empty, Field, FormError, Head, TextField, ago, useAction, useForm } from './ui';
import {
  activeVersion,
  bytes,
  capsEmpty,
  capsText,
  grantAll,
  micros,
  nameFromFile,
  names,
  outcomeBadge,
  uploadPath,
  versionAction,
  type Caps,
  type Plugin,
  type PluginCall,
  type Replay,
  type Secret,
} from '../lib/plugins';

const NEW = '';

export function Plugins() {
  const [plugins, setPlugins] = useState<Plugin[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const reload = () => api.get<{ items: Plugin[] }>('/api/v1/plugins').then((page) => setPlugins(page.items), () => setPlugins([]));
  useEffect(() => void reload(), []);
  const current = plugins?.find((p) => p.name === selected) ?? null;
  const replace = (p: Plugin) => setPlugins((old) => (old ?? []).filter((x) => x.name !== p.name).concat(p).sort((a, b) => a.name.localeCompare(b.name)));
  return (
    <>
      <Head
        title="Plugins"
        lead="Your own code, compiled to WebAssembly, decides where contacts go, what the IVR does next, what a bot answers first and what happens after a contact."
      />
      <div class="grid two">
        <div class="card">
          <h2>Your plugins</h2>
          {plugins && plugins.length === 0 ? (
            <Empty text="No plugins yet. Upload a component built with the Switchboard SDK (see tenant-plugins/README.md)." />
          ) : (
            <table>
              <thead><tr><th>Name</th><th>Running</th><th>Hooks</th><th>Changed</th></tr></thead>
              <tbody>
                {(plugins ?? []).map((p) => (
                  <tr key={p.name} class={p.name === selected ? 'selected' : undefined}>
                    <td><button class="link" aria-pressed={p.name === selected} onClick={() => setSelected(p.name)}><strong>{p.name}</strong></button></td>
                    <td>{p.active ? <span class="badge good">version {p.active}</span> : <span class="badge offline">off</span>}</td>
                    <td>{(activeVersion(p) ?? p.versions[p.versions.length - 1])?.hooks.join(', ')}</td>
                    <td>{ago(p.updated_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <Upload plugins={plugins ?? []} selected={selected} onUploaded={(p) => (replace(p), setSelected(p.name))} />
      </div>
      {current && <PluginDetail key={current.name} plugin={current} onChange={replace} onDeleted={() => (setSelected(null), void reload())} />}
      <Secrets />
    </>
  );
}

function Upload(props: { plugins: Plugin[]; selected: string | null; onUploaded: (p: Plugin) => void }) {
  const [target, setTarget] = useState<string>(props.selected ?? NEW);
  const [file, setFile] = useState<File | null>(null);
  const [inputKey, setInputKey] = useState(0);
  const f = useForm({ name: '', note: '' });
  useEffect(() => setTarget(props.selected ?? NEW), [props.selected]);
  const isNew = target === NEW;
  return (
    <form
      class="card stack"
      aria-label="Upload a plugin"
      onSubmit={(e) => {
        e.preventDefault();
        void f.submit(async (v) => {
          if (!file) throw new Error('Choose a .wasm component to upload.');
          const name = isNew ? v.name.trim() : target;
          const p = await api.request<Plugin>('POST', uploadPath(name, v.note, isNew), file);
          const n = p.versions[p.versions.length - 1]?.number;
          notify(`${p.name}: version ${n} uploaded and compiled. Replay it, then activate it.`);
          f.setValues({ name: '', note: '' });
          setFile(null);
          setInputKey((k) => k + 1);
          props.onUploaded(p);
        });
      }}
    >
      <h2>Upload</h2>
      <FormError error={f.error} />
      <Field label="Plugin">
        {(id) => (
          <select id={id} value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
            <option value={NEW}>A new plugin…</option>
            {props.plugins.map((p) => <option key={p.name} value={p.name}>New version of {p.name}</option>)}
          </select>
        )}
      </Field>
      {isNew && <TextField label="Name" value={f.values.name} onInput={f.set('name')} error={f.errors.name} hint="a-z, 0-9, '-' and '_'" />}
      <Field label="Component (.wasm)" error={f.errors.body}>
        {(id, invalid, by) => (
          <input
            key={inputKey}
            id={id}
            type="file"
            accept=".wasm,application/wasm"
            aria-invalid={invalid}
            aria-describedby={by}
            onChange={(e) => {
              const chosen = (e.target as HTMLInputElement).files?.[0] ?? null;
              setFile(chosen);
              if (chosen && isNew && !f.values.name) f.set('name')(nameFromFile(chosen.name));
            }}
          />
        )}
      </Field>
      <TextField label="Note" value={f.values.note} onInput={f.set('note')} error={f.errors.note} placeholder="What changed, e.g. gold customers get priority 90" />
      {f.busy && <div class="notice" role="status">Checking and compiling {file ? `${file.name} (${bytes(file.size)})` : 'the component'}… large components take a few seconds.</div>}
      <p class="muted small" style="margin:0">A new version is checked (a component of the Switchboard plugin world, at most 16 MiB) and compiled, but does not run until you activate it.</p>
      <button class="primary" type="submit" disabled={f.busy}>Upload</button>
    </form>
  );
}

function PluginDetail(props: { plugin: Plugin; onChange: (p: Plugin) => void; onDeleted: () => void }) {
  const p = props.plugin;
  const { busy, error, run: act } = useAction();
  const [replay, setReplay] = useState<Replay | null>(null);
  const [replaying, setReplaying] = useState<number | null>(null);
  const activate = (n: number, how: string) =>
    act(async () => {
      props.onChange(await api.post<Plugin>(`/api/v1/plugins/${encodeURIComponent(p.name)}/activate`, { version: n }));
      notify(how === 'roll back' ? `${p.name}: rolled back to version ${n}` : `${p.name}: version ${n} is running`);
    });
  const runReplay = (n: number) =>
    act(async () => {
      setReplaying(n);
      setReplay(null);
      try {
        setReplay(await api.post<Replay>(`/api/v1/plugins/${encodeURIComponent(p.name)}/versions/${n}/replay`, { contacts: 20 }));
      } finally {
        setReplaying(null);
      }
    });
  const running = activeVersion(p);
  return (
    <section class="card stack" style="margin-top:16px" aria-labelledby="plugin-title">
      <div class="row" style="justify-content:space-between">
        <h2 id="plugin-title" style="margin:0">
          {p.name} {running ? <span class="badge good">running version {running.number}</span> : <span class="badge offline">not running</span>}
        </h2>
        <div class="row">
          {running && <button disabled={busy} onClick={() => void act(async () => (props.onChange(await api.post<Plugin>(`/api/v1/plugins/${encodeURIComponent(p.name)}/deactivate`)), notify(`${p.name} stopped`)))}>Turn off</button>}
          <button class="danger" disabled={busy} onClick={() => void act(async () => (await api.del(`/api/v1/plugins/${encodeURIComponent(p.name)}`), notify(`${p.name} deleted`), props.onDeleted()))}>Delete plugin</button>
        </div>
      </div>
      <FormError error={error} />
      {running && !capsEmpty(p.missing_grants) && (
        <div class="banner warn" role="status">
          Version {running.number} asks for {capsText(p.missing_grants)}, which you have not granted: those calls are denied.{' '}
          <button class="link" disabled={busy} onClick={() => void act(async () => props.onChange(await api.put<Plugin>(`/api/v1/plugins/${encodeURIComponent(p.name)}/grants`, grantAll(p.grants, running.needs))))}>Grant what it asks</button>
        </div>
      )}
      <div>
        <h3>Versions</h3>
        <table>
          <thead><tr><th>Version</th><th>Uploaded</th><th>Size</th><th>Hooks</th><th>Asks for</th><th>Note</th><th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {[...p.versions].reverse().map((v) => {
              const action = versionAction(p, v);
              return (
                <tr key={v.number}>
                  <td><strong>{v.number}</strong> <span class="mono muted small" title={v.sha256}>{v.sha256.slice(0, 10)}</span></td>
                  <td>{ago(v.uploaded_at)}</td>
                  <td>{bytes(v.size)}</td>
                  <td>{v.hooks.join(', ')}</td>
                  <td>{capsText(v.needs)}</td>
                  <td>{v.note ?? ''}</td>
                  <td class="num">
                    <div class="row" style="justify-content:flex-end">
                      {v.hooks.includes('on-contact') && (
                        <button disabled={busy} aria-label={`Replay version ${v.number}`} onClick={() => void runReplay(v.number)}>Replay</button>
                      )}
                      {action === 'running' ? (
                        <span class="badge good">running</span>
                      ) : (
                        <button class={action === 'activate' ? 'primary' : undefined} disabled={busy} aria-label={`${action === 'activate' ? 'Activate' : 'Roll back to'} version ${v.number}`} onClick={() => void activate(v.number, action)}>
                          {action === 'activate' ? 'Activate' : 'Roll back'}
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {replaying !== null && <div class="notice" role="status">Replaying version {replaying} against your newest contacts…</div>}
      {replay && <ReplayResult replay={replay} active={p.active} />}
      <Grants plugin={p} onChange={props.onChange} />
      <Calls plugin={p.name} />
    </section>
  );
}

function ReplayResult({ replay, active }: { replay: Replay; active: number | null }) {
  return (
    <div aria-label={`Replay of version ${replay.version}`} role="region">
      <h3>Replay of version {replay.version}</h3>
      <p class="muted" style="margin:0 0 8px">
        {replay.replayed === 0
          ? 'There are no contacts yet to replay against.'
          : `${replay.changed} of ${replay.replayed} recent contacts would be handled differently than ${active ? `by version ${active}` : 'with no plugin'}. Nothing was changed.`}
      </p>
      {replay.entries.length > 0 && (
        <table>
          <thead><tr><th>Contact</th><th>Channel</th><th>{active ? `Version ${active} (running)` : 'Now (no plugin)'}</th><th>Version {replay.version}</th></tr></thead>
          <tbody>
            {replay.entries.map((e) => (
              <tr key={e.contact_id} class={e.changed ? 'changed' : undefined}>
                <td class="mono small">{e.contact_id.slice(-12)}</td>
                <td>{e.channel}</td>
                <td>{e.current}</td>
                <td>{e.changed && <span class="badge warn">changes</span>} {e.candidate}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Grants(props: { plugin: Plugin; onChange: (p: Plugin) => void }) {
  const g = props.plugin.grants;
  const f = useForm({ kv: g.kv, hosts: g.http_hosts.join('\n'), secrets: g.secrets.join('\n') });
  useEffect(() => f.setValues({ kv: g.kv, hosts: g.http_hosts.join('\n'), secrets: g.secrets.join('\n') }), [g.kv, g.http_hosts.join(), g.secrets.join()]);
  const fieldError = (prefix: string) => Object.entries(f.errors).find(([k]) => k.startsWith(prefix))?.[1];
  return (
    <form
      class="stack"
      aria-label="Grants"
      onSubmit={(e) => {
        e.preventDefault();
        void f.submit(async (v) => {
          const body: Caps = { kv: v.kv, http_hosts: names(v.hosts, true), secrets: names(v.secrets) };
          props.onChange(await api.put<Plugin>(`/api/v1/plugins/${encodeURIComponent(props.plugin.name)}/grants`, body));
          notify('Grants saved');
        });
      }}
    >
      <h3>Grants</h3>
      <p class="muted small" style="margin:0">A plugin gets nothing it is not granted here: no network but these hosts, no secrets but these, no storage unless ticked.</p>
      <FormError error={f.error} />
      <label class="check"><input type="checkbox" checked={f.values.kv} onChange={(e) => f.set('kv')((e.target as HTMLInputElement).checked)} /> Key-value store (10,000 keys for your plugins)</label>
      <div class="grid two">
        <Field label="HTTP hosts it may call" error={fieldError('http_hosts')} hint="One host name per line, e.g. crm.example.com">
          {(id, invalid, by) => <textarea id={id} rows={3} value={f.values.hosts} aria-invalid={invalid} aria-describedby={by} onInput={(e) => f.set('hosts')((e.target as HTMLTextAreaElement).value)} />}
        </Field>
        <Field label="Secrets it may read" error={fieldError('secrets')} hint="One secret name per line (set values below)">
          {(id, invalid, by) => <textarea id={id} rows={3} value={f.values.secrets} aria-invalid={invalid} aria-describedby={by} onInput={(e) => f.set('secrets')((e.target as HTMLTextAreaElement).value)} />}
        </Field>
      </div>
      <div><button type="submit" disabled={f.busy}>Save grants</button></div>
    </form>
  );
}

function Calls({ plugin }: { plugin: string }) {
  const [calls, setCalls] = useState<PluginCall[] | null>(null);
  const [older, setOlder] = useState<PluginCall[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  useEffect(() => {
    // Live: the newest calls every few seconds while the page is open.
    let stop = false;
    const load = () =>
      api.get<{ items: PluginCall[]; next_cursor: string | null }>(`/api/v1/plugins/${encodeURIComponent(plugin)}/calls?limit=25`).then(
        (page) => {
          if (stop) return;
          setCalls(page.items);
          setCursor((c) => c ?? page.next_cursor);
        },
        () => !stop && setCalls([]),
      );
    void load();
    const t = setInterval(load, 3000);
    return () => ((stop = true), clearInterval(t));
  }, [plugin]);
  const more = async () => {
    if (!cursor) return;
    const page = await api.get<{ items: PluginCall[]; next_cursor: string | null }>(`/api/v1/plugins/${encodeURIComponent(plugin)}/calls?limit=25&before=${encodeURIComponent(cursor)}`);
    setOlder((o) => [...o, ...page.items]);
    setCursor(page.next_cursor);
  };
  const shown = [...(calls ?? []), ...older];
  return (
    <div aria-label="Calls" role="region">
      <h3>Calls <span class="muted small">(live; kept 7 days)</span></h3>
      {calls && shown.length === 0 ? (
        <Empty text="No calls yet. Activate a version; every call then shows here with what it decided or why it failed." />
      ) : (
        <table>
          <thead><tr><th>When</th><th>Version</th><th>Hook</th><th>Contact</th><th>Took</th><th>Outcome</th><th>Decision or failure, and logs</th></tr></thead>
          <tbody>
            {shown.map((c) => {
              const o = outcomeBadge(c.outcome);
              return (
                <tr key={c.id}>
                  <td>{ago(c.at)}</td>
                  <td>{c.version}</td>
                  <td>{c.hook}</td>
                  <td class="mono small">{c.contact_id ? c.contact_id.slice(-12) : '—'}</td>
                  <td>{micros(c.duration_us)}</td>
                  <td><span class={`badge ${o.tone}`}>{o.label}</span></td>
                  <td>
                    <div>{c.detail || (c.outcome === 'ok' ? 'no change' : '')}</div>
                    {c.logs.length > 0 && (
                      <details>
                        <summary>{c.logs.length} log line{c.logs.length === 1 ? '' : 's'}</summary>
                        <pre class="logs">{c.logs.map((l) => `${l.level.padEnd(6)} ${l.message}${Object.keys(l.fields).length ? ' ' + JSON.stringify(l.fields) : ''}`).join('\n')}</pre>
                      </details>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {cursor && <button class="link" onClick={() => void more()}>Older calls</button>}
    </div>
  );
}

function Secrets() {
  const [secrets, setSecrets] = useState<Secret[] | null>(null);
  const reload = () => api.get<{ items: Secret[] }>('/api/v1/plugin-secrets').then((page) => setSecrets(page.items), () => setSecrets([]));
  useEffect(() => void reload(), []);
  const f = useForm({ name: '', value: '' });
  return (
    <div class="grid two" style="margin-top:16px">
      <div class="card">
        <h2>Plugin secrets</h2>
        <p class="muted small">Values are write-only: nobody can read them back, and a plugin gets one only when it is granted.</p>
        {secrets && secrets.length === 0 ? <Empty text="No secrets." /> : (
          <table>
            <thead><tr><th>Name</th><th>Set</th><th><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {(secrets ?? []).map((s) => (
                <tr key={s.name}>
                  <td class="mono">{s.name}</td>
                  <td>{ago(s.updated_at)}</td>
                  <td class="num"><button class="link" aria-label={`Delete secret ${s.name}`} onClick={() => api.del(`/api/v1/plugin-secrets/${encodeURIComponent(s.name)}`).then(() => (notify('Secret deleted'), void reload()), (e) => notify(e.message))}>Delete</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      <form class="card stack" aria-label="Set a secret" onSubmit={(e) => { e.preventDefault(); void f.submit(async (v) => {
        await api.post<Secret>('/api/v1/plugin-secrets', v);
        notify(`Secret ${v.name} saved`);
        f.setValues({ name: '', value: '' });
        void reload();
      }); }}>
        <h2>Set a secret</h2>
        <FormError error={f.error} />
        <TextField label="Secret name" value={f.values.name} onInput={f.set('name')} error={f.errors.name} placeholder="e.g. crm_token" />
        <TextField label="Value" type="password" autoComplete="off" value={f.values.value} onInput={f.set('value')} error={f.errors.value} hint="Setting an existing name replaces its value" />
        <button class="primary" type="submit" disabled={f.busy}>Save secret</button>
      </form>
    </div>
  );
}
