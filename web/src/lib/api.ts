// The HTTP API client: bearer tokens with one shared refresh when they expire, and errors that
// carry the server's field errors so forms can show them next to their inputs.

export interface FieldError {
  field: string;
  code: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public fields: FieldError[] = [],
  ) {
    super(message);
  }

  /** Field path → message; the first problem of each field wins. */
  fieldMap(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of this.fields) if (!(f.field in out)) out[f.field] = f.message;
    return out;
  }
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

export interface TokenStore {
  get(): Tokens | null;
  set(tokens: Tokens | null): void;
}

/** Tokens kept in localStorage (survive a reload, shared by the tabs of one origin). */
export function browserTokens(key = 'switchboard.tokens'): TokenStore {
  return {
    get() {
      try {
        const raw = localStorage.getItem(key);
        return raw ? (JSON.parse(raw) as Tokens) : null;
      } catch {
        return null;
      }
    },
    set(t) {
      if (t) localStorage.setItem(key, JSON.stringify(t));
      else localStorage.removeItem(key);
    },
  };
}

export function memoryTokens(initial: Tokens | null = null): TokenStore {
  let t = initial;
  return { get: () => t, set: (v) => (t = v) };
}

/** Reads an error body the API sends (`{"error":{code,message,fields}}`), or makes one up. */
export async function errorOf(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const e = (body as { error?: { code?: string; message?: string; fields?: FieldError[] } } | null)?.error;
  if (e && typeof e.message === 'string') return new ApiError(res.status, e.code ?? 'error', e.message, e.fields ?? []);
  return new ApiError(res.status, 'http_' + res.status, res.statusText || `HTTP ${res.status}`);
}

export class Api {
  private refreshing: Promise<boolean> | null = null;
  onLoggedOut: () => void = () => {};

  constructor(
    private tokens: TokenStore,
    private base = '',
    private fetchImpl: typeof fetch = (...a) => fetch(...a),
  ) {}

  get accessToken(): string | null {
    return this.tokens.get()?.access_token ?? null;
  }

  loggedIn(): boolean {
    return this.tokens.get() !== null;
  }

  setTokens(t: Tokens | null) {
    this.tokens.set(t);
  }

  async request<T>(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<T> {
    let res = await this.send(method, path, body, init);
    if (res.status === 401 && this.tokens.get()?.refresh_token) {
      if (await this.refresh()) res = await this.send(method, path, body, init);
    }
    if (res.status === 401 && this.tokens.get()) {
      this.tokens.set(null);
      this.onLoggedOut();
    }
    if (!res.ok) throw await errorOf(res);
    if (res.status === 204) return undefined as T;
    const type = res.headers.get('content-type') ?? '';
    return (type.includes('json') ? await res.json() : await res.text()) as T;
  }

  get<T>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T>(path: string, body?: unknown) {
    return this.request<T>('POST', path, body);
  }
  put<T>(path: string, body?: unknown) {
    return this.request<T>('PUT', path, body);
  }
  del<T>(path: string) {
    return this.request<T>('DELETE', path);
  }

  /** Trades the refresh token once for everyone waiting on it (tokens rotate on every use). */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        const t = this.tokens.get();
        if (!t) return false;
        const res = await this.fetchImpl(this.base + '/api/v1/auth/refresh', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token: t.refresh_token }),
        });
        if (!res.ok) return false;
        this.tokens.set((await res.json()) as Tokens);
        return true;
      })().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private send(method: string, path: string, body: unknown, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    const token = this.tokens.get()?.access_token;
    if (token) headers.set('authorization', 'Bearer ' + token);
    let payload: BodyInit | undefined;
    if (body instanceof Blob || body instanceof ArrayBuffer) payload = body as BodyInit;
    else if (body !== undefined) {
      headers.set('content-type', 'application/json');
      payload = JSON.stringify(body);
    }
    return this.fetchImpl(this.base + path, { ...init, method, headers, body: payload });
  }
}
