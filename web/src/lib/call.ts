// A phone call in the agent console: what the edge last said about it (the `call` frames on the
// console socket), in words, and which controls make sense now.

export type CallWord =
  | 'ringing'
  | 'bridged'
  | 'held'
  | 'resumed'
  | 'agent_unreachable'
  | 'agent_hung_up'
  | 'caller_hung_up'
  | 'transferred_out';

export interface CallView {
  label: string;
  tone: 'good' | 'warn' | 'bad' | 'offline';
  hold: boolean;
  resume: boolean;
  hangUp: boolean;
}

/** The call bar for a voice contact; `state` undefined = nothing heard yet (e.g. after a reload). */
export function callView(state: string | undefined, reason?: string | null): CallView {
  const live = { hold: true, resume: false, hangUp: true };
  const over = { hold: false, resume: false, hangUp: false };
  switch (state) {
    case 'ringing':
      return { label: 'Ringing your phone…', tone: 'warn', hold: false, resume: false, hangUp: true };
    case 'bridged':
    case 'resumed':
      return { label: 'On the call', tone: 'good', ...live };
    case 'held':
      return { label: 'Caller on hold (hearing music)', tone: 'warn', hold: false, resume: true, hangUp: true };
    case 'agent_unreachable':
      return { label: `Your phone could not be reached${reason ? `: ${reason}` : ''}`, tone: 'bad', ...over };
    case 'agent_hung_up':
    case 'caller_hung_up':
      return { label: state === 'caller_hung_up' ? 'The caller hung up' : 'Call ended', tone: 'offline', ...over };
    case 'transferred_out':
      return { label: `Caller sent on${reason ? ` (${reason})` : ''}`, tone: 'offline', ...over };
    default:
      return { label: 'Call connected', tone: 'good', ...live };
  }
}

/** A number as the platform takes it for a transfer: digits with an optional leading +. */
export function dialable(input: string): string | null {
  const n = input.replace(/[\s().-]/g, '');
  return /^\+?[0-9]{3,15}$/.test(n) ? n : null;
}
