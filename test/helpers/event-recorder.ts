/**
 * An in-memory EventEmitterPort for front-end tests: stamps events the way
 * the pipeline would (schema, ULID-like id, time, identity) and keeps them,
 * so a test can wait for "the event of this request" — proxy events are
 * emitted when a connection closes, i.e. after the client already saw its
 * answer.
 */
import { EventEmitter } from 'node:events';
import { EVENT_SCHEMA, type CordonEvent, type EventEmitterPort, type EventInput, type NetworkEvent } from '../../src/events/types.js';

export const WAIT_FOR_EVENT_MS = 5_000;

export class EventRecorder implements EventEmitterPort {
  readonly events: CordonEvent[] = [];
  readonly #bus = new EventEmitter();
  #seq = 0;

  emit(input: EventInput): CordonEvent {
    const event = {
      schema: EVENT_SCHEMA,
      id: `test-${++this.#seq}`,
      time: new Date().toISOString(),
      user: 'test-user',
      device: 'test-device',
      ...input,
    } as CordonEvent;
    this.events.push(event);
    this.#bus.emit('event', event);
    return event;
  }

  network(): NetworkEvent[] {
    return this.events.filter((e): e is NetworkEvent => e.kind === 'network');
  }

  clear(): void {
    this.events.length = 0;
  }

  /** Resolves with the first network event (already recorded or future) matching `pred`; rejects after `ms`. */
  waitFor(pred: (e: NetworkEvent) => boolean, ms = WAIT_FOR_EVENT_MS): Promise<NetworkEvent> {
    const found = this.network().find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onEvent = (e: CordonEvent) => {
        if (e.kind === 'network' && pred(e)) {
          clearTimeout(timer);
          this.#bus.removeListener('event', onEvent);
          resolve(e);
        }
      };
      const timer = setTimeout(() => {
        this.#bus.removeListener('event', onEvent);
        reject(new Error(`no matching network event within ${ms} ms; have: ${JSON.stringify(this.network().map((n) => [n.via, n.target.host, n.reason]))}`));
      }, ms);
      this.#bus.on('event', onEvent);
    });
  }
}
