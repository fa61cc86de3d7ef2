/**
 * Owns the `edit [-f FILE] [--quiet]` verb: where the wanted Host document
 * comes from (the file, or $EDITOR on the current one, as bootc does), and
 * wiring deploy/edit.ts to rollback and to the switch verb's logic.
 */
import * as fs from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { withContext } from '../../util/errors.js';
import { getStatus } from '../../deploy/status.js';
import { applyEdit, NO_CHANGES, parseHostSpec } from '../../deploy/edit.js';
import { switchImage } from '../../deploy/switch.js';
import { str, type Context, type HandlerTable } from '../context.js';
import type { Args } from '../parse.js';
import { renderYaml } from '../output.js';
import { withBooted } from './deploy.js';
import { updateDeps } from './update.js';

/** The wanted document's text and a name for errors; undefined when the editor left it unchanged. */
async function wantedText(ctx: Context, args: Args, currentYaml: string): Promise<{ text: string; what: string } | undefined> {
  const file = str(args, 'filename');
  if (file !== undefined) return { text: await withContext(`Reading ${file}`, () => fs.readFile(file, 'utf8')), what: file };
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbootc-edit-'));
  try {
    const p = path.join(dir, 'host.yaml');
    await fs.writeFile(p, currentYaml);
    const editor = ctx.host.env['EDITOR'] ?? ctx.host.env['VISUAL'] ?? 'vi';
    await ctx.host.run.run([editor, p], { inherit: true });
    const text = await fs.readFile(p, 'utf8');
    return text === currentYaml ? undefined : { text, what: p };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export const editHandlers: HandlerTable = {
  edit: async (ctx, args) => {
    const deps = await updateDeps(ctx.host, args);
    const cur = await getStatus(ctx.host, { bootedOnly: false });
    const wanted = cur.deployed ? await wantedText(ctx, args, renderYaml(cur.host)) : undefined;
    if (!cur.deployed) await withBooted(ctx, async () => undefined); // says "not deployed"
    if (wanted === undefined) {
      ctx.out.write(NO_CHANGES + '\n');
      return 0;
    }
    const spec = parseHostSpec(wanted.text, wanted.what);
    const r = await withBooted(ctx, (st) =>
      applyEdit(st, cur.host.spec, spec, {
        switchTo: async (s, image) => {
          const sw = await switchImage(s, deps, {
            target: image.image,
            transport: image.transport,
            enforceSigpolicy: image.signature === 'containerPolicy',
          });
          return sw.messages;
        },
      }),
    );
    for (const m of r.messages) ctx.out.write(m + '\n');
    return 0;
  },
};
