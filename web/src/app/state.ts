// What every screen shares: the API client, who is logged in, and passing notices.
import { signal } from '@preact/signals';
import { Api, browserTokens, type Tokens } from '../lib/api';
import { navigate } from '../lib/router';

export type Role = 'agent' | 'supervisor' | 'admin' | 'owner';
export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  status: string;
  capacity: number;
  skills: { skill_id: string; level: number }[];
  channel_costs: Record<string, number>;
}
export interface Me {
  user: User | null;
  tenant: { id: string; name: string };
  role: Role;
}

export const api = new Api(browserTokens());
export const me = signal<Me | null>(null);
export const toast = signal<string | null>(null);

const ORDER: Role[] = ['agent', 'supervisor', 'admin', 'owner'];
export const atLeast = (role: Role) => !!me.value && ORDER.indexOf(me.value.role) >= ORDER.indexOf(role);

let toastTimer: ReturnType<typeof setTimeout> | undefined;
export function notify(text: string) {
  toast.value = text;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (toast.value = null), 3500);
}

export async function loadMe() {
  try {
    me.value = await api.get<Me>('/api/v1/me');
  } catch {
    me.value = null;
  }
}

export async function startSession(tokens: Tokens) {
  api.setTokens(tokens);
  await loadMe();
  navigate(me.value && atLeast('admin') ? '/admin/queues' : '/console');
}

export async function logout() {
  try {
    await api.post('/api/v1/auth/logout');
  } catch {
    /* the session may already be gone */
  }
  api.setTokens(null);
  me.value = null;
  navigate('/login');
}

api.onLoggedOut = () => {
  me.value = null;
  navigate('/login');
};

/** A fresh access token for a WebSocket URL (refreshing first if it is about to expire). */
export async function socketToken(): Promise<string> {
  await api.get('/api/v1/me');
  return api.accessToken ?? '';
}

export const wsBase = () => location.origin.replace(/^http/, 'ws');
