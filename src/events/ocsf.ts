/**
 * OCSF shaping (`format: ocsf` on any sink), so a SIEM that speaks the Open
 * Cybersecurity Schema Framework gets cordon decisions in its own classes:
 *
 *   network → Network Activity (class_uid 4001, category 4): Open / Close /
 *             Refuse / Fail, dst_endpoint from the target, traffic and
 *             duration when the connection closed.
 *   mount   → File System Activity (class_uid 1001, category 1), activity
 *             12 Mount, file = the real path.
 *   policy, daemon → Base Event (class_uid 0, activity 99 Other).
 *
 * Every decision carries the security-control outcome: action_id (1 Allowed /
 * 2 Denied) and disposition_id (1 Allowed, 2 Blocked, or 15 Detected for a
 * deny recorded in audit mode), the policy {name, uid: digest, version:
 * revision} and the matching rule as firewall_rule. type_uid is
 * class_uid * 100 + activity_id; time is epoch milliseconds. Shapes follow
 * OCSF 1.1.0 (required: activity_id, category_uid, class_uid, type_uid,
 * severity_id, time, metadata{version, product}; File System Activity also
 * actor, device, file). cordon-only fields go under `unmapped`.
 */
import { OCSF_SEVERITY, eventSeverity } from './severity.js';
import type { CordonEvent, MountEvent, NetworkEvent } from './types.js';
import { ulidTimeMs } from './ulid.js';

export const OCSF_SCHEMA_VERSION = '1.1.0';
export const PRODUCT_NAME = 'cordon';

export const OCSF_CLASS = {
  BASE_EVENT: 0,
  FILE_SYSTEM_ACTIVITY: 1001,
  NETWORK_ACTIVITY: 4001,
} as const;

const NETWORK_ACTIVITY = { OPEN: 1, CLOSE: 2, FAIL: 4, REFUSE: 5 } as const;
const NETWORK_ACTIVITY_NAME: Record<number, string> = { 1: 'Open', 2: 'Close', 4: 'Fail', 5: 'Refuse' };
const FILE_ACTIVITY_MOUNT = 12;
const ACTIVITY_OTHER = 99;
const ACTION = { ALLOWED: 1, DENIED: 2 } as const;
const DISPOSITION = { ALLOWED: 1, BLOCKED: 2, DETECTED: 15 } as const;
const DISPOSITION_NAME: Record<number, string> = { 1: 'Allowed', 2: 'Blocked', 15: 'Detected' };
const STATUS = { SUCCESS: 1, FAILURE: 2 } as const;
const DIRECTION_OUTBOUND = 2;
const PROTOCOL_TCP = 6;

export type OcsfEvent = Record<string, unknown>;

type DecisionEvent = NetworkEvent | MountEvent;

function timeMs(event: CordonEvent): number {
  const parsed = Date.parse(event.time);
  if (Number.isFinite(parsed)) return parsed;
  return ulidTimeMs(event.id);
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

function securityControl(event: DecisionEvent): Record<string, unknown> {
  const allowed = event.decision === 'allow';
  const actionId = allowed || !event.enforced ? ACTION.ALLOWED : ACTION.DENIED;
  const dispositionId = allowed ? DISPOSITION.ALLOWED : event.enforced ? DISPOSITION.BLOCKED : DISPOSITION.DETECTED;
  const out: Record<string, unknown> = {
    action_id: actionId,
    action: actionId === ACTION.ALLOWED ? 'Allowed' : 'Denied',
    disposition_id: dispositionId,
    disposition: DISPOSITION_NAME[dispositionId],
  };
  if (event.rule !== null) {
    out['firewall_rule'] = {
      name: event.rule.name,
      uid: `${event.rule.layer}/${event.rule.name}`,
      category: event.rule.layer,
      condition: event.rule.resource,
    };
  }
  return out;
}

function common(event: CordonEvent, version: string, classUid: number, categoryUid: number, activityId: number): OcsfEvent {
  const severity = OCSF_SEVERITY[eventSeverity(event)];
  const out: OcsfEvent = {
    class_uid: classUid,
    category_uid: categoryUid,
    activity_id: activityId,
    type_uid: classUid * 100 + activityId,
    severity_id: severity.id,
    severity: severity.caption,
    time: timeMs(event),
    metadata: {
      version: OCSF_SCHEMA_VERSION,
      uid: event.id,
      log_name: event.schema,
      product: { name: PRODUCT_NAME, vendor_name: PRODUCT_NAME, version },
      profiles: ['security_control', 'host'],
    },
    device: { hostname: event.device, name: event.device, type_id: 0, type: 'Unknown' },
  };
  if (event.policy !== null) {
    out['policy'] = {
      name: event.policy.name,
      uid: event.policy.digest,
      version: event.policy.revision === null ? event.policy.digest : String(event.policy.revision),
    };
  }
  return out;
}

function actor(event: DecisionEvent): Record<string, unknown> {
  return {
    user: { name: event.user },
    session: { uid: event.session.id },
  };
}

function decisionMessage(event: DecisionEvent, what: string): string {
  const verb = event.decision === 'allow' ? 'allowed' : event.enforced ? 'denied' : 'would deny (audit)';
  const rule = event.rule === null ? event.reason : `${event.reason} ${event.rule.layer}/${event.rule.name}`;
  return `${verb} ${what} (${rule})`;
}

function networkActivityId(event: NetworkEvent): number {
  if (event.decision === 'deny' && event.enforced) return NETWORK_ACTIVITY.REFUSE;
  if (event.error !== undefined) return NETWORK_ACTIVITY.FAIL;
  if (event.duration_ms !== undefined || event.bytes_up !== undefined || event.bytes_down !== undefined) return NETWORK_ACTIVITY.CLOSE;
  return NETWORK_ACTIVITY.OPEN;
}

function network(event: NetworkEvent, version: string): OcsfEvent {
  const activityId = networkActivityId(event);
  const out = common(event, version, OCSF_CLASS.NETWORK_ACTIVITY, 4, activityId);
  const dst: Record<string, unknown> = { port: event.target.port };
  if (isIpLiteral(event.target.host)) dst['ip'] = event.target.host;
  else dst['hostname'] = event.target.host;
  if (event.target.address !== null) dst['ip'] = event.target.address;
  Object.assign(out, {
    activity_name: NETWORK_ACTIVITY_NAME[activityId],
    category_name: 'Network Activity',
    class_name: 'Network Activity',
    message: decisionMessage(event, `${event.via} ${event.target.host}:${event.target.port}`),
    status_id: activityId === NETWORK_ACTIVITY.REFUSE || activityId === NETWORK_ACTIVITY.FAIL ? STATUS.FAILURE : STATUS.SUCCESS,
    status_detail: event.reason,
    ...securityControl(event),
    actor: actor(event),
    src_endpoint: { hostname: event.device },
    dst_endpoint: dst,
    connection_info: { direction_id: DIRECTION_OUTBOUND, direction: 'Outbound', protocol_num: PROTOCOL_TCP, protocol_name: 'tcp' },
  });
  if (event.bytes_up !== undefined || event.bytes_down !== undefined) {
    const up = event.bytes_up ?? 0;
    const down = event.bytes_down ?? 0;
    out['traffic'] = { bytes_out: up, bytes_in: down, bytes: up + down };
  }
  if (event.duration_ms !== undefined) out['duration'] = event.duration_ms;
  out['unmapped'] = {
    cordon: {
      mode: event.mode,
      enforced: event.enforced,
      reason: event.reason,
      profile: event.profile,
      via: event.via,
      labels: event.session.labels,
      addresses: event.target.addresses,
      ...(event.http !== undefined ? { http: event.http } : {}),
      ...(event.error !== undefined ? { error: event.error } : {}),
    },
  };
  return out;
}

function baseName(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path;
  const i = trimmed.lastIndexOf('/');
  return i >= 0 && trimmed.length > 1 ? trimmed.slice(i + 1) : trimmed;
}

function mount(event: MountEvent, version: string): OcsfEvent {
  const out = common(event, version, OCSF_CLASS.FILE_SYSTEM_ACTIVITY, 1, FILE_ACTIVITY_MOUNT);
  Object.assign(out, {
    activity_name: 'Mount',
    category_name: 'System Activity',
    class_name: 'File System Activity',
    message: decisionMessage(event, `${event.mount.access} mount of ${event.mount.path}`),
    status_id: event.decision === 'deny' && event.enforced ? STATUS.FAILURE : STATUS.SUCCESS,
    status_detail: event.reason,
    ...securityControl(event),
    actor: actor(event),
    file: { name: baseName(event.mount.path), path: event.mount.path, type_id: 0, type: 'Unknown' },
    unmapped: {
      cordon: {
        mode: event.mode,
        enforced: event.enforced,
        reason: event.reason,
        profile: event.profile,
        labels: event.session.labels,
        requested: event.mount.requested,
        access: event.mount.access,
        effective: event.mount.effective,
        masks: event.mount.masks,
      },
    },
  });
  return out;
}

function lifeEvent(event: Extract<CordonEvent, { kind: 'policy' | 'daemon' }>, version: string): OcsfEvent {
  const out = common(event, version, OCSF_CLASS.BASE_EVENT, 0, ACTIVITY_OTHER);
  Object.assign(out, {
    activity_name: `${event.kind} ${event.action}`,
    category_name: 'Uncategorized',
    class_name: 'Base Event',
    message: event.message,
    unmapped: {
      cordon: {
        kind: event.kind,
        action: event.action,
        ...(event.kind === 'policy' ? { source: event.source } : {}),
        ...(event.details !== undefined ? { details: event.details } : {}),
      },
    },
  });
  return out;
}

/** The OCSF object for one cordon event; `version` is cordon's version (metadata.product.version). */
export function toOcsf(event: CordonEvent, version: string): OcsfEvent {
  switch (event.kind) {
    case 'network':
      return network(event, version);
    case 'mount':
      return mount(event, version);
    case 'policy':
    case 'daemon':
      return lifeEvent(event, version);
  }
}
