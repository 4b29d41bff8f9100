import { describe, expect, it } from 'vitest';
import { NO_CAPS, bytes, capsEmpty, capsText, grantAll, micros, nameFromFile, names, outcomeBadge, uploadPath, versionAction, type Plugin } from './plugins';

const version = (number: number) => ({ number, sha256: 'ab', size: 1, hooks: ['on-contact'], needs: NO_CAPS, uploaded_at: 0, note: null });

describe('plugin words', () => {
  it('says what a plugin asks for', () => {
    expect(capsText(NO_CAPS)).toBe('nothing');
    expect(capsEmpty(NO_CAPS)).toBe(true);
    expect(capsText({ kv: true, http_hosts: ['crm.example'], secrets: ['crm_token'] })).toBe('the key-value store; HTTP to crm.example; the secret crm_token');
    expect(capsText({ kv: false, http_hosts: [], secrets: ['a', 'b'] })).toBe('the secrets a, b');
  });
  it('grants what a version asks for on top of what is granted, without repeats', () => {
    expect(grantAll({ kv: false, http_hosts: ['a.example'], secrets: ['x'] }, { kv: true, http_hosts: ['a.example', 'b.example'], secrets: ['y'] })).toEqual({
      kv: true,
      http_hosts: ['a.example', 'b.example'],
      secrets: ['x', 'y'],
    });
  });
  it('reads names one per line or comma', () => {
    expect(names(' CRM.example \n\n b.example, crm.example', true)).toEqual(['crm.example', 'b.example']);
    expect(names('Token_A\nToken_A')).toEqual(['Token_A']);
  });
  it('offers activate before the running version and roll back to older ones', () => {
    const p: Plugin = { name: 'x', active: 2, grants: NO_CAPS, missing_grants: NO_CAPS, versions: [version(1), version(2), version(3)], updated_at: 0 };
    expect(p.versions.map((v) => versionAction(p, v))).toEqual(['roll back', 'running', 'activate']);
    expect(versionAction({ ...p, active: null }, version(1))).toBe('activate');
  });
  it('names outcomes plainly, unknown ones too', () => {
    expect(outcomeBadge('ok')).toEqual({ label: 'ok', tone: 'good' });
    expect(outcomeBadge('trap')).toEqual({ label: 'crashed', tone: 'bad' });
    expect(outcomeBadge('busy').tone).toBe('warn');
    expect(outcomeBadge('brand_new')).toEqual({ label: 'brand new', tone: 'bad' });
  });
  it('formats sizes and durations', () => {
    expect(bytes(512)).toBe('512 B');
    expect(bytes(99_500)).toBe('97 KiB');
    expect(bytes(12_200_000)).toBe('11.6 MiB');
    expect(micros(87)).toBe('87 µs');
    expect(micros(1530)).toBe('1.5 ms');
    expect(micros(2_500_000)).toBe('2.5 s');
  });
  it('sends a new plugin by name and a version to its plugin', () => {
    expect(uploadPath('vip', '', true)).toBe('/api/v1/plugins?name=vip');
    expect(uploadPath('vip', ' gold gets 90 ', false)).toBe('/api/v1/plugins/vip/versions?note=gold+gets+90');
    expect(nameFromFile('Example_VIP_routing.wasm')).toBe('example-vip-routing');
  });
});
