// The cloudlet provider: its configuration (which engine, which credentials, which peers) and the list of
// resources and data sources. Configuring connects to the engine once, so a wrong endpoint or token is one
// clear diagnostic on the provider block instead of one per resource.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EngineClient } from '../../engine/client/client';
import type { EngineInfo } from '../../engine/contract/schemas';
import { CloudletError } from '../../engine/errors';
import { Diagnostic, error, fail } from '../protocol/diagnostics';
import { log } from '../protocol/log';
import { BlockSchema } from '../framework/schema';
import { ProviderDefinition, defineProvider } from '../framework/server';
import { Cloudlet, engineDiagnostic } from './connection';
import { baseVmResource } from './resources/base-vm';
import { overlayResource } from './resources/overlay';
import { customizationResource } from './resources/customization';
import { instanceResource } from './resources/instance';
import { networkResource } from './resources/network';
import { engineDataSource } from './data-sources/engine';
import { baseVmDataSource } from './data-sources/base-vm';

export const TOKEN_ENV = 'CLOUDLET_TOKEN';
export const ENDPOINT_ENV = 'CLOUDLET_ENDPOINT';

const ENDPOINT_RE = /^(unix:\/.+|https?:\/\/[^/\s]+\/?)$/;

const schema = {
  description: 'Manages base VMs, VM overlays and synthesized VM instances on a cloudlet engine.',
  attributes: {
    endpoint: {
      type: 'string',
      optional: true,
      description: `The engine API: \`unix:/path/engine.sock\`, \`http://host:port\` or \`https://host:port\`. Default: the \`${ENDPOINT_ENV}\` environment variable, else the local embedded engine for \`state_dir\`, started in the background when it is not running.`,
      validate: (v) => (typeof v === 'string' && ENDPOINT_RE.test(v) ? undefined : `expected unix:/PATH, http://HOST:PORT or https://HOST:PORT, got ${JSON.stringify(v)}`),
    },
    state_dir: {
      type: 'string',
      optional: true,
      description:
        'State directory of the local embedded engine, used when no endpoint is set (it takes precedence over `CLOUDLET_ENDPOINT`). Default: `$CLOUDLET_STATE_DIR`, else `$XDG_DATA_HOME/cloudlet`, else `~/.local/share/cloudlet`.',
    },
    token: {
      type: 'string',
      optional: true,
      sensitive: true,
      description: `API token of a remote engine. Default: the \`${TOKEN_ENV}\` environment variable. The local embedded engine's token is read from its state directory.`,
    },
    ca_cert: {
      type: 'string',
      optional: true,
      description: "PEM of the certificate authority that signed an https engine's certificate, if it is not in the system store.",
    },
  },
  blocks: {
    peer: {
      nesting: 'list',
      block: {
        description:
          "Another cloudlet this one may take instances from (handoff): when an instance's state says it runs on a peer, this configuration reads it there and moves it here on apply. Give `endpoint` and `token`, or `state_dir` for a local engine on this host.",
        attributes: {
          name: { type: 'string', required: true, description: 'Name the peer is known by in this configuration.' },
          endpoint: {
            type: 'string',
            optional: true,
            description: "The peer engine API endpoint (`https://host:port`, `http://host:port` or `unix:/path`), as this provider and this cloudlet's engine can reach it.",
          },
          state_dir: { type: 'string', optional: true, description: 'State directory of a local embedded engine on this host (instead of `endpoint`; its token is read from there).' },
          token: {
            type: 'string',
            optional: true,
            sensitive: true,
            description:
              "API token of the peer engine. Used only to ask the peer for a short-lived handoff token for the one instance being moved; the peer token itself is not sent to this cloudlet's engine nor stored in state.",
          },
          ca_cert: { type: 'string', optional: true, description: "PEM of the CA for the peer's certificate." },
        },
      },
    },
  },
} satisfies BlockSchema;

export function cloudletProvider(): ProviderDefinition<Cloudlet> {
  return defineProvider<Cloudlet, typeof schema>({
    schema: { version: 0, block: schema },
    validate(config) {
      const out: Diagnostic[] = [];
      if (typeof config.endpoint === 'string' && typeof config.state_dir === 'string') {
        out.push(error('Conflicting provider settings', '`state_dir` selects the local embedded engine; it cannot be combined with `endpoint`.', ['state_dir']));
      }
      const peers = Array.isArray(config.peer) ? config.peer : [];
      const seen = new Set<string>();
      peers.forEach((p, i) => {
        if (typeof p.name === 'string') {
          if (seen.has(p.name)) out.push(error('Duplicate peer', `Another peer is already named ${JSON.stringify(p.name)}.`, ['peer', i, 'name']));
          seen.add(p.name);
        }
        if (typeof p.endpoint === 'string' && !ENDPOINT_RE.test(p.endpoint))
          out.push(error('Invalid value for endpoint', `expected https://HOST:PORT, http://HOST:PORT or unix:/PATH, got ${JSON.stringify(p.endpoint)}`, ['peer', i, 'endpoint']));
        const known = (v: unknown) => v !== null && v !== undefined;
        if (known(p.endpoint) && known(p.state_dir))
          out.push(error('Conflicting peer settings', 'Give a peer `endpoint` (with `token`) or `state_dir` (a local engine), not both.', ['peer', i, 'state_dir']));
        if (p.endpoint === null && p.state_dir === null) out.push(error('Missing peer location', `Peer ${JSON.stringify(p.name)} needs \`endpoint\` (with \`token\`) or \`state_dir\`.`, ['peer', i]));
        if (typeof p.endpoint === 'string' && p.token === null) out.push(error('Missing peer token', `Peer ${JSON.stringify(p.name)} at ${p.endpoint} needs its API \`token\`.`, ['peer', i, 'token']));
      });
      return out;
    },
    async configure(config, terraformVersion, signal) {
      // Loaded here, not at start-up: the HTTP client is most of the provider's load time, and Terraform
      // starts provider processes that only answer schema questions.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { EngineClient, connectLocal, defaultStateDir } = require('../../engine/client/client') as typeof import('../../engine/client/client');
      // Configuration beats the environment: a configured state_dir means the local engine even if
      // CLOUDLET_ENDPOINT is set.
      const endpoint = config.endpoint ?? (config.state_dir === null ? process.env[ENDPOINT_ENV] || null : null);
      let client: EngineClient;
      let shown: string;
      if (endpoint) {
        const token = config.token ?? process.env[TOKEN_ENV] ?? '';
        if (token === '') {
          fail(
            'Missing token',
            `The engine at ${endpoint} needs an API token: set \`token\` in the provider block or the ${TOKEN_ENV} environment variable (on the engine host it is in <state_dir>/token).`,
            ['token'],
          );
        }
        try {
          client = new EngineClient({ endpoint, token, ca: config.ca_cert ?? undefined, client: 'terraform' });
        } catch (e) {
          fail('Invalid value for endpoint', (e as Error).message, ['endpoint']);
        }
        shown = endpoint;
      } else {
        const stateDir = path.resolve(config.state_dir ?? defaultStateDir());
        try {
          const local = await connectLocal(stateDir, { signal });
          client = new EngineClient({ endpoint: local.endpoint, token: local.token, client: 'terraform' });
          shown = local.endpoint;
        } catch (e) {
          const err = e as CloudletError;
          fail(
            'Cannot start the local cloudlet engine',
            `${err.message}\n\nThe provider starts an engine for ${stateDir} when none is running; its log is ${path.join(stateDir, 'engine.log')}.${fs.existsSync(stateDir) ? '' : ' The directory does not exist yet and could not be used.'}`,
            ['state_dir'],
          );
        }
      }
      let info: EngineInfo;
      try {
        info = await client.engine.info({ signal, timeoutMs: 15000 });
      } catch (e) {
        await client.close().catch(() => undefined);
        const code = (e as CloudletError).code;
        throw engineDiagnostic(e, shown, code === 'UNAUTHORIZED' ? ['token'] : endpoint ? ['endpoint'] : ['state_dir']);
      }
      if (!info.cloudlet?.id) {
        await client.close().catch(() => undefined);
        fail('Engine too old', `The engine at ${shown} does not report a cloudlet id; upgrade it to the version this provider came with.`, endpoint ? ['endpoint'] : undefined);
      }
      log('info', 'configured', { endpoint: shown, cloudlet: info.cloudlet.id, engine_version: info.engine?.version, terraform_version: terraformVersion });
      const peers = (config.peer ?? []).map((p) => ({
        name: p.name,
        endpoint: p.endpoint ?? undefined,
        stateDir: p.state_dir !== null ? path.resolve(p.state_dir) : undefined,
        token: p.token ?? undefined,
        ca: p.ca_cert ?? undefined,
      }));
      return new Cloudlet(client, shown, info.cloudlet.id, info.cloudlet.name, peers);
    },
    resources: [baseVmResource, overlayResource, customizationResource, instanceResource, networkResource],
    dataSources: [engineDataSource, baseVmDataSource],
  });
}
