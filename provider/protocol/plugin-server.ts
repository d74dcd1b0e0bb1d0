// The go-plugin side of a Terraform provider process: check that Terraform started us, make a certificate for
// AutoMTLS, serve tfplugin6.Provider plus go-plugin's controller, stdio and health services over gRPC, and
// print the handshake line. Nothing here knows about cloudlets; `ProviderHandlers` is the seam.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { selfSignedCertificate } from './cert';
import { log } from './log';
import { Descriptor, Outgoing, ProtoCodec } from './protobuf';
export type { Outgoing } from './protobuf';
import type { ProviderRpcs } from './tfplugin6';

/** What Terraform sets to say "you are being run as my plugin". */
export const MAGIC_COOKIE_KEY = 'TF_PLUGIN_MAGIC_COOKIE';
export const MAGIC_COOKIE_VALUE = 'd602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2';
/** go-plugin's own protocol version, first field of the handshake line. */
const CORE_PROTOCOL_VERSION = 1;
const APP_PROTOCOL_VERSION = 6;
/** Schemas and states of many resources travel in one message; the gRPC default of 4 MiB is too small. */
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** A decoded request or response message, as @grpc/proto-loader represents it. */
export type Message = Record<string, unknown>;

/** One handler per tfplugin6.Provider RPC (types from tfplugin6.ts): the decoded request in, the response out. */
export type ProviderHandlers = { [K in keyof ProviderRpcs]: (req: ProviderRpcs[K]['request']) => Promise<Outgoing<ProviderRpcs[K]['response']>> };

export interface ServeOptions {
  /** Called once the controller asks us to stop, before the process exits. */
  onShutdown?: () => Promise<void>;
  /** The compiled protocol descriptor (default: proto/descriptor.json next to this file, as packaged). */
  descriptor?: Descriptor;
}

export interface RunningPlugin {
  server: grpc.Server;
  handshake: string;
  stop(): Promise<void>;
}

/** Where the compiled descriptor is: next to the bundle when packaged (build.ts writes it there). */
function loadDescriptor(): Descriptor {
  const file = path.join(__dirname, 'proto', 'descriptor.json');
  if (!fs.existsSync(file)) throw new Error(`cannot find the protocol descriptor ${file}; build the provider with npm run build`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Descriptor;
}

/** grpc-js service definitions for our services, with protobuf.ts doing the (de)serialization. */
export function loadServices(descriptor: Descriptor): Record<'provider' | 'controller' | 'stdio' | 'health', grpc.ServiceDefinition> {
  const codec = new ProtoCodec(descriptor);
  const service = (name: string): grpc.ServiceDefinition => {
    const methods = descriptor.services[name];
    if (!methods) throw new Error(`the protocol descriptor has no service ${name}`);
    const def: Record<string, grpc.MethodDefinition<Message, Message>> = {};
    for (const [m, x] of Object.entries(methods)) {
      def[m] = {
        path: `/${name}/${m}`,
        requestStream: x.clientStream,
        responseStream: x.serverStream,
        requestSerialize: (v: Message) => codec.encode(x.request, v),
        requestDeserialize: (b: Buffer) => codec.decode(x.request, b),
        responseSerialize: (v: Message) => codec.encode(x.response, v),
        responseDeserialize: (b: Buffer) => codec.decode(x.response, b),
        originalName: m,
      };
    }
    return def;
  };
  return { provider: service('tfplugin6.Provider'), controller: service('plugin.GRPCController'), stdio: service('plugin.GRPCStdio'), health: service('grpc.health.v1.Health') };
}

/** RPCs whose requests may carry credentials, so they are never captured. */
const NEVER_CAPTURED = new Set(['ConfigureProvider', 'ValidateProviderConfig']);

/**
 * With CLOUDLET_PROVIDER_CAPTURE_DIR set, appends each request Terraform sends to <dir>/<pid>.jsonl (bytes as
 * base64). A debugging aid, and how the codec tests get values exactly as Terraform encodes them.
 */
function capture(rpc: string, req: Message): void {
  const dir = process.env.CLOUDLET_PROVIDER_CAPTURE_DIR;
  if (!dir || NEVER_CAPTURED.has(rpc)) return;
  const line = JSON.stringify({ rpc, request: req }, (_k, v: unknown) => {
    const b = v as { type?: string; data?: number[] };
    return b && b.type === 'Buffer' && Array.isArray(b.data) ? { base64: Buffer.from(b.data).toString('base64') } : v;
  });
  fs.appendFileSync(path.join(dir, `${process.pid}.jsonl`), line + '\n');
}

/** Wraps an async handler as a unary gRPC handler; a throw becomes an INTERNAL status naming the RPC. */
function unary(rpc: string, fn: (req: Message) => Promise<Message>): grpc.handleUnaryCall<Message, Message> {
  return (call, cb) => {
    capture(rpc, call.request);
    fn(call.request).then(
      (res) => cb(null, res),
      (e: unknown) => {
        log('error', `${rpc} failed`, { error: String((e as Error)?.stack ?? e) });
        cb({ code: grpc.status.INTERNAL, details: `${rpc}: ${(e as Error)?.message ?? String(e)}` });
      },
    );
  };
}

/**
 * Serves a provider as Terraform expects and prints the handshake line on stdout. `env` is the process
 * environment Terraform gave us.
 */
export async function servePlugin(handlers: ProviderHandlers, env: NodeJS.ProcessEnv, opts: ServeOptions = {}): Promise<RunningPlugin> {
  const versions = (env.PLUGIN_PROTOCOL_VERSIONS ?? String(APP_PROTOCOL_VERSION)).split(',').map((v) => Number(v.trim()));
  if (!versions.includes(APP_PROTOCOL_VERSION)) {
    throw new Error(`Terraform offers plugin protocol versions ${versions.join(', ')}, but this provider speaks only ${APP_PROTOCOL_VERSION} (Terraform 1.0 or later)`);
  }
  const services = loadServices(opts.descriptor ?? loadDescriptor());
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES });

  const impl: grpc.UntypedServiceImplementation = {};
  // The descriptor and tfplugin6.ts come from the same .proto: each RPC's handler takes what the codec decodes.
  const byName = handlers as unknown as Record<string, ((req: Message) => Promise<Message>) | undefined>;
  for (const rpc of Object.keys(services.provider)) {
    const h = byName[rpc];
    impl[rpc] = unary(rpc, h ?? (async () => Promise.reject(new Error(`${rpc} is not implemented by this provider`))));
  }
  server.addService(services.provider, impl);

  let stopping: Promise<void> | null = null;
  const stdioStreams = new Set<grpc.ServerWritableStream<Message, Message>>();
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await opts.onShutdown?.().catch(() => undefined);
      for (const s of stdioStreams) s.end();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    })();
    return stopping;
  };

  server.addService(services.controller, {
    Shutdown: (_call: unknown, cb: grpc.sendUnaryData<Message>) => {
      cb(null, {});
      // Answer first: Terraform waits for the reply, then for the process to go away, and it does this for
      // every provider process of a run. A graceful drain waits on Terraform's side of the connection
      // (about 100 ms), so exit once the reply is out or after 30 ms, whichever comes first.
      setImmediate(() => {
        const exit = () => process.exit(0);
        setTimeout(exit, 30);
        void Promise.resolve(opts.onShutdown?.()).finally(() => server.tryShutdown(exit));
      });
    },
  });
  // We log to stderr directly (go-plugin reads it too), so the stdio stream stays open and quiet.
  server.addService(services.stdio, {
    StreamStdio: (call: grpc.ServerWritableStream<Message, Message>) => {
      stdioStreams.add(call);
      call.on('cancelled', () => stdioStreams.delete(call));
    },
  });
  server.addService(services.health, {
    Check: (call: grpc.ServerUnaryCall<Message, Message>, cb: grpc.sendUnaryData<Message>) => {
      const svc = typeof call.request.service === 'string' ? call.request.service : '';
      cb(null, { status: svc === '' || svc === 'plugin' ? 'SERVING' : 'SERVICE_UNKNOWN' });
    },
    Watch: (call: grpc.ServerWritableStream<Message, Message>) => {
      call.write({ status: 'SERVING' });
    },
  });

  // AutoMTLS: Terraform gives us its client certificate; we answer with ours in the handshake line, and each
  // side trusts exactly the other's.
  const clientCert = env.PLUGIN_CLIENT_CERT;
  let creds: grpc.ServerCredentials;
  let certField = '';
  if (clientCert) {
    const mine = selfSignedCertificate();
    creds = grpc.ServerCredentials.createSsl(Buffer.from(clientCert), [{ private_key: Buffer.from(mine.keyPem), cert_chain: Buffer.from(mine.certPem) }], true);
    certField = mine.certDer.toString('base64').replace(/=+$/, '');
  } else {
    creds = grpc.ServerCredentials.createInsecure();
  }
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  const handshake = `${CORE_PROTOCOL_VERSION}|${APP_PROTOCOL_VERSION}|tcp|127.0.0.1:${port}|grpc|${certField}`;
  return { server, handshake, stop };
}
