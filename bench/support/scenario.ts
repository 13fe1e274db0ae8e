/** What a scenario file exports. Every file in bench/scenarios/ with a `scenario` export is run. */
import type { Portkey } from './portkey.js';
import type { ScenarioResult } from './report.js';

export interface BenchContext {
  /** Portkey's gateway, started once for the whole run (or why it is unavailable). */
  portkey(): Promise<Portkey | { unavailable: string }>;
  /** `--quick`: smaller runs (for developing the bench); figures are then only indicative. */
  quick: boolean;
  /** `--profile`: run the services under `node --cpu-prof` where a scenario supports it. */
  profile: boolean;
  log(msg: string): void;
}

export type ScenarioBody = Omit<ScenarioResult, 'scenario' | 'title' | 'date' | 'durationS' | 'machine'>;

export interface Scenario {
  name: string;
  title: string;
  /** Position in `npm run bench` (ascending). */
  order: number;
  /** False: only run when named (`npm run bench -- <name>`). */
  inSuite?: boolean;
  run(ctx: BenchContext): Promise<ScenarioBody>;
}

/** A result saying why a scenario could not run (for example a route that does not exist yet). */
export const skipped = (why: string, setup: Record<string, unknown> = {}): ScenarioBody => ({
  setup,
  tables: [],
  targets: [],
  notes: [],
  charts: [],
  skipped: why,
});
