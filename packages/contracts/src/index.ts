export * from './characters.js';
export * from './chat.js';
export * from './errors.js';
export * from './events.js';
export * from './jobs.js';
export * from './openai.js';
