/**
 * Decision counts by kind, verdict, layer and enforcement for `/metrics`.
 * Sits between producers and the event pipeline (it is an EventEmitterPort
 * itself) so that every recorded decision is counted exactly once, whatever
 * front-end produced it. (The status totals come from the pipeline.)
 */
import type { CordonEvent, EventEmitterPort, EventInput } from '../events/types.js';

export interface DecisionCount {
  kind: string;
  verdict: string;
  layer: string;
  enforced: boolean;
  count: number;
}

export class CountingEmitter implements EventEmitterPort {
  readonly #inner: EventEmitterPort;
  readonly #byKey = new Map<string, DecisionCount>();

  constructor(inner: EventEmitterPort) {
    this.#inner = inner;
  }

  emit(input: EventInput): CordonEvent {
    if (input.kind === 'network' || input.kind === 'mount') {
      const layer = input.rule?.layer ?? 'builtin';
      const key = `${input.kind}|${input.decision}|${layer}|${input.enforced}`;
      const entry = this.#byKey.get(key);
      if (entry === undefined) {
        this.#byKey.set(key, { kind: input.kind, verdict: input.decision, layer, enforced: input.enforced, count: 1 });
      } else {
        entry.count += 1;
      }
    }
    return this.#inner.emit(input);
  }

  decisions(): DecisionCount[] {
    return [...this.#byKey.values()].map((d) => ({ ...d }));
  }
}
