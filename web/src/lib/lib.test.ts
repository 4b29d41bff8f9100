import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Api, ApiError, memoryTokens } from './api';
import { LiveSocket, backoff } from './socket';
import { fileSize, lastSeq, merge, unread, type Message } from './conversation';
import { countSegments } from './segments';
import { quote, replySubject } from './email';
import { duration, emptyBoard, levelTone, normalizeStats, reduce, totals } from './wallboard';
import { match } from './router';
import { shortcutFor } from './shortcuts';
import { FakeSocket } from './fakeSocket.test-util';

const json = (status: number, body: unknown) =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('Api', () => {
  it('refreshes an expired token once for concurrent requests and retries them', async () => {
    const tokens = memoryTokens({ access_token: 'old', refresh_token: 'r1', expires_in: 900 });
    let refreshes = 0;
    const fetchImpl = vi.fn(async (url: string, init: RequestInit) => {
      if (url.endsWith('/auth/refresh')) {
        refreshes++;
        expect(JSON.parse(String(init.body))).toEqual({ refresh_token: 'r1' });
        await new Promise((r) => setTimeout(r, 5));
        return json(200, { access_token: 'new', refresh_token: 'r2', expires_in: 900 });
      }
      const auth = new Headers(init.headers).get('authorization');
      return auth === 'Bearer new' ? json(200, { ok: url }) : json(401, { error: { code: 'unauthorized', message: 'expired' } });
    });
    const api = new Api(tokens, '', fetchImpl as unknown as typeof fetch);
    const [a, b] = await Promise.all([api.get<{ ok: string }>('/a'), api.get<{ ok: string }>('/b')]);
    expect([a.ok, b.ok]).toEqual(['/a', '/b']);
    expect(refreshes).toBe(1);
    expect(tokens.get()?.refresh_token).toBe('r2');
  });

  it('logs out when the refresh token is refused', async () => {
    const tokens = memoryTokens({ access_token: 'old', refresh_token: 'spent', expires_in: 900 });
    const api = new Api(tokens, '', (async () => json(401, { error: { code: 'unauthorized', message: 'no' } })) as unknown as typeof fetch);
    let out = 0;
    api.onLoggedOut = () => out++;
    await expect(api.get('/x')).rejects.toBeInstanceOf(ApiError);
    expect(out).toBe(1);
    expect(tokens.get()).toBeNull();
  });

  it('hands field errors to forms, first message per field', async () => {
    const body = {
      error: {
        code: 'validation_failed',
        message: 'invalid input',
        fields: [
          { field: 'name', code: 'required', message: 'required' },
          { field: 'name', code: 'too_long', message: 'second' },
          { field: 'email', code: 'invalid', message: 'not an e-mail address' },
        ],
      },
    };
    const api = new Api(memoryTokens(), '', (async () => json(422, body)) as unknown as typeof fetch);
    const e = (await api.post('/api/v1/queues', {}).catch((e) => e)) as ApiError;
    expect(e.status).toBe(422);
    expect(e.code).toBe('validation_failed');
    expect(e.fieldMap()).toEqual({ name: 'required', email: 'not an e-mail address' });
  });

  it('makes an error of a non-JSON failure and sends JSON with its type', async () => {
    let seen: RequestInit | undefined;
    const api = new Api(memoryTokens(), 'http://x', (async (_u: string, init: RequestInit) => {
      seen = init;
      return new Response('gateway down', { status: 502, statusText: 'Bad Gateway' });
    }) as unknown as typeof fetch);
    const e = (await api.put('/y', { a: 1 }).catch((e) => e)) as ApiError;
    expect([e.status, e.message]).toEqual([502, 'Bad Gateway']);
    expect(new Headers(seen?.headers).get('content-type')).toBe('application/json');
    expect(seen?.body).toBe('{"a":1}');
  });
});

describe('LiveSocket', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.all = [];
  });
  afterEach(() => vi.useRealTimers());

  it('backs off exponentially with jitter, capped', () => {
    expect(backoff(0, 500, 15_000, () => 0)).toBe(250);
    expect(backoff(0, 500, 15_000, () => 1)).toBe(500);
    expect(backoff(3, 500, 15_000, () => 1)).toBe(4000);
    expect(backoff(30, 500, 15_000, () => 1)).toBe(15_000);
  });

  it('answers commands by reference, reconnects after a drop, and fails pending commands', async () => {
    const frames: unknown[] = [];
    const states: string[] = [];
    let opens = 0;
    const s = new LiveSocket({
      url: () => 'ws://x/api/v1/agent/ws',
      onMessage: (f) => frames.push(f),
      onState: (st) => states.push(st),
      onOpen: () => opens++,
      WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
    });
    await vi.advanceTimersByTimeAsync(0);
    await expect(s.command({ type: 'accept' })).rejects.toThrow(/not connected/);
    FakeSocket.last().open();
    const accepted = s.command({ type: 'accept', contact_id: 'c1' });
    const refused = s.command({ type: 'reject', contact_id: 'c2' });
    const [a, b] = FakeSocket.last().sent;
    expect(a).toMatchObject({ type: 'accept', contact_id: 'c1' });
    FakeSocket.last().receive({ type: 'ack', ref: a.ref });
    FakeSocket.last().receive({ type: 'error', ref: b.ref, error: { message: 'the offer expired' } });
    await expect(accepted).resolves.toBeUndefined();
    await expect(refused).rejects.toThrow('the offer expired');
    FakeSocket.last().receive({ type: 'contact', event: 'offered' });
    expect(frames).toEqual([{ type: 'contact', event: 'offered' }]);

    const lost = s.command({ type: 'presence', status: 'away' });
    FakeSocket.last().close();
    await expect(lost).rejects.toThrow(/connection lost/);
    expect(states).toContain('reconnecting');
    await vi.advanceTimersByTimeAsync(600);
    expect(FakeSocket.all.length).toBe(2);
    FakeSocket.last().open();
    expect(opens).toBe(2);
    expect(s.state).toBe('open');
    s.close();
    expect(s.state).toBe('closed');
  });
});

describe('conversation', () => {
  const m = (seq: number, body = `m${seq}`, direction: Message['direction'] = 'inbound'): Message => ({ id: `i${seq}`, seq, body, direction, at: seq });
  it('keeps each seq once, the later copy winning, in order', () => {
    const list = merge([m(1), m(3)], [m(2), m(3, 'again'), m(1)]);
    expect(list.map((x) => x.seq)).toEqual([1, 2, 3]);
    expect(list[2].body).toBe('again');
    expect(lastSeq(list)).toBe(3);
    expect(lastSeq([])).toBe(0);
  });
  it('counts unread customer messages only', () => {
    expect(unread([m(1), m(2, 'x', 'outbound'), m(3), m(4, 'w', 'internal')], 1)).toBe(1);
  });
  it('formats file sizes', () => {
    expect([fileSize(512), fileSize(2048), fileSize(50 * 1024), fileSize(3 * 1024 * 1024)]).toEqual(['512 B', '2.0 KB', '50 KB', '3.0 MB']);
  });
});

describe('SMS segments', () => {
  it('counts GSM-7 in 160/153 and extension characters twice', () => {
    expect(countSegments('')).toMatchObject({ segments: 0 });
    expect(countSegments('a'.repeat(160))).toMatchObject({ encoding: 'GSM-7', segments: 1, remaining: 0 });
    expect(countSegments('a'.repeat(161))).toMatchObject({ segments: 2, remaining: 306 - 161 });
    expect(countSegments('€'.repeat(80))).toMatchObject({ encoding: 'GSM-7', units: 160, segments: 1 });
  });
  it('switches to UCS-2 in 70/67 for anything else', () => {
    expect(countSegments('Grüße 😀')).toMatchObject({ encoding: 'UCS-2', segments: 1 });
    expect(countSegments('ж'.repeat(71))).toMatchObject({ encoding: 'UCS-2', segments: 2 });
    expect(countSegments('😀'.repeat(35))).toMatchObject({ units: 70, segments: 1 });
  });
});

describe('e-mail', () => {
  it('prefixes Re: once', () => {
    expect(replySubject('Order 4711')).toBe('Re: Order 4711');
    expect(replySubject('RE: Order 4711')).toBe('RE: Order 4711');
    expect(replySubject(undefined)).toBe('Re: your message');
  });
  it('quotes every line, nesting earlier quotes', () => {
    const q = quote('Hello\r\n> earlier\nBye', 'ann@example.com', Date.UTC(2026, 10, 23, 9, 5));
    expect(q).toContain('ann@example.com wrote:');
    expect(q.split('\n').slice(-3)).toEqual(['> Hello', '>> earlier', '> Bye']);
  });
});

describe('wallboard', () => {
  it('reads both stat shapes and applies live events', () => {
    let b = reduce(emptyBoard(), { type: 'hello', queues: [{ queue_id: 'q1', waiting: 1, longest_wait_secs: 7, offered: 2, answered: 1, abandoned: 0, service_level_percent: 100, agents: { available: 1 } }] }, 1);
    expect(b.queues.q1.longest_wait_secs).toBe(7);
    b = reduce(b, { type: 'queue_stats', queues: [{ queue_id: 'q1', stats: { waiting: 3, longest_wait_ms: 65_000, offered: 5, answered: 1, abandoned: 1, service_level_percent: 50, agents: {} } }] }, 2);
    expect(b.queues.q1).toMatchObject({ waiting: 3, longest_wait_secs: 65, abandoned: 1 });
    b = reduce(b, { type: 'agent', agent_id: 'a1', activity: 'available', presence: 'available', at: 10 }, 10);
    b = reduce(b, { type: 'agent', agent_id: 'a1', activity: 'available', at: 20 }, 20);
    expect(b.agents.a1.since).toBe(10);
    b = reduce(b, { type: 'agent', agent_id: 'a1', activity: 'away', presence: { away: 'lunch' }, at: 30 }, 30);
    expect(b.agents.a1).toMatchObject({ activity: 'away', reason: 'lunch', since: 30 });
    const same = reduce(b, { type: 'pong' }, 40);
    expect(same).toBe(b);
    expect(totals(b)).toMatchObject({ waiting: 3, abandoned: 1, longest: 65, serviceLevel: 50, byActivity: { away: 1 } });
  });
  it('formats durations and service-level tones', () => {
    expect([duration(5), duration(65), duration(3725)]).toEqual(['0:05', '1:05', '1:02:05']);
    expect([levelTone(85, 80), levelTone(75, 80), levelTone(50, 80), levelTone(null, 80)]).toEqual(['good', 'warn', 'bad', 'none']);
    expect(normalizeStats({ queue_id: 'q', stats: {} }).service_level_percent).toBeNull();
  });
});

describe('router and shortcuts', () => {
  it('matches patterns with params and wildcards', () => {
    expect(match('/admin/:section', '/admin/queues')).toEqual({ section: 'queues' });
    expect(match('/admin/:section', '/console')).toBeNull();
    expect(match('/admin/*', '/admin')).toEqual({});
    expect(match('/', '/')).toEqual({});
  });
  it('maps Alt+keys by physical key and ignores typing', () => {
    const e = (key: string, code: string, altKey = true) => ({ key, code, altKey, ctrlKey: false, metaKey: false });
    expect(shortcutFor(e('å', 'KeyA'), true)).toBe('accept');
    expect(shortcutFor(e('1', 'Digit1'), false)).toBe('available');
    expect(shortcutFor(e('a', 'KeyA', false), false)).toBeNull();
    expect(shortcutFor(e('?', 'Slash', false), false)).toBe('help');
    expect(shortcutFor(e('?', 'Slash', false), true)).toBeNull();
  });
});
