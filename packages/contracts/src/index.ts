export * from './chat.js';
export * from './errors.js';
export * from './events.js';
export * from './jobs.js';
