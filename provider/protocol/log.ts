// Logging for a plugin process. go-plugin reads the plugin's stderr line by line and forwards lines that are
// hclog JSON objects into Terraform's own log at their level (TF_LOG=DEBUG shows them), so every line here is
// one JSON object. Never log secrets: callers pass redacted values.

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

const threshold: number = ORDER[(process.env.TF_LOG_PROVIDER_CLOUDLET?.toLowerCase() as LogLevel) ?? 'trace'] ?? 0;

export function log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
  if (ORDER[level] < threshold) return;
  const line = JSON.stringify({ '@level': level, '@message': message, '@module': 'provider.cloudlet', '@timestamp': new Date().toISOString(), ...fields });
  process.stderr.write(line + '\n');
}
