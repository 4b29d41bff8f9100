// Conversation state shared by the console and the widget: messages kept once each, in order.

export interface Attachment {
  id: string;
  name: string;
  content_type: string;
  size: number;
}

export interface Message {
  id: string;
  seq: number;
  direction: 'inbound' | 'outbound' | 'internal';
  body: string;
  at: number;
  from?: string;
  to?: string;
  author?: string;
  subject?: string;
  html?: string;
  status?: string;
  segments?: number;
  attachments?: Attachment[];
}

/** Adds messages to a list: each seq once (a later copy replaces an earlier one), sorted. */
export function merge<T extends { seq: number }>(list: readonly T[], incoming: readonly T[]): T[] {
  const bySeq = new Map<number, T>();
  for (const m of list) bySeq.set(m.seq, m);
  for (const m of incoming) bySeq.set(m.seq, m);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** The highest seq in a list (0 when empty): what to resume from. */
export function lastSeq(list: readonly { seq: number }[]): number {
  return list.reduce((max, m) => Math.max(max, m.seq), 0);
}

/** Messages from the customer after the given seq. */
export function unread(list: readonly Message[], readUpTo: number): number {
  return list.filter((m) => m.direction === 'inbound' && m.seq > readUpTo).length;
}

/** Human file size. */
export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
