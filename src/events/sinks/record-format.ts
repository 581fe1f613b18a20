/**
 * `format: native | ocsf` for any sink: the object a sink puts on the wire
 * for one event — the cordon event itself, or its OCSF shape.
 */
import { toOcsf } from '../ocsf.js';
import type { SinkFormat } from '../sink-config.js';
import type { CordonEvent } from '../types.js';

export function formatRecord(event: CordonEvent, format: SinkFormat, version: string): object {
  return format === 'ocsf' ? toOcsf(event, version) : event;
}
