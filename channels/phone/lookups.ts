/*
 * Self-service lookups: the IVR asks an operator's HTTP endpoint (an order's status, a balance) while the
 * caller waits, so every lookup has a deadline, and a slow or failing endpoint is a clear outcome the flow
 * handles (onError), never a hung call.
 */
import type { IvrLookup } from '../../src/routing/rules/ivr.schema.js';
import type { LookupAnswer } from './ivr-runner.js';

/** `{{name}}` placeholders filled from the call, each URL-encoded (a caller's digits cannot alter the path). */
export function lookupUrl(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (_, name: string) =>
    encodeURIComponent(vars[name] ?? ''),
  );
}

export async function httpLookup(
  lookup: IvrLookup,
  vars: Readonly<Record<string, string>>,
): Promise<LookupAnswer> {
  const url = lookupUrl(lookup.url, vars);
  try {
    const response = await fetch(url, {
      method: lookup.method,
      headers: { accept: 'application/json', ...lookup.headers },
      ...(lookup.method === 'POST' && {
        body: JSON.stringify(vars),
        headers: { accept: 'application/json', 'content-type': 'application/json', ...lookup.headers },
      }),
      signal: AbortSignal.timeout(lookup.timeoutMs),
    });
    if (response.status === 404) return { status: 'not-found' };
    if (!response.ok) return { status: 'failed', reason: `HTTP ${response.status}` };
    return { status: 'found', data: await response.json() };
  } catch (error) {
    const name = (error as Error).name;
    return {
      status: 'failed',
      reason: name === 'TimeoutError' ? `no answer within ${lookup.timeoutMs} ms` : (error as Error).message,
    };
  }
}
