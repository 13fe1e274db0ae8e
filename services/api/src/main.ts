import { loadConfigOrExit } from '@gateway/config';
import { createLogger } from '@gateway/logger';
import { buildApp } from './app.js';
import { createDeps } from './deps.js';
import { activeStreams } from './routes/chat-jobs.js';

const config = loadConfigOrExit();
const log = createLogger({ service: 'api', level: config.logLevel, pretty: config.logPretty });
const deps = createDeps(config, log);
const app = await buildApp(deps);
await app.listen({ port: config.http.port, host: config.http.host });
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : config.http.port;
log.info({ port, backend: config.llm.service, baseUrl: config.llm.baseUrl }, 'api ready');

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) process.exit(1);
  stopping = true;
  log.info({ signal, sseClients: activeStreams.size }, 'stopping');
  // Clients reconnect (to another instance) and resume from their last event id.
  activeStreams.endAll(1_000);
  const timer = setTimeout(() => {
    log.warn('shutdown took too long; exiting');
    process.exit(1);
  }, 10_000);
  timer.unref();
  await app.close();
  await deps.close();
  log.info('stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
