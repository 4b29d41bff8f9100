// Small building blocks: fields that show the server's errors, forms that submit once.
import type { ComponentChildren, JSX } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError } from '../lib/api';

let nextId = 0;
export const useId = () => useState(() => `f${++nextId}`)[0];

export function Field(props: {
  label: string;
  error?: string;
  hint?: string;
  children: (id: string, invalid: boolean, describedBy?: string) => JSX.Element;
}) {
  const id = useId();
  const errId = props.error ? id + '-err' : props.hint ? id + '-hint' : undefined;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.children(id, !!props.error, errId)}
      {props.error ? (
        <span class="field-error" id={id + '-err'}>{props.error}</span>
      ) : props.hint ? (
        <span class="hint" id={id + '-hint'}>{props.hint}</span>
      ) : null}
    </div>
  );
}

export function TextField(props: {
  label: string;
  value: string;
  onInput: (v: string) => void;
  error?: string;
  hint?: string;
  type?: string;
  required?: boolean;
  placeholder?: string;
  autoComplete?: string;
  name?: string;
}) {
  return (
    <Field label={props.label} error={props.error} hint={props.hint}>
      {(id, invalid, by) => (
        <input
          id={id}
          name={props.name}
          type={props.type ?? 'text'}
          value={props.value}
          required={props.required}
          placeholder={props.placeholder}
          autoComplete={props.autoComplete}
          aria-invalid={invalid}
          aria-describedby={by}
          onInput={(e) => props.onInput((e.target as HTMLInputElement).value)}
        />
      )}
    </Field>
  );
}

/** Form state: values, the server's field errors and a form-level error. */
export function useForm<T extends Record<string, unknown>>(initial: T) {
  const [values, setValues] = useState<T>(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof T>(k: K) => (v: T[K]) => setValues((old) => ({ ...old, [k]: v }));
  async function submit(action: (v: T) => Promise<void>) {
    setBusy(true);
    setError(null);
    setErrors({});
    try {
      await action(values);
    } catch (e) {
      if (e instanceof ApiError) {
        setErrors(e.fieldMap());
        setError(e.fields.length ? 'Please correct the highlighted fields.' : e.message);
      } else setError(String((e as Error).message ?? e));
    } finally {
      setBusy(false);
    }
  }
  return { values, setValues, set, errors, error, busy, submit };
}

/** One button's work at a time, with its error for a `FormError`. `keepBusy`: stay busy after
 * success (the page is navigating away). */
export function useAction(keepBusy = false) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function run(what: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await what();
      if (!keepBusy) setBusy(false);
    } catch (e) {
      setError(String((e as Error).message ?? e));
      setBusy(false);
    }
  }
  return { busy, error, run };
}

export function FormError({ error }: { error: string | null }) {
  return error ? <div class="form-error" role="alert">{error}</div> : null;
}

export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren }) {
  return (
    <div class="modal-back" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class="modal" role="dialog" aria-modal="true" aria-label={props.title} onKeyDown={(e) => e.key === 'Escape' && props.onClose()}>
        <h2>{props.title}</h2>
        {props.children}
      </div>
    </div>
  );
}

export const CHANNEL_LABEL: Record<string, string> = { chat: 'Chat', sms: 'SMS', email: 'E-mail', voice: 'Call', webrtc: 'Web call', task: 'Task' };
export const CHANNEL_ABBR: Record<string, string> = { chat: 'CH', sms: 'SMS', email: '@', voice: 'TEL', webrtc: 'WEB', task: 'TSK' };

export function ChannelIcon({ channel }: { channel: string }) {
  return (
    <span class={`chan ${channel}`} aria-hidden="true">
      {CHANNEL_ABBR[channel] ?? '?'}
    </span>
  );
}

export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return new Date(ms).toLocaleDateString();
}

export const time = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/** A page's title, one-line lead and main action. */
export function Head(props: { title: string; lead: string; action?: JSX.Element }) {
  return (
    <div class="page-head">
      <div>
        <h1>{props.title}</h1>
        <p class="lead">{props.lead}</p>
      </div>
      {props.action}
    </div>
  );
}

/** A quiet line for an empty list. */
export function Empty({ text }: { text: string }) {
  return <p class="muted" style="padding:18px 4px">{text}</p>;
}
