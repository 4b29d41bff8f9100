// Live wallboard state: queue statistics and agent states from the console sockets' events.

export interface QueueStats {
  queue_id: string;
  waiting: number;
  longest_wait_secs: number;
  offered: number;
  answered: number;
  abandoned: number;
  service_level_percent: number | null;
  average_answer_secs: number;
  estimated_wait_secs: number | null;
  agents: Record<string, number>;
}

export interface AgentState {
  agent_id: string;
  activity: string;
  reason?: string | null;
  since: number;
}

/** The socket's `queue_stats` entries carry milliseconds; the REST view carries seconds. */
export function normalizeStats(raw: Record<string, unknown>): QueueStats {
  const s = (raw.stats as Record<string, unknown> | undefined) ?? raw;
  const num = (v: unknown) => (typeof v === 'number' ? v : 0);
  const secs = (k: string) => (typeof s[k + '_secs'] === 'number' ? num(s[k + '_secs']) : Math.floor(num(s[k + '_ms']) / 1000));
  return {
    queue_id: String(raw.queue_id ?? s.queue_id),
    waiting: num(s.waiting),
    longest_wait_secs: secs('longest_wait'),
    offered: num(s.offered),
    answered: num(s.answered),
    abandoned: num(s.abandoned),
    service_level_percent: typeof s.service_level_percent === 'number' ? s.service_level_percent : null,
    average_answer_secs: secs('average_answer'),
    estimated_wait_secs: typeof s.estimated_wait_secs === 'number' ? s.estimated_wait_secs : null,
    agents: (s.agents as Record<string, number>) ?? {},
  };
}

export interface Board {
  queues: Record<string, QueueStats>;
  agents: Record<string, AgentState>;
  /** When the stats were last pushed (ms), so longest waits keep counting between pushes. */
  at: number;
}

export const emptyBoard = (): Board => ({ queues: {}, agents: {}, at: 0 });

/** Applies one socket frame; returns a new board when it changed anything, else the same one. */
export function reduce(board: Board, frame: Record<string, unknown>, now: number): Board {
  switch (frame.type) {
    case 'hello': {
      const queues: Record<string, QueueStats> = {};
      for (const q of (frame.queues as Record<string, unknown>[]) ?? []) {
        const s = normalizeStats(q);
        queues[s.queue_id] = s;
      }
      return { ...board, queues, at: now };
    }
    case 'queue_stats': {
      const queues = { ...board.queues };
      for (const q of (frame.queues as Record<string, unknown>[]) ?? []) {
        const s = normalizeStats(q);
        queues[s.queue_id] = s;
      }
      return { ...board, queues, at: now };
    }
    case 'agent': {
      const id = String(frame.agent_id);
      const presence = frame.presence as Record<string, unknown> | string | undefined;
      const reason = typeof presence === 'object' && presence ? ((presence.away as string) ?? null) : null;
      const prev = board.agents[id];
      const activity = String(frame.activity);
      const since = prev && prev.activity === activity ? prev.since : Number(frame.at ?? now);
      return { ...board, agents: { ...board.agents, [id]: { agent_id: id, activity, reason, since } } };
    }
    default:
      return board;
  }
}

/** Totals across queues for the header tiles. */
export function totals(board: Board) {
  const qs = Object.values(board.queues);
  const sum = (k: 'waiting' | 'offered' | 'answered' | 'abandoned') => qs.reduce((n, q) => n + q[k], 0);
  const longest = qs.reduce((n, q) => Math.max(n, q.longest_wait_secs), 0);
  const byActivity: Record<string, number> = {};
  for (const a of Object.values(board.agents)) byActivity[a.activity] = (byActivity[a.activity] ?? 0) + 1;
  const levels = qs.filter((q) => q.service_level_percent !== null);
  const serviceLevel = levels.length
    ? Math.round(levels.reduce((n, q) => n + (q.service_level_percent ?? 0), 0) / levels.length)
    : null;
  return { waiting: sum('waiting'), offered: sum('offered'), answered: sum('answered'), abandoned: sum('abandoned'), longest, byActivity, serviceLevel };
}

/** `m:ss` or `h:mm:ss`. */
export function duration(secs: number): string {
  const s = Math.max(0, Math.floor(secs));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

/** Service level against its goal: good, warning (within 10 points) or bad. */
export function levelTone(percent: number | null, goal: number): 'good' | 'warn' | 'bad' | 'none' {
  if (percent === null) return 'none';
  if (percent >= goal) return 'good';
  return percent >= goal - 10 ? 'warn' : 'bad';
}

/** Local midnight of the day containing `now` (for "today" charts). */
export function startOfDay(now: number): number {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}
