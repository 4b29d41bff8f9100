// The visitor side of the chat protocol (docs/chat-protocol.md), without any UI: resume from
// the last message shown, resend what was not acknowledged (same client id, stored once),
// keep every message once and in order, reconnect with backoff.

import { backoff } from '../lib/socket';
import { type Message, lastSeq, merge } from '../lib/conversation';

export type ChatState = 'connecting' | 'queued' | 'connected' | 'ended' | 'offline';

export interface Outgoing {
  client_id: string;
  body: string;
  at: number;
}

export interface ChatSnapshot {
  state: ChatState;
  messages: Message[];
  pending: Outgoing[];
  agentTyping: boolean;
  agentRead: number;
  error: string | null;
}

export interface ChatClientOptions {
  base: string;
  token: string;
  onChange: (s: ChatSnapshot) => void;
  WebSocketImpl?: typeof WebSocket;
  /** Saved between page loads so a reload resumes the same conversation. */
  initial?: { messages?: Message[]; pending?: Outgoing[] };
  newId?: () => string;
}

let counter = 0;
const defaultId = () => `c-${Date.now().toString(36)}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

export class ChatClient {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private stopped = false;
  private retry: ReturnType<typeof setTimeout> | null = null;
  snapshot: ChatSnapshot;

  constructor(private opts: ChatClientOptions) {
    this.snapshot = {
      state: 'connecting',
      messages: opts.initial?.messages ?? [],
      pending: opts.initial?.pending ?? [],
      agentTyping: false,
      agentRead: 0,
      error: null,
    };
    this.connect();
  }

  private update(patch: Partial<ChatSnapshot>) {
    this.snapshot = { ...this.snapshot, ...patch };
    this.opts.onChange(this.snapshot);
  }

  private connect() {
    if (this.stopped) return;
    const Impl = this.opts.WebSocketImpl ?? WebSocket;
    const url = this.opts.base.replace(/^http/, 'ws') + '/chat/v1/ws?token=' + encodeURIComponent(this.opts.token);
    const ws = new Impl(url);
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'resume', last_seq: lastSeq(this.snapshot.messages) }));
    };
    ws.onmessage = (ev: MessageEvent) => this.frame(ws, String(ev.data));
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped || this.snapshot.state === 'ended') return;
      this.update({ state: 'offline', agentTyping: false });
      this.retry = setTimeout(() => this.connect(), backoff(this.attempt++));
    };
  }

  /** Handles one server frame (public for tests). */
  frame(ws: WebSocket, text: string) {
    let f: Record<string, unknown>;
    try {
      f = JSON.parse(text);
    } catch {
      return;
    }
    switch (f.type) {
      case 'welcome': {
        this.attempt = 0;
        const state = f.state === 'connected' ? 'connected' : f.state === 'done' ? 'ended' : 'queued';
        this.update({ state, error: null });
        // Whatever was never acknowledged goes again with its client id: stored once.
        for (const p of this.snapshot.pending) ws.send(JSON.stringify({ type: 'message', client_id: p.client_id, body: p.body }));
        break;
      }
      case 'message': {
        const m = f.message as Message;
        this.update({ messages: merge(this.snapshot.messages, [m]), agentTyping: m.direction === 'outbound' ? false : this.snapshot.agentTyping });
        break;
      }
      case 'ack':
        this.update({ pending: this.snapshot.pending.filter((p) => p.client_id !== f.client_id) });
        break;
      case 'typing':
        this.update({ agentTyping: Boolean(f.active) });
        break;
      case 'read':
        this.update({ agentRead: Number(f.seq) || 0 });
        break;
      case 'state': {
        const s = String(f.state);
        if (s === 'connected') this.update({ state: 'connected' });
        else if (s === 'done' || s === 'wrap_up') this.update({ state: 'ended', agentTyping: false });
        else if (s === 'queued') this.update({ state: 'queued' });
        break;
      }
      case 'ended':
        this.update({ state: 'ended', agentTyping: false });
        break;
      case 'error':
        this.update({ error: String(f.message ?? 'refused') });
        break;
    }
  }

  /** Sends a message: shown as pending until the server acknowledges it. */
  send(body: string): Outgoing | null {
    const text = body.trim();
    if (!text || this.snapshot.state === 'ended') return null;
    const out: Outgoing = { client_id: (this.opts.newId ?? defaultId)(), body: text, at: Date.now() };
    this.update({ pending: [...this.snapshot.pending, out] });
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify({ type: 'message', client_id: out.client_id, body: text }));
    return out;
  }

  typing(active: boolean) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify({ type: 'typing', active }));
  }

  read() {
    const seq = lastSeq(this.snapshot.messages);
    if (seq && this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify({ type: 'read', seq }));
  }

  end() {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify({ type: 'end' }));
    this.update({ state: 'ended' });
    this.close();
  }

  close() {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.ws?.close();
  }
}
