// Tenant plugins in the admin portal: the API's shapes and the words the page uses for them.

/** What a plugin may use: asked for by a version, granted by the tenant. */
export interface Caps {
  kv: boolean;
  http_hosts: string[];
  secrets: string[];
}

export interface PluginVersion {
  number: number;
  sha256: string;
  size: number;
  hooks: string[];
  needs: Caps;
  uploaded_at: number;
  note: string | null;
}

export interface Plugin {
  name: string;
  active: number | null;
  grants: Caps;
  missing_grants: Caps;
  versions: PluginVersion[];
  updated_at: number;
}

export interface LogLine {
  level: string;
  message: string;
  fields: Record<string, string>;
}

export interface PluginCall {
  id: string;
  version: number;
  hook: string;
  contact_id: string | null;
  at: number;
  duration_us: number;
  outcome: string;
  detail: string;
  logs: LogLine[];
}

export interface ReplayEntry {
  contact_id: string;
  channel: string;
  current: string;
  candidate: string;
  changed: boolean;
}

export interface Replay {
  version: number;
  replayed: number;
  changed: number;
  entries: ReplayEntry[];
}

export interface Secret {
  name: string;
  updated_at: number;
}

export const NO_CAPS: Caps = { kv: false, http_hosts: [], secrets: [] };

/** True when it asks for (or is granted) nothing. */
export const capsEmpty = (c: Caps) => !c.kv && c.http_hosts.length === 0 && c.secrets.length === 0;

/** "the key-value store, HTTP to crm.example, the secret crm_token", or "nothing". */
export function capsText(c: Caps): string {
  const parts: string[] = [];
  if (c.kv) parts.push('the key-value store');
  if (c.http_hosts.length) parts.push(`HTTP to ${c.http_hosts.join(', ')}`);
  if (c.secrets.length) parts.push(`${c.secrets.length === 1 ? 'the secret' : 'the secrets'} ${c.secrets.join(', ')}`);
  return parts.length ? parts.join('; ') : 'nothing';
}

const uniq = (xs: string[]) => [...new Set(xs)];

/** The grants plus everything a version asks for. */
export const grantAll = (grants: Caps, needs: Caps): Caps => ({
  kv: grants.kv || needs.kv,
  http_hosts: uniq([...grants.http_hosts, ...needs.http_hosts]),
  secrets: uniq([...grants.secrets, ...needs.secrets]),
});

/** One name per line or comma, trimmed, without repeats (host names lower-cased). */
export function names(text: string, lower = false): string[] {
  return uniq(
    text
      .split(/[\n,]/)
      .map((x) => (lower ? x.trim().toLowerCase() : x.trim()))
      .filter(Boolean),
  );
}

/** The active version, if any. */
export const activeVersion = (p: Plugin) => p.versions.find((v) => v.number === p.active) ?? null;

/** What the button next to a version does: nothing (it runs), run it, or roll back to it. */
export function versionAction(p: Plugin, v: PluginVersion): 'running' | 'activate' | 'roll back' {
  if (p.active === v.number) return 'running';
  if (p.active !== null && v.number < p.active) return 'roll back';
  return 'activate';
}

/** A call's outcome in words, with the badge tone. */
export function outcomeBadge(outcome: string): { label: string; tone: 'good' | 'warn' | 'bad' } {
  const words: Record<string, [string, 'good' | 'warn' | 'bad']> = {
    ok: ['ok', 'good'],
    timeout: ['timed out', 'bad'],
    memory: ['out of memory', 'bad'],
    trap: ['crashed', 'bad'],
    stack_overflow: ['stack overflow', 'bad'],
    host_calls: ['too many host calls', 'bad'],
    bad_output: ['bad answer', 'bad'],
    busy: ['busy', 'warn'],
    unavailable: ['unavailable', 'warn'],
  };
  const [label, tone] = words[outcome] ?? [outcome.replace(/_/g, ' '), 'bad'];
  return { label, tone };
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

export function micros(us: number): string {
  if (us < 1000) return `${us} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 1 : 0)} ms`;
  return `${(us / 1_000_000).toFixed(1)} s`;
}

/** Where an upload goes: a new plugin (`?name=`) or a new version of one. */
export function uploadPath(plugin: string, note: string, isNew: boolean): string {
  const q = new URLSearchParams();
  if (isNew) q.set('name', plugin);
  if (note.trim()) q.set('note', note.trim());
  const query = q.toString();
  const base = isNew ? '/api/v1/plugins' : `/api/v1/plugins/${encodeURIComponent(plugin)}/versions`;
  return query ? `${base}?${query}` : base;
}

/** The plugin name a file suggests: `vip_routing.wasm` → `vip-routing`. */
export function nameFromFile(file: string): string {
  return file
    .replace(/\.wasm$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/_/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
}
