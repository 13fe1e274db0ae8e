import { collectDefaultMetrics, Registry } from 'prom-client';

/** One registry per process, labelled with the service, with Node's own process metrics. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}
