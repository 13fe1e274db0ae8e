export * from './job-metrics.js';
export * from './metrics-server.js';
export * from './registry.js';
