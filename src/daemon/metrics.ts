/**
 * Decision counters for status and /metrics. Sits between producers and the
 * event pipeline (it is an EventEmitterPort itself) so that every recorded
 * decision is counted exactly once, whatever front-end produced it.
 */
import type { CordonEvent, EventEmitterPort, EventInput } from '../events/types.js';
import type { Counters } from '../control/wire.js';

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
  readonly #counters: Counters = { allowed: 0, denied: 0, audited: 0, invalid: 0 };

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
      if (input.reason === 'invalid-target') this.#counters.invalid += 1;
      else if (input.decision === 'allow') this.#counters.allowed += 1;
      else if (input.enforced) this.#counters.denied += 1;
      else this.#counters.audited += 1;
    }
    return this.#inner.emit(input);
  }

  counters(): Counters {
    return { ...this.#counters };
  }

  decisions(): DecisionCount[] {
    return [...this.#byKey.values()].map((d) => ({ ...d }));
  }
}
