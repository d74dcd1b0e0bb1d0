// terraform-provider-cloudlet: the process Terraform starts. Checks it was started by Terraform, serves the
// provider over gRPC and prints the go-plugin handshake line. Bundled into one file by provider/build.ts.

import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, servePlugin } from './protocol/plugin-server';
import { log } from './protocol/log';
import { ProviderServer } from './framework/server';
import { cloudletProvider } from './cloudlet/provider';
import { PROVIDER_VERSION } from './version';

async function main(): Promise<void> {
  if (process.env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    process.stderr.write(
      'This is terraform-provider-cloudlet, a Terraform plugin: Terraform starts it, you do not run it directly.\n' +
        'Install it with `npm run build:provider` and point Terraform at the mirror with TF_CLI_CONFIG_FILE (see provider/README.md).\n',
    );
    process.exit(1);
  }
  // Terraform handles Ctrl-C itself and tells us through StopProvider; dying on SIGINT would lose work.
  process.on('SIGINT', () => undefined);
  const server = new ProviderServer(cloudletProvider());
  const plugin = await servePlugin(server.handlers(), process.env);
  process.stdout.write(plugin.handshake + '\n');
  log('debug', 'serving', { version: PROVIDER_VERSION, pid: process.pid });
}

main().catch((e: unknown) => {
  process.stderr.write(`terraform-provider-cloudlet: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
