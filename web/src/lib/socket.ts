// A WebSocket that reconnects by itself with jittered exponential backoff, answers commands
// by reference (`ref` → `ack`/`error`), and tells its state so the UI can show it.

export type SocketState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Delay before reconnect attempt `n` (0-based): doubling from `base`, capped, with jitter. */
export function backoff(attempt: number, base = 500, max = 15_000, rand: () => number = Math.random): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + (rand() * ceiling) / 2);
}

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export interface LiveSocketOptions {
  /** Where to connect; called before every attempt (a fresh token each time). */
  url: () => string | Promise<string>;
  onMessage: (frame: Record<string, unknown>) => void;
  onState?: (s: SocketState) => void;
  /** Called after every (re)connect: reload what may have been missed. */
  onOpen?: () => void;
  WebSocketImpl?: typeof WebSocket;
  commandTimeoutMs?: number;
}

export class LiveSocket {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private stopped = false;
  private nextRef = 1;
  private pending = new Map<string, Pending>();
  private retry: ReturnType<typeof setTimeout> | null = null;
  state: SocketState = 'connecting';

  constructor(private opts: LiveSocketOptions) {
    void this.connect();
  }

  private setState(s: SocketState) {
    this.state = s;
    this.opts.onState?.(s);
  }

  private async connect() {
    if (this.stopped) return;
    const Impl = this.opts.WebSocketImpl ?? WebSocket;
    let url: string;
    try {
      url = await this.opts.url();
    } catch {
      this.scheduleReconnect();
      return;
    }
    const ws = new Impl(url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.setState('open');
      this.opts.onOpen?.();
    };
    ws.onmessage = (ev: MessageEvent) => {
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      const ref = frame.ref;
      if (typeof ref === 'string' && this.pending.has(ref)) {
        const p = this.pending.get(ref)!;
        this.pending.delete(ref);
        clearTimeout(p.timer);
        if (frame.type === 'error') {
          const err = frame.error as { message?: string } | undefined;
          p.reject(new Error(err?.message ?? 'refused'));
        } else p.resolve();
        return;
      }
      this.opts.onMessage(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error('connection lost; try again'));
      }
      this.pending.clear();
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect() {
    if (this.stopped) {
      this.setState('closed');
      return;
    }
    this.setState('reconnecting');
    const delay = backoff(this.attempt++);
    this.retry = setTimeout(() => void this.connect(), delay);
  }

  /** Sends a command; resolves on its `ack`, rejects with the server's message on `error`. */
  command(cmd: Record<string, unknown>): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return Promise.reject(new Error('not connected; reconnecting…'));
    const ref = 'r' + this.nextRef++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new Error('no answer from the server'));
      }, this.opts.commandTimeoutMs ?? 10_000);
      this.pending.set(ref, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...cmd, ref }));
    });
  }

  close() {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.ws?.close();
    this.setState('closed');
  }
}
