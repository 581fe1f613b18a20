/**
 * The shape every benchmark module exports, so `bench/run.ts` can run them in
 * sequence and rewrite its own section of bench/RESULTS.md.
 */
export interface BenchResult {
  /** Section heading in RESULTS.md; must be stable across runs. */
  title: string;
  /** Markdown body: a table of figures, targets and pass/miss. */
  markdown: string;
}

export interface BenchModule {
  run(): Promise<BenchResult>;
}
