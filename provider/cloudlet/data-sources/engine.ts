// data "cloudlet_engine": what the configured cloudlet is and what it can do (its extensions), so a
// configuration can check capabilities or show the hypervisor it will run on.

import { BlockSchema } from '../../framework/schema';
import { defineDataSource } from '../../framework/server';
import { Cloudlet } from '../connection';

const schema = {
  description: 'Facts about the cloudlet engine the provider is configured for.',
  attributes: {
    id: { type: 'string', computed: true, description: 'The cloudlet id.' },
    name: { type: 'string', computed: true, description: 'The cloudlet name.' },
    endpoint: { type: 'string', computed: true, description: 'The endpoint the provider reached it at.' },
    version: { type: 'string', computed: true, description: 'Engine version.' },
    hypervisor: { type: 'string', computed: true, description: '`kvm` where hardware virtualization is available, else `tcg` (emulation).' },
    extensions: {
      type: { list: 'string' },
      computed: true,
      description: 'Capabilities: `overlay-format-N`, `compression-zstd`, `base-archive-N`, `synthesis-from-url`, `overlay-upload`, `apply-while-downloading`, and `handoff` where supported.',
    },
    handoff: { type: 'bool', computed: true, description: 'Whether this engine can hand instances off to other cloudlets.' },
    cpus: { type: 'number', computed: true, description: 'CPUs of the cloudlet host.' },
    memory_bytes: { type: 'number', computed: true, description: 'Memory of the cloudlet host.' },
    disk_free_bytes: { type: 'number', computed: true, description: "Free space in the engine's state directory." },
    instances: { type: 'number', computed: true, description: 'Number of instances on the cloudlet.' },
  },
} satisfies BlockSchema;

export const engineDataSource = defineDataSource<Cloudlet, typeof schema>({
  typeName: 'cloudlet_engine',
  schema: { version: 0, block: schema },
  async read(ctx) {
    const i = await ctx.provider.call('read engine info', (api) => api.engine.info({ signal: ctx.signal }), { signal: ctx.signal });
    const x = i.extensions;
    const extensions = [
      ...x.overlayFormats.map((f) => `overlay-format-${f}`),
      ...x.compressions.map((c) => `compression-${c}`),
      ...x.baseArchiveFormats.map((f) => `base-archive-${f}`),
      ...Object.entries(x.synthesis)
        .filter(([, on]) => on)
        .map(([k]) => (k === 'fromUrl' ? 'synthesis-from-url' : k === 'upload' ? 'overlay-upload' : k === 'checkWhileDownloading' ? 'check-while-downloading' : k)),
      ...(x.handoff ? ['handoff'] : []),
    ];
    return {
      id: i.cloudlet.id,
      name: i.cloudlet.name,
      endpoint: ctx.provider.endpoint,
      version: i.engine.version,
      hypervisor: i.hypervisor.type,
      extensions,
      handoff: x.handoff,
      cpus: i.capacity.cpus,
      memory_bytes: i.capacity.memoryBytes,
      disk_free_bytes: i.capacity.diskFreeBytes,
      instances: i.counts.instances,
    };
  },
});
