// cloudlet_customization: a VM resumed from a base for customizing, with commands run in it through the
// guest control agent. A `cloudlet_overlay` with `customization_id` captures what changed; the VM can then be
// destroyed. Created all or nothing: if a command fails, the VM is removed and nothing is left behind.

import { fail } from '../../protocol/diagnostics';
import { log } from '../../protocol/log';
import { BlockSchema } from '../../framework/schema';
import { defineResource } from '../../framework/server';
import { Cloudlet } from '../connection';
import { RANGES } from '../../../engine/contract/rules';
import { cloudletAttr, known, ms, timeoutsBlock, validName, validPattern, validRange } from '../common';

const schema = {
  description: 'A VM resumed from a base VM and customized by running commands in it; capture it with a `cloudlet_overlay` (`customization_id`).',
  attributes: {
    id: { type: 'string', computed: true, description: "The VM's instance id on the cloudlet." },
    name: { type: 'string', required: true, requiresReplace: true, description: 'Instance name, unique on the cloudlet.', validate: validName },
    base_id: { type: 'string', required: true, requiresReplace: true, description: 'Id of the base VM to resume.' },
    commands: {
      type: { list: 'string' },
      optional: true,
      requiresReplace: true,
      description: 'Shell commands run in order inside the guest (through its control agent) once it runs. A non-zero exit status fails the create and removes the VM.',
    },
    command_timeout_seconds: {
      type: 'number',
      optional: true,
      computed: true,
      default: 300,
      description: 'Time limit for each command, in seconds. Default 300.',
      validate: validRange('commandTimeoutSeconds'),
    },
    outputs: { type: { list: 'string' }, computed: true, description: 'Standard output of each command, in order (null for an imported VM, whose commands are not known).' },
    state: { type: 'string', computed: true, description: 'Power state on the cloudlet: running, paused or stopped.' },
    cloudlet: cloudletAttr,
  },
  blocks: {
    file: {
      nesting: 'list',
      requiresReplace: true,
      block: {
        description: 'A file written into the guest through its QEMU guest agent before the commands run (parent directories are made).',
        attributes: {
          path: { type: 'string', required: true, description: 'Absolute path in the guest.', validate: validPattern('guestPath') },
          content: { type: 'string', required: true, sensitive: true, description: `The file's content (at most ${RANGES.guestFileBytes.maximum} bytes; sensitive: it may hold keys).` },
          mode: { type: 'string', optional: true, description: 'Octal mode such as "0644"; default: the guest agent\'s (usually 0644 less its umask).', validate: validPattern('fileMode') },
        },
      },
    },
    timeouts: timeoutsBlock(['create', 'delete'], { create: '30m', delete: '5m' }),
  },
} satisfies BlockSchema;

export const customizationResource = defineResource<Cloudlet, typeof schema>({
  typeName: 'cloudlet_customization',
  schema: { version: 0, block: schema },
  timeouts: { create: ms('30m'), delete: ms('5m') },

  modifyPlan(p) {
    // An imported customization (outputs null marks one) has no record of the commands that made it:
    // adopting the configured list is a state-only change, not a reason to rebuild the VM.
    if (p.prior && p.prior.commands === null && p.prior.outputs === null && known(p.config.commands)) {
      p.requiresReplace = p.requiresReplace.filter((x) => x[0] !== 'commands');
      p.planned.outputs = p.prior.outputs;
    }
  },

  async create(ctx, planned) {
    const c = ctx.provider;
    const name = planned.name;
    const baseId = planned.base_id;
    const op = await c.operation(`resume base for customization ${name}`, (api) => api.instances.create({ name, baseId }), ctx.signal);
    const inst = op.result.instance;
    const outputs: string[] = [];
    try {
      const timeout = planned.command_timeout_seconds ?? 300;
      for (const [i, f] of (planned.file ?? []).entries()) {
        const content = Buffer.from(f.content ?? '', 'utf8');
        if (content.length > RANGES.guestFileBytes.maximum)
          fail('File too large', `file ${i + 1} (${f.path}) has ${content.length} bytes; at most ${RANGES.guestFileBytes.maximum} go through the agent. Fetch larger data in a command.`, [
            'file',
            i,
            'content',
          ]);
        log('info', `customization ${name}: file ${f.path}`, { bytes: content.length });
        await c.call(
          `customization file ${f.path}`,
          (api) => api.instances.writeFile(inst.id, { path: f.path, contentBase64: content.toString('base64'), mode: f.mode ?? undefined }, { signal: ctx.signal }),
          {
            signal: ctx.signal,
          },
        );
      }
      for (const [i, cmd] of (planned.commands ?? []).entries()) {
        log('info', `customization ${name}: command ${i + 1}`, { command: cmd.length > 200 ? `${cmd.slice(0, 200)}…` : cmd });
        // The HTTP call waits as long as the command may run, and a little more for the answer to come back.
        const waitMs = (timeout + 30) * 1000;
        const r = await c.call(`customization command ${i + 1}`, (api) => api.instances.exec(inst.id, { command: cmd, timeoutSeconds: timeout }, { signal: ctx.signal, timeoutMs: waitMs }), {
          signal: ctx.signal,
        });
        if (r.code !== 0) {
          const err = r.stderr ? `\nIts standard error:\n${r.stderr.slice(-2000)}` : '';
          fail('Customization command failed', `Command ${i + 1} exited with status ${r.code} in ${name}:\n  ${cmd}\nIts output:\n${r.stdout.slice(-2000)}${err}\n\nThe VM was removed.`, [
            'commands',
            i,
          ]);
        }
        outputs.push(r.stdout);
      }
    } catch (e) {
      await c.find('remove the customization VM', (api) => api.instances.delete(inst.id), { changes: true }).catch(() => undefined);
      throw e;
    }
    return { id: inst.id, outputs, state: inst.state, cloudlet: c.id };
  },

  async read(ctx, state) {
    const i = await ctx.provider.instance(state.id!, ctx.signal);
    return i ? { name: i.name, base_id: i.baseId, state: i.state, cloudlet: ctx.provider.id } : null;
  },

  async delete(ctx, state) {
    const id = state.id!;
    await ctx.provider.find('delete customization VM', (api) => api.instances.delete(id, { signal: ctx.signal }), { signal: ctx.signal, changes: true });
  },

  async importState(ctx, id) {
    const i = await ctx.provider.find('read instance', (api) => api.instances.get(id, { signal: ctx.signal }), { signal: ctx.signal });
    if (!i) fail('Cannot import cloudlet_customization', `The cloudlet ${ctx.provider.id} has no instance ${id}.`);
    return { id: i.id, name: i.name, base_id: i.baseId, commands: null, command_timeout_seconds: 300, outputs: null, state: i.state, cloudlet: ctx.provider.id };
  },
});
