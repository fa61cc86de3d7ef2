/**
 * Owns the human-readable `status` rendering (bootc `human_readable_output`):
 * one block per slot (staged, booted, rollback, others), labels right-aligned
 * to the slot title, `-v` adds soft-reboot, fs-verity and download-only rows.
 */
import type { BootEntry, Host, ImageReference } from '../deploy/host-spec.js';

function imageName(r: ImageReference): string {
  return r.transport === 'registry' ? r.image : `${r.transport}:${r.image}`;
}

function slotBlock(title: string, e: BootEntry, verbose: boolean, staged: boolean): string[] {
  const cfs = e.composefs;
  const head = e.image !== null ? `${title} image: ${imageName(e.image.image)}` : `${title} composefs`;
  const width = title.length + (e.image !== null ? ' image'.length : ' composefs'.length);
  const row = (name: string, value: string) => `${' '.repeat(Math.max(0, width - name.length))}${name}: ${value}`;
  const out = [head];
  if (e.image !== null) {
    const i = e.image;
    out.push(row('Digest', i.architecture !== '' ? `${i.imageDigest} (${i.architecture})` : i.imageDigest));
    if (cfs !== null) out.push(row('Verity', cfs.verity));
    if (i.version !== null) out.push(row('Version', i.timestamp !== null ? `${i.version} (${i.timestamp})` : i.version));
    else if (i.timestamp !== null) out.push(row('Timestamp', i.timestamp));
    if (verbose) out.push(row('Signature', i.image.signature === undefined ? 'none' : typeof i.image.signature === 'string' ? i.image.signature : `ostree-remote:${i.image.signature.ostreeRemote}`));
  } else if (cfs !== null) {
    out.push(row('Commit', cfs.verity));
  }
  if (e.pinned) out.push(row('Pinned', 'yes'));
  if (verbose) {
    out.push(row('Soft-reboot', e.softRebootCapable ? 'yes' : 'no'));
    if (cfs !== null) out.push(row('FsVerity', cfs.missingVerityAllowed ? 'Not Enforced' : 'Enforced'));
    if (staged) out.push(row('Download-only', e.downloadOnly ? 'yes' : 'no'));
  }
  return out;
}

export function renderHumanStatus(host: Host, verbose: boolean): string {
  const s = host.status;
  const blocks: string[][] = [];
  if (s.staged !== null) blocks.push(slotBlock('  Staged', s.staged, verbose, true));
  if (s.booted !== null) {
    const b = slotBlock('● Booted', s.booted, verbose, false);
    if (s.usrOverlay !== null) {
      const width = b[0]!.indexOf(':');
      const access = s.usrOverlay.accessMode === 'readWrite' ? 'read/write' : 'read-only';
      b.push(`${' '.repeat(Math.max(0, width - '/usr overlay'.length))}/usr overlay: ${s.usrOverlay.persistence}, ${access}`);
    }
    blocks.push(b);
  }
  if (s.rollback !== null) blocks.push(slotBlock('  Rollback', s.rollback, verbose, false));
  for (const o of s.otherDeployments ?? []) blocks.push(slotBlock('   Other', o, verbose, false));
  if (blocks.length === 0) return 'No deployments found.\n';
  let text = blocks.map((b) => b.join('\n')).join('\n\n') + '\n';
  if (s.rollbackQueued) text += '\nNext boot: rollback deployment\n';
  return text;
}
