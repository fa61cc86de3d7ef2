/**
 * Owns `edit` (bootc.md §1.1; beyond bootc, which refuses it on composefs):
 * read a Host document (YAML or JSON, the shape `status --format yaml`
 * prints), compare its spec with the current one and apply the one change
 * it may carry, as bootc's ostree `edit` does: a changed `spec.bootOrder`
 * is a rollback, a changed `spec.image` a switch; both at once is refused
 * (bootc `HostSpec::verify_transition`). The switch itself is handed in.
 */
import { parse as parseYaml } from 'yaml';
import { FormatError, TsbootcError } from '../util/errors.js';
import { HOST_API_VERSION, HOST_KIND, type HostSpec, type ImageReference } from './host-spec.js';
import { rollback } from './rollback.js';
import type { BootState } from './boot-state.js';

export const NO_CHANGES = 'Edit cancelled, no changes made.';

/** The `spec` of a Host document; `what` names the input in errors. */
export function parseHostSpec(text: string, what: string): HostSpec {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new FormatError(`${what}: not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new FormatError(`${what}: expected a Host document (an object with spec)`);
  const d = doc as Record<string, unknown>;
  if (d['apiVersion'] !== undefined && d['apiVersion'] !== HOST_API_VERSION) throw new FormatError(`${what}: apiVersion ${String(d['apiVersion'])} is not ${HOST_API_VERSION}`);
  if (d['kind'] !== undefined && d['kind'] !== HOST_KIND) throw new FormatError(`${what}: kind ${String(d['kind'])} is not ${HOST_KIND}`);
  const spec = d['spec'];
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new FormatError(`${what}: missing spec`);
  const s = spec as Record<string, unknown>;
  const bootOrder = s['bootOrder'] ?? 'default';
  if (bootOrder !== 'default' && bootOrder !== 'rollback') throw new FormatError(`${what}: spec.bootOrder must be default or rollback, not ${JSON.stringify(bootOrder)}`);
  return { image: parseImage(s['image'], what), bootOrder };
}

function parseImage(v: unknown, what: string): ImageReference | null {
  if (v === undefined || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof v !== 'object' || typeof o['image'] !== 'string' || o['image'] === '') throw new FormatError(`${what}: spec.image must be null or have an image string`);
  const transport = o['transport'] ?? 'registry';
  if (typeof transport !== 'string') throw new FormatError(`${what}: spec.image.transport must be a string`);
  const r: ImageReference = { image: o['image'], transport };
  const sig = o['signature'];
  if (sig === 'containerPolicy' || sig === 'insecure') r.signature = sig;
  else if (typeof sig === 'object' && sig !== null && typeof (sig as Record<string, unknown>)['ostreeRemote'] === 'string') r.signature = { ostreeRemote: (sig as { ostreeRemote: string }).ostreeRemote };
  else if (sig !== undefined && sig !== null) throw new FormatError(`${what}: spec.image.signature is not one bootc knows`);
  return r;
}

/** Image references equal field by field (an absent signature equals `insecure`, as in origins). */
export function sameSpecImage(a: ImageReference | null, b: ImageReference | null): boolean {
  if (a === null || b === null) return a === b;
  const sig = (r: ImageReference) => JSON.stringify(r.signature ?? 'insecure');
  return a.image === b.image && a.transport === b.transport && sig(a) === sig(b);
}

export type EditChange = 'none' | 'bootOrder' | 'image';

export function planEdit(current: HostSpec, wanted: HostSpec): EditChange {
  const order = current.bootOrder !== wanted.bootOrder;
  const image = !sameSpecImage(current.image, wanted.image);
  if (order && image) throw new TsbootcError('Invalid state transition: rollback and image change');
  if (order) return 'bootOrder';
  if (image) {
    if (wanted.image === null) throw new TsbootcError('edit: spec.image cannot be removed (set it to an image)');
    return 'image';
  }
  return 'none';
}

export interface EditDeps {
  /** Stages `image` (the switch verb's logic); returns the lines to print. */
  switchTo(st: BootState, image: ImageReference): Promise<string[]>;
}

export interface EditResult {
  change: EditChange;
  messages: string[];
}

/** Applies `wanted` to the booted host whose current spec is `current`. */
export async function applyEdit(st: BootState, current: HostSpec, wanted: HostSpec, deps: EditDeps): Promise<EditResult> {
  const change = planEdit(current, wanted);
  if (change === 'none') return { change, messages: [NO_CHANGES] };
  if (change === 'bootOrder') return { change, messages: (await rollback(st)).messages };
  return { change, messages: await deps.switchTo(st, wanted.image!) };
}
