import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatClient, type ChatSnapshot } from './chatClient';
import { FakeSocket } from '../lib/fakeSocket.test-util';

describe('ChatClient', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.all = [];
  });
  afterEach(() => vi.useRealTimers());

  it('resumes from the last message, resends what was not acknowledged, and shows each message once', async () => {
    let snap: ChatSnapshot | null = null;
    let n = 0;
    const c = new ChatClient({
      base: 'https://sb.example',
      token: 't k',
      onChange: (s) => (snap = s),
      WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
      newId: () => `c${++n}`,
    });
    const s1 = FakeSocket.last();
    expect(s1.url).toBe('wss://sb.example/chat/v1/ws?token=t%20k');
    s1.open();
    expect(s1.sent[0]).toEqual({ type: 'resume', last_seq: 0 });
    s1.receive({ type: 'welcome', state: 'queued', last_seq: 0 });
    expect(snap!.state).toBe('queued');
    c.send('Hello');
    expect(s1.sent[1]).toEqual({ type: 'message', client_id: 'c1', body: 'Hello' });
    s1.receive({ type: 'message', message: { id: 'a', seq: 1, direction: 'inbound', body: 'Hello', at: 1 } });
    s1.receive({ type: 'ack', client_id: 'c1', seq: 1 });
    expect(snap!.pending).toEqual([]);
    s1.receive({ type: 'state', state: 'connected' });
    s1.receive({ type: 'typing', from: 'agent', active: true });
    expect(snap!.agentTyping).toBe(true);
    s1.receive({ type: 'message', message: { id: 'b', seq: 2, direction: 'outbound', body: 'Hi!', at: 2 } });
    expect(snap!.agentTyping).toBe(false);
    // A message sent while the line is down waits; the drop shows as offline.
    s1.close();
    expect(snap!.state).toBe('offline');
    c.send('Still there?');
    expect(snap!.pending.map((p) => p.body)).toEqual(['Still there?']);
    await vi.advanceTimersByTimeAsync(600);
    const s2 = FakeSocket.last();
    expect(s2).not.toBe(s1);
    s2.open();
    expect(s2.sent[0]).toEqual({ type: 'resume', last_seq: 2 });
    s2.receive({ type: 'welcome', state: 'connected', last_seq: 2 });
    expect(s2.sent[1]).toEqual({ type: 'message', client_id: 'c2', body: 'Still there?' });
    // The server repeats nothing, but if it did, the list would not grow.
    s2.receive({ type: 'message', message: { id: 'b', seq: 2, direction: 'outbound', body: 'Hi!', at: 2 } });
    s2.receive({ type: 'message', message: { id: 'c', seq: 3, direction: 'inbound', body: 'Still there?', at: 3 } });
    s2.receive({ type: 'ack', client_id: 'c2', seq: 3 });
    expect(snap!.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(snap!.pending).toEqual([]);
    expect(c.send('   ')).toBeNull();
    c.end();
    expect(snap!.state).toBe('ended');
    expect(s2.sent[s2.sent.length - 1]).toEqual({ type: 'end' });
    expect(c.send('after the end')).toBeNull();
  });

  it('shows refused frames and survives garbage', () => {
    let snap: ChatSnapshot | null = null;
    new ChatClient({ base: 'http://x', token: 't', onChange: (s) => (snap = s), WebSocketImpl: FakeSocket as unknown as typeof WebSocket });
    const s = FakeSocket.last();
    s.open();
    s.onmessage?.({ data: 'not json' });
    s.receive({ type: 'error', code: 'conflict', message: 'the chat has ended' });
    expect(snap!.error).toBe('the chat has ended');
  });
});
